import { registerSink } from '@iotsim/core';

/** A first-party sink type: the package that provides it and how to load it. */
export interface FirstPartySink {
  /** Exported class name. */
  className: string;
  /** npm package. */
  packageName: string;
  /** Static loader, so bundlers and `tsc` see every first-party package. */
  load: () => Promise<Record<string, unknown>>;
  /** One line for `list-sinks`. */
  summary: string;
}

type Module = Promise<Record<string, unknown>>;

/** The first-party sink types, keyed by the type name used in YAML and `--sink`. */
export const FIRST_PARTY_SINKS: Readonly<Record<string, FirstPartySink>> = {
  console: {
    className: 'ConsoleSink',
    packageName: '@iotsim/core',
    load: () => import('@iotsim/core') as Module,
    summary: 'text or JSON lines on stdout',
  },
  callback: {
    className: 'CallbackSink',
    packageName: '@iotsim/core',
    load: () => import('@iotsim/core') as Module,
    summary: 'your function (TypeScript API only)',
  },
  kafka: {
    className: 'KafkaSink',
    packageName: '@iotsim/sink-kafka',
    load: () => import('@iotsim/sink-kafka') as unknown as Module,
    summary: 'Apache Kafka topics (kafkajs)',
  },
  file: {
    className: 'FileSink',
    packageName: '@iotsim/sink-file',
    load: () => import('@iotsim/sink-file') as unknown as Module,
    summary: 'CSV, JSON Lines or Parquet files with rotation',
  },
  database: {
    className: 'DatabaseSink',
    packageName: '@iotsim/sink-database',
    load: () => import('@iotsim/sink-database') as unknown as Module,
    summary: 'PostgreSQL (COPY) or SQLite tables',
  },
  webhook: {
    className: 'WebhookSink',
    packageName: '@iotsim/sink-webhook',
    load: () => import('@iotsim/sink-webhook') as unknown as Module,
    summary: 'HTTP POST of JSON arrays (got)',
  },
  delta: {
    className: 'DeltaSink',
    packageName: '@iotsim/sink-delta',
    load: () => import('@iotsim/sink-delta') as unknown as Module,
    summary: 'Delta Lake tables, local or on S3',
  },
  azure_iot: {
    className: 'AzureIoTSink',
    packageName: '@iotsim/sink-azure-iot',
    load: () => import('@iotsim/sink-azure-iot') as unknown as Module,
    summary: 'Azure IoT Hub device-to-cloud messages',
  },
  aws_iot: {
    className: 'AWSIoTSink',
    packageName: '@iotsim/sink-aws-iot',
    load: () => import('@iotsim/sink-aws-iot') as unknown as Module,
    summary: 'AWS IoT Core Publish API',
  },
  zerobus: {
    className: 'ZerobusSink',
    packageName: '@iotsim/sink-zerobus',
    load: () => import('@iotsim/sink-zerobus') as unknown as Module,
    summary: 'Databricks Zerobus Ingest (gRPC)',
  },
};

/** Registers every first-party type with the core registry (loading nothing). */
export function registerFirstPartySinks(): void {
  for (const [type, s] of Object.entries(FIRST_PARTY_SINKS)) {
    if (type === 'callback') continue;
    registerSink(type, s.load, s.className, s.packageName);
  }
}

/** True when the package of a sink type can be resolved (without loading it). */
export function isInstalled(packageName: string): boolean {
  try {
    import.meta.resolve(packageName);
    return true;
  } catch {
    return false;
  }
}
