import { ConfigError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import type { SensorRecord } from './models.js';
import { issuesToYaml, OptionReader, toCamelCase } from './option-reader.js';

/** What a runner does when its buffer is full. YAML spells these `drop_oldest`, `drop_newest`, `block`. */
export type BackpressurePolicy = 'drop-oldest' | 'drop-newest' | 'block';

const POLICIES: Readonly<Record<string, BackpressurePolicy>> = {
  drop_oldest: 'drop-oldest',
  drop_newest: 'drop-newest',
  block: 'block',
  'drop-oldest': 'drop-oldest',
  'drop-newest': 'drop-newest',
};

/** Per-sink throughput control, common to every sink. */
export interface ThroughputOptions {
  /** Flushes per second; `null` flushes on every generator tick. Default null. */
  rateHz?: number | null;
  /** Flush as soon as this many records are buffered. Default 100. */
  batchSize?: number;
  /** Records held before backpressure applies. Default 50,000. */
  maxBufferSize?: number;
  /** Policy when the buffer is full. Default `drop-oldest`. */
  backpressure?: BackpressurePolicy | 'drop_oldest' | 'drop_newest';
  /** Retries of a failed write before the batch counts as failed. Default 3. */
  retryCount?: number;
  /** Seconds between retries. Default 1.0. */
  retryDelayS?: number;
  /** How many batches may be written at once (only for sinks that keep order themselves). Default 1. */
  maxInFlight?: number;
}

/** Throughput options with every default filled in. */
export interface ResolvedThroughput {
  readonly rateHz: number | null;
  readonly batchSize: number;
  readonly maxBufferSize: number;
  readonly backpressure: BackpressurePolicy;
  readonly retryCount: number;
  readonly retryDelayS: number;
  readonly maxInFlight: number;
}

/** The original's throughput defaults. */
export const THROUGHPUT_DEFAULTS: ResolvedThroughput = Object.freeze({
  rateHz: null,
  batchSize: 100,
  maxBufferSize: 50_000,
  backpressure: 'drop-oldest',
  retryCount: 3,
  retryDelayS: 1.0,
  maxInFlight: 1,
});

/** Reads the throughput options through `r`, reporting problems there. */
export function readThroughput(r: OptionReader): ResolvedThroughput {
  const d = THROUGHPUT_DEFAULTS;
  const rate = r.raw('rateHz');
  const rateHz = rate === null || rate === undefined ? null : r.number('rateHz', 1, { above: 0 });
  const batchSize = r.number('batchSize', d.batchSize, { min: 1, integer: true });
  const maxBufferSize = r.number('maxBufferSize', d.maxBufferSize, { min: 1, integer: true });
  const bp = r.raw('backpressure');
  let backpressure = d.backpressure;
  if (bp !== undefined) {
    const p = typeof bp === 'string' ? POLICIES[bp] : undefined;
    if (p) backpressure = p;
    else
      r.problem(
        'backpressure',
        `must be drop_oldest, drop_newest or block, got ${JSON.stringify(bp)}`,
      );
  }
  return {
    rateHz,
    batchSize,
    maxBufferSize: Math.max(maxBufferSize, 1),
    backpressure,
    retryCount: r.number('retryCount', d.retryCount, { min: 0, integer: true }),
    retryDelayS: r.number('retryDelayS', d.retryDelayS, { min: 0 }),
    maxInFlight: r.number('maxInFlight', d.maxInFlight, { min: 1, integer: true }),
  };
}

/**
 * Validates a sink's options in one pass: the throughput options plus the sink's own, read by
 * `readOwn`. Throws one ConfigError listing every problem, including unknown keys.
 */
export function parseSinkOptions<T>(
  options: object,
  readOwn: (r: OptionReader) => T,
): { throughput: ResolvedThroughput; own: T } {
  const r = new OptionReader(options);
  const throughput = readThroughput(r);
  const own = readOwn(r);
  r.finish();
  return { throughput, own };
}

/** What a runner hands a sink before connecting it. */
export interface SinkContext {
  /** Where the sink reports what it does. */
  readonly logger: Logger;
}

/**
 * A destination for sensor records. Subclasses implement `connect` and `write`, and override
 * `flush` and `close` when they hold resources. A `SinkRunner` drives it: `connect` once, then
 * ordered `write` calls (one batch at a time unless `maxInFlight` > 1), then `flush` and `close`.
 *
 * `write` either resolves (the whole batch is delivered) or throws; throw a `SinkWriteError` to
 * say the failure is not retryable, to ask for a delay, or to report a partial delivery.
 *
 * @example
 * class StatsSink extends Sink {
 *   readonly type = 'stats';
 *   async connect() {}
 *   async write(records: readonly SensorRecord[]) { for (const r of records) count(r); }
 * }
 */
export abstract class Sink {
  /** The sink type name used in YAML and the registry, e.g. `kafka`. */
  abstract readonly type: string;
  /** Validated throughput settings for this sink's runner. */
  readonly throughput: ResolvedThroughput;
  /** Set by the runner before `connect`. */
  protected logger: Logger = silentLogger;

  constructor(options: ThroughputOptions = {}) {
    const r = new OptionReader(options);
    this.throughput = readThroughput(r);
    if (r.issues.length) throw new ConfigError(r.issues);
  }

  /** Called by the runner before `connect`. */
  attach(context: SinkContext): void {
    this.logger = context.logger;
  }

  /** Opens connections, files or streams. Throw `SinkConnectError` or `ConfigError` on failure. */
  abstract connect(): Promise<void>;

  /** Delivers one batch, in order. */
  abstract write(records: readonly SensorRecord[]): Promise<void>;

  /** Makes everything written so far durable or visible. */
  async flush(): Promise<void> {}

  /** Releases resources. Called once, after the last write and flush. */
  async close(): Promise<void> {}

  /** A one-line description for logs; must not contain secrets. */
  describe(): string {
    return this.type;
  }

  /**
   * Builds the sink from a YAML mapping (snake_case keys, `type` removed). Issue paths are
   * reported with the YAML key names under `path`, e.g. `sinks[1].rate_hz`.
   */
  static fromConfig<T extends Sink>(
    this: new (options: never) => T,
    config: Readonly<Record<string, unknown>>,
    path = '',
  ): T {
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) options[toCamelCase(k)] = v;
    try {
      return new this(options as never);
    } catch (err) {
      if (err instanceof ConfigError)
        throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
      throw err;
    }
  }
}
