import type { ChannelTableData, FrameMessage } from '../frame.js';
import type { SensorGroup } from '../generator.js';
import type { AnomalyKind } from '../sensor.js';
import type { LatencyStats, SinkMetrics } from '../runner.js';
import type { ShardSpec } from '../shard.js';

/**
 * How a worker thread rebuilds a sink: its YAML mapping (type, snake_case options, throughput keys
 * beside them), made again through a registry inside the worker.
 */
export interface SinkSpec {
  /** The sink type (`kafka`, `file`, or a registered type a package name resolves). */
  readonly type: string;
  /** The rest of the sink's YAML mapping (its options and throughput keys), structured-clone friendly. */
  readonly options: Readonly<Record<string, unknown>>;
  /** The YAML path of the entry (`sinks[1].`), for messages. */
  readonly path: string;
  /** Folders its package resolves from (the registry's). Default: the cwd. */
  readonly resolveFrom?: readonly string[];
  /** A type registered on the run's registry by module name or path (not first-party): registered again in the worker. */
  readonly module?: {
    readonly specifier: string;
    readonly exportName: string;
    readonly packageName?: string;
  };
}

/** What a worker thread is given (its `workerData`). */
export interface WorkerSetup {
  /**
   * `generator`: owns a sub-shard of the devices and its sinks. `sinks`: the sink thread, no
   * generator: runs the run's singleton sinks (one instance per process, e.g. SQLite) over every
   * generator worker's frames, off the main thread's clock.
   */
  readonly role: 'generator' | 'sinks';
  /** This worker's position, 0-based. */
  readonly worker: number;
  /** Worker threads of the shard. */
  readonly workers: number;
  /** The process's shard (the worker generates the sub-shard `worker` of it). */
  readonly shard: ShardSpec;
  readonly seed: number;
  readonly devicesPerIndustry: number;
  /** The sensor groups, in the order the main thread added them. */
  readonly groups: readonly SensorGroup[];
  readonly rateHz: number;
  /** A backfill range run by the worker's own clock; undefined: the main thread sends ticks. */
  readonly backfill: { readonly start: number; readonly end: number } | undefined;
  /** The sinks every worker runs, with their display names. */
  readonly sinks: readonly { readonly spec: SinkSpec; readonly name: string }[];
  /** Folders package names resolve from. */
  readonly resolveFrom: readonly string[];
  /** Credentials to redact. */
  readonly secrets: readonly string[];
  /** True when main-thread sinks need this worker's frames. */
  readonly forward: boolean;
  readonly shutdownTimeoutS: number;
}

/** An error that crossed a thread: its class name, message and (for a ConfigError) issues. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly issues?: readonly { readonly path: string; readonly message: string }[];
  readonly sinkType?: string;
}

/** Main thread → worker. */
export type ToWorker =
  | { readonly kind: 'tick'; readonly tick0: number; readonly timestamps: Float64Array }
  | { readonly kind: 'go' }
  | { readonly kind: 'table'; readonly worker: number; readonly table: ChannelTableData }
  | { readonly kind: 'frame'; readonly worker: number; readonly frame: FrameMessage }
  | { readonly kind: 'ack' }
  | { readonly kind: 'stop' }
  | {
      readonly kind: 'control';
      readonly op: 'inject' | 'clear' | 'override';
      /** Channel positions in the worker's own table. */
      readonly channels: readonly number[];
      readonly durationS?: number;
      readonly anomaly?: AnomalyKind;
      readonly value?: number | null;
    }
  | { readonly kind: 'abort'; readonly reason: string };

/** Worker → main thread. */
export type FromWorker =
  | { readonly kind: 'started'; readonly table: ChannelTableData }
  | { readonly kind: 'failed'; readonly errors: readonly WireError[] }
  | { readonly kind: 'frame'; readonly frame: FrameMessage }
  | { readonly kind: 'ack' }
  | {
      readonly kind: 'log';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly message: string;
    }
  | {
      readonly kind: 'progress';
      readonly ticks: number;
      readonly last: number | undefined;
      readonly metrics: SinkMetrics[];
    }
  | {
      readonly kind: 'done';
      readonly ticks: number;
      readonly first: number | undefined;
      readonly last: number | undefined;
      readonly metrics: SinkMetrics[];
    };

/** One sink's counters over every worker that ran it: sums, the worst latency figures, the first error. */
export function mergeMetrics(parts: readonly SinkMetrics[], name: string): SinkMetrics {
  const first = parts[0]!;
  const sum = (f: (m: SinkMetrics) => number): number => parts.reduce((n, m) => n + f(m), 0);
  const own: Record<string, number> = {};
  for (const m of parts)
    for (const [k, v] of Object.entries(m.sinkMetrics)) own[k] = (own[k] ?? 0) + v;
  const count = sum((m) => m.writeLatencyMs.count);
  const latency: LatencyStats = {
    count,
    mean: count ? sum((m) => m.writeLatencyMs.mean * m.writeLatencyMs.count) / count : 0,
    p50: Math.max(...parts.map((m) => m.writeLatencyMs.p50)),
    p99: Math.max(...parts.map((m) => m.writeLatencyMs.p99)),
    max: Math.max(...parts.map((m) => m.writeLatencyMs.max)),
  };
  return {
    name,
    type: first.type,
    generated: sum((m) => m.generated),
    delivered: sum((m) => m.delivered),
    dropped: {
      oldest: sum((m) => m.dropped.oldest),
      newest: sum((m) => m.dropped.newest),
      total: sum((m) => m.dropped.total),
    },
    failed: sum((m) => m.failed),
    retries: sum((m) => m.retries),
    buffered: sum((m) => m.buffered),
    held: sum((m) => m.held),
    batches: sum((m) => m.batches),
    failedBatches: sum((m) => m.failedBatches),
    lastError: parts.find((m) => m.lastError !== undefined)?.lastError,
    writeLatencyMs: latency,
    sinkMetrics: own,
  };
}
