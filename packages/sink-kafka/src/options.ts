import type { OptionReader } from '@iotsim/core';
import { DEFAULT_CLIENT_ID } from './internal/package-info.js';

/** Compression codecs a Kafka record batch can use. */
export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
/** A Kafka compression codec; `none` sends uncompressed batches. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Record fields that can be the message key. */
export const KEY_FIELDS = ['sensor_name', 'industry', 'device_id'] as const;
/** A record field used as the message key. */
export type KeyField = (typeof KEY_FIELDS)[number];

/** How the client talks to the brokers, as Kafka's `security.protocol`. */
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
/** Kafka's `security.protocol`. */
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

/** SASL mechanisms the sink supports. */
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
/** Kafka's `sasl.mechanism`. */
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** TLS settings for `SSL` and `SASL_SSL` (paths to PEM files). */
export interface KafkaSslOptions {
  /** CA certificate(s) that sign the brokers' certificates (PEM file path). Default: Node's CA store. */
  ca?: string;
  /** Client certificate for mutual TLS (PEM file path). */
  cert?: string;
  /** Client private key for mutual TLS (PEM file path, unencrypted). */
  key?: string;
  /** Reject brokers whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
}

/**
 * Options of KafkaSink (YAML keys are the snake_case forms, e.g. `bootstrap_servers`). Throughput
 * (`batchSize`, `rateHz`, `maxInFlight` …) is given beside the sink, not here.
 */
export interface KafkaSinkOptions {
  /** Brokers to bootstrap from: `host:port`, comma-separated or a list. Default `localhost:9092`. */
  bootstrapServers?: string | readonly string[];
  /** Topic to produce to (auto-created if the broker allows it). Default `iot-sensor-data`. */
  topic?: string;
  /** Batch compression: `snappy`, `gzip`, `lz4`, `zstd` or `none` (null = none). Default `snappy`. */
  compression?: Compression | null;
  /** Record field used as the message key; null sends messages without a key. Default `sensor_name`. */
  keyField?: KeyField | null;
  /** Acknowledgements: `all` (-1), `1` (leader only) or `0` (none). Default `all`. */
  acks?: 'all' | '1' | '0' | '-1' | -1 | 0 | 1;
  /** `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`. Default `PLAINTEXT`. */
  securityProtocol?: SecurityProtocol;
  /** `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with SASL_*. */
  saslMechanism?: SaslMechanism;
  /** SASL user name; required with SASL_*. */
  saslUsername?: string;
  /** SASL password; required with SASL_* (never logged). */
  saslPassword?: string;
  /** Client id the brokers see in their logs and quotas. Default `iotsim-sink-kafka-<version>` (from package.json). */
  clientId?: string;
  /** Idempotent producer: no duplicates from producer retries; needs acks `all` and the throughput option maxInFlight 1. Default false. */
  idempotent?: boolean;
  /** TLS settings for SSL / SASL_SSL. */
  ssl?: KafkaSslOptions;
  /** Most bytes (key + value) per produce request; a larger batch goes out as several, in order. Default 1,000,000. */
  maxRequestSize?: number;
}

/** KafkaSink options after validation, defaults filled in. */
export interface ResolvedKafkaOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly compression: Compression;
  readonly keyField: KeyField | null;
  /** -1 (all), 0 or 1, as kafkajs wants it. */
  readonly acks: -1 | 0 | 1;
  readonly securityProtocol: SecurityProtocol;
  readonly sasl:
    | { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string }
    | undefined;
  readonly clientId: string;
  readonly idempotent: boolean;
  readonly ssl: Readonly<KafkaSslOptions>;
  readonly maxRequestSize: number;
  /** The credentials among the options (the SASL password), for the sink to register as secrets. */
  readonly secrets: readonly string[];
}

const DEFAULT_PORT = 9092;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

function readBrokers(r: OptionReader): string[] {
  const raw = r.raw('bootstrapServers');
  let list: string[];
  if (raw === undefined || raw === null) list = ['localhost:9092'];
  else if (typeof raw === 'string') list = raw.split(',');
  else if (Array.isArray(raw) && raw.every((x) => typeof x === 'string'))
    list = raw.flatMap((x: string) => x.split(','));
  else {
    r.problem(
      'bootstrapServers',
      `must be 'host:port', a comma-separated string or a list of them`,
    );
    return [];
  }
  const brokers: string[] = [];
  for (const entry of list.map((s) => s.trim()).filter((s) => s !== '')) {
    // host, host:port, [v6]:port
    const m = /^(\[[^\]]+\]|[^:[\]\s]+)(?::(\d+))?$/.exec(entry);
    const port = m?.[2] === undefined ? DEFAULT_PORT : Number(m[2]);
    if (!m || !(port >= 1 && port <= 65535)) {
      r.problem('bootstrapServers', `'${entry}' is not host:port`);
      continue;
    }
    brokers.push(`${m[1]}:${port}`);
  }
  if (brokers.length === 0 && !r.issues.some((i) => i.path.endsWith('bootstrapServers')))
    r.problem('bootstrapServers', 'needs at least one broker, e.g. localhost:9092');
  return brokers;
}

function readCompression(r: OptionReader): Compression {
  const v = r.raw('compression');
  if (v === undefined) return 'snappy';
  if (v === null || v === false) return 'none';
  const s = typeof v === 'string' ? v.toLowerCase() : v;
  if ((COMPRESSIONS as readonly unknown[]).includes(s)) return s as Compression;
  r.problem(
    'compression',
    `must be one of ${COMPRESSIONS.join(', ')} (or null), got ${JSON.stringify(v)}`,
  );
  return 'snappy';
}

function readKeyField(r: OptionReader): KeyField | null {
  const v = r.raw('keyField');
  if (v === undefined) return 'sensor_name';
  if (v === null || v === 'none') return null;
  if ((KEY_FIELDS as readonly unknown[]).includes(v)) return v as KeyField;
  r.problem(
    'keyField',
    `must be one of ${KEY_FIELDS.join(', ')} or null (no key), got ${JSON.stringify(v)}`,
  );
  return 'sensor_name';
}

function readAcks(r: OptionReader): -1 | 0 | 1 {
  const v = r.raw('acks');
  if (v === undefined || v === null) return -1;
  const s = String(v).toLowerCase();
  if (s === 'all' || s === '-1') return -1;
  if (s === '1') return 1;
  if (s === '0') return 0;
  r.problem('acks', `must be 'all' (or -1), 1 or 0, got ${JSON.stringify(v)}`);
  return -1;
}

function readUpper<T extends string>(
  r: OptionReader,
  key: string,
  allowed: readonly T[],
): T | undefined {
  const v = r.raw(key);
  if (v === undefined || v === null) return undefined;
  // SCRAM_SHA_256 and scram-sha-256 both mean SCRAM-SHA-256; sasl-ssl means SASL_SSL.
  const s =
    typeof v === 'string'
      ? key === 'saslMechanism'
        ? v.toUpperCase().replace(/_/g, '-')
        : v.toUpperCase().replace(/-/g, '_')
      : v;
  if ((allowed as readonly unknown[]).includes(s)) return s as T;
  r.problem(key, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return undefined;
}

function readSsl(r: OptionReader): KafkaSslOptions {
  const v = r.raw('ssl');
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    r.problem(
      'ssl',
      'must be a mapping with ca, cert, key (PEM file paths) and rejectUnauthorized',
    );
    return {};
  }
  const out: KafkaSslOptions = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const key = k === 'reject_unauthorized' ? 'rejectUnauthorized' : k;
    if (key === 'ca' || key === 'cert' || key === 'key') {
      if (typeof x === 'string' && x.trim() !== '') out[key] = x;
      else r.problem(`ssl.${k}`, `must be the path of a PEM file, got ${JSON.stringify(x)}`);
    } else if (key === 'rejectUnauthorized') {
      if (typeof x === 'boolean') out.rejectUnauthorized = x;
      else r.problem(`ssl.${k}`, `must be true or false, got ${JSON.stringify(x)}`);
    } else {
      r.problem(`ssl.${k}`, 'unknown option (known: ca, cert, key, rejectUnauthorized)');
    }
  }
  if ((out.cert === undefined) !== (out.key === undefined))
    r.problem('ssl', 'cert and key go together (mutual TLS needs both)');
  return out;
}

/** Reads and cross-checks every KafkaSink option; problems are reported with their option path. */
export function readKafkaOptions(r: OptionReader): ResolvedKafkaOptions {
  const brokers = readBrokers(r);
  const topic = r.string('topic', 'iot-sensor-data');
  if (!TOPIC_NAME.test(topic))
    r.problem('topic', `'${topic}' is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)`);
  const compression = readCompression(r);
  const keyField = readKeyField(r);
  const acks = readAcks(r);
  const securityProtocol = readUpper(r, 'securityProtocol', SECURITY_PROTOCOLS) ?? 'PLAINTEXT';
  const mechanism = readUpper(r, 'saslMechanism', SASL_MECHANISMS);
  const username = r.string('saslUsername');
  const password = r.string('saslPassword');
  const clientId = r.string('clientId', DEFAULT_CLIENT_ID);
  if (clientId.trim() === '') r.problem('clientId', 'must not be empty');
  const idempotent = r.boolean('idempotent', false);
  const ssl = readSsl(r);
  const maxRequestSize = r.number('maxRequestSize', 1_000_000, { min: 1024, integer: true });

  const usesSasl = securityProtocol.startsWith('SASL_');
  const usesTls = securityProtocol.endsWith('SSL');
  const saslGiven = r.raw('saslMechanism') !== undefined;
  if (usesSasl) {
    const need = `required with securityProtocol ${securityProtocol}`;
    if (!saslGiven) r.problem('saslMechanism', `${need}: one of ${SASL_MECHANISMS.join(', ')}`);
    if (!username) r.problem('saslUsername', need);
    if (!password) r.problem('saslPassword', need);
  } else {
    const only = `is only used with securityProtocol SASL_PLAINTEXT or SASL_SSL (it is ${securityProtocol})`;
    if (saslGiven) r.problem('saslMechanism', only);
    if (username !== undefined) r.problem('saslUsername', only);
    if (password !== undefined) r.problem('saslPassword', only);
  }
  if (!usesTls && Object.keys(ssl).length > 0)
    r.problem(
      'ssl',
      `is only used with securityProtocol SSL or SASL_SSL (it is ${securityProtocol})`,
    );
  // An idempotent producer also needs maxInFlight 1: a throughput setting, checked when the runner attaches.
  if (idempotent && acks !== -1)
    r.problem('acks', `must be 'all' for an idempotent producer, got ${acks}`);

  return {
    brokers,
    topic,
    compression,
    keyField,
    acks,
    securityProtocol,
    sasl:
      usesSasl && mechanism && username && password ? { mechanism, username, password } : undefined,
    clientId,
    idempotent,
    ssl,
    maxRequestSize,
    secrets: password ? [password] : [],
  };
}
