import { ConfigError, SinkWriteError, type ConfigIssue } from './errors.js';
import type { RecordBatch } from './frame.js';
import { bufferMemoryProblem } from './memory.js';
import { silentLogger, type Logger } from './logger.js';
import type { SensorRecord } from './models.js';
import { closestNames } from './errors.js';
import {
  field,
  fromYamlKeys,
  opt,
  v,
  type InputOf,
  issuesToYaml,
  optionNames,
  parseOptions,
  toCamelCase,
  toSnakeCase,
  type OptionSchema,
  type OutputOf,
  type StandardSchemaLike,
} from './schema.js';
import type { SinkShard, SinkStream } from './shard.js';

/** What a runner does when its buffer is full. YAML spells these `drop_oldest`, `drop_newest`, `block`. */
export type BackpressurePolicy = 'drop-oldest' | 'drop-newest' | 'block';

const POLICIES: Readonly<Record<string, BackpressurePolicy>> = {
  drop_oldest: 'drop-oldest',
  drop_newest: 'drop-newest',
  block: 'block',
  'drop-oldest': 'drop-oldest',
  'drop-newest': 'drop-newest',
};

const backpressure = field<BackpressurePolicy | 'drop_oldest' | 'drop_newest', BackpressurePolicy>(
  { enum: Object.keys(POLICIES) },
  (value, problem) => {
    const p = typeof value === 'string' ? POLICIES[value] : undefined;
    if (!p) problem(`must be drop_oldest, drop_newest or block, got ${JSON.stringify(value)}`);
    return p ?? 'drop-oldest';
  },
);

/** The schema of the throughput options (in YAML they sit in the sink's mapping, snake_case). */
export const ThroughputSchema = opt.resolve(
  opt.object({
    /** Flushes per second; `null` flushes on every generator frame. Default null. */
    rateHz: v.nullish(opt.number({ above: 0 }), null),
    /** Flush as soon as this many records are buffered; no write holds more. Default 100. */
    batchSize: v.nullish(opt.number({ min: 1, integer: true }), 100),
    /** Records held before backpressure applies. Default 50,000. */
    maxBufferSize: v.nullish(opt.number({ min: 1, integer: true }), 50_000),
    /** Policy when the buffer is full. Default `drop-oldest`. */
    backpressure: v.nullish(backpressure, 'drop-oldest'),
    /** Retries of a failed write before the batch counts as failed. Default 3. */
    retryCount: v.nullish(opt.number({ min: 0, integer: true }), 3),
    /** Seconds between retries. Default 1.0. */
    retryDelayS: v.nullish(opt.number({ min: 0 }), 1.0),
    /** Writes in flight at once, up to what the sink's capabilities allow. Default: the sink's `defaultInFlight`. */
    maxInFlight: v.nullish(opt.number({ min: 1, integer: true })),
  }),
  (t): ResolvedThroughput =>
    Object.freeze({ ...t, rateHz: t.rateHz ?? null, maxInFlight: t.maxInFlight ?? undefined }),
  (t, problem) => {
    if (typeof t.maxBufferSize !== 'number') return;
    const tooBig = bufferMemoryProblem(t.maxBufferSize, 'maxBufferSize');
    if (tooBig) problem(tooBig.message, [tooBig.path]);
  },
);

/** Per-sink throughput control, given beside a sink (`sim.addSink(sink, throughput)`), never inside its options. */
export type ThroughputOptions = InputOf<typeof ThroughputSchema>;

/** Throughput options with every default filled in (`maxInFlight` undefined: the sink's default). */
export interface ResolvedThroughput {
  readonly rateHz: number | null;
  readonly batchSize: number;
  readonly maxBufferSize: number;
  readonly backpressure: BackpressurePolicy;
  readonly retryCount: number;
  readonly retryDelayS: number;
  readonly maxInFlight: number | undefined;
}

/** The original's throughput defaults. */
export const THROUGHPUT_DEFAULTS: ResolvedThroughput = Object.freeze({
  rateHz: null,
  batchSize: 100,
  maxBufferSize: 50_000,
  backpressure: 'drop-oldest',
  retryCount: 3,
  retryDelayS: 1.0,
  maxInFlight: undefined,
});

/** The throughput option names (camelCase); in YAML they sit in the sink's mapping as snake_case. */
export const THROUGHPUT_KEYS: readonly (keyof ThroughputOptions)[] = [
  'rateHz',
  'batchSize',
  'maxBufferSize',
  'backpressure',
  'retryCount',
  'retryDelayS',
  'maxInFlight',
];

/** Validates throughput options; throws one ConfigError listing every problem (unknown keys too). */
export function resolveThroughput(options: ThroughputOptions = {}, path = ''): ResolvedThroughput {
  return parseOptions(ThroughputSchema, options, { prefix: path });
}

/**
 * Splits one YAML sink mapping (snake_case keys, `type` removed) into the throughput options
 * (camelCase) and the sink's own options (keys as written: `fromConfig` maps them, and names an
 * unknown one as the user wrote it).
 */
export function splitSinkConfig(config: Readonly<Record<string, unknown>>): {
  throughput: ThroughputOptions;
  own: Record<string, unknown>;
} {
  const throughput: Record<string, unknown> = {};
  const own: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    const key = toCamelCase(k);
    if ((THROUGHPUT_KEYS as readonly string[]).includes(key)) throughput[key] = v;
    else own[k] = v;
  }
  return { throughput: throughput as ThroughputOptions, own };
}

/**
 * What a sink can do, declared on its class (`static override readonly capabilities = {...}`).
 * The runner reads it; a sink never vetoes runner settings in its constructor.
 */
export interface SinkCapabilities {
  /** Batches land in the order they were written. Default true. */
  readonly ordered: boolean;
  /** The most writes the runner may have in flight at once; above 1 the sink keeps their order itself. Default 1. */
  readonly maxInFlight: number;
  /** Writes in flight when the throughput options do not say. Default 1. */
  readonly defaultInFlight: number;
  /** A retry with the same `batchId` never duplicates what an earlier attempt delivered. Default false. */
  readonly idempotentRetry: boolean;
  /** One per run (a single file, the console): with worker threads it gets every worker's frames. Default false. */
  readonly singleton: boolean;
}

/**
 * Why `maxInFlight` writes at once are more than a sink of `type` with these capabilities allows,
 * or undefined. Checked where the throughput is given (YAML, `addSink`) and again by the runner.
 */
export function inFlightProblem(
  capabilities: SinkCapabilities,
  type: string,
  maxInFlight: number | undefined,
): string | undefined {
  if (maxInFlight === undefined || maxInFlight <= capabilities.maxInFlight) return undefined;
  return `must be <= ${capabilities.maxInFlight} for the ${type} sink${capabilities.maxInFlight === 1 ? ' (it writes one batch at a time, in order)' : ''}, got ${maxInFlight}`;
}

/** Capabilities of a sink that declares none. */
export const DEFAULT_CAPABILITIES: SinkCapabilities = Object.freeze({
  ordered: true,
  maxInFlight: 1,
  defaultInFlight: 1,
  idempotentRetry: false,
  singleton: false,
});

/** One write: a batch of at most `batchSize` records, retried with the same `batchId`. */
export interface WriteRequest {
  /** Identifies the batch: every attempt at it (and at its undelivered rest) has the same id. */
  readonly batchId: number;
  /** 0 for the first attempt, then 1, 2, … for retries. */
  readonly attempt: number;
  /** Number of records. */
  readonly size: number;
  /** The records as row views (built on first use). */
  readonly records: readonly SensorRecord[];
  /** The same readings as columns of frames, for encoders that never need row objects. */
  readonly batch: RecordBatch;
  /** Fires at the shutdown deadline (or on abort): give up and return. */
  readonly signal: AbortSignal;
}

/** What a write may say instead of throwing: how many records at the front of the batch landed. */
export interface WriteResult {
  /** Records delivered (from the front of the batch); the runner retries the rest. Default: all. */
  readonly delivered?: number;
  /**
   * Of the delivered records, how many no reader can read yet (rows in an open Parquet file before
   * its footer): they count as buffered until the sink settles them with `confirmHeld` (readable)
   * or `loseHeld` (the file is lost: failed, with the error). Default 0.
   */
  readonly held?: number;
}

/** What a runner hands a sink before connecting it. */
export interface SinkContext {
  /** Where the sink reports what it does. */
  readonly logger: Logger;
  /** The runner's throughput settings (with `maxInFlight` resolved), for sinks whose options depend on them. */
  readonly throughput: ResolvedThroughput & { readonly maxInFlight: number };
  /** The sink's name in this run (`kafka`, `file#2`). */
  readonly name: string;
  /** Settles records a write reported as `held` (see `Sink.confirmHeld` / `Sink.loseHeld`). */
  readonly settleHeld?: (n: number, outcome: 'delivered' | 'failed', error?: unknown) => void;
  /**
   * Where this sink instance runs in a sharded or multi-threaded run: file names carry `shard.id`,
   * client ids and app ids derive from `shard.clientId`. Undefined for one process on one thread.
   */
  readonly shard?: SinkShard;
  /**
   * Set when a rerun hands this sink the same readings (a backfill fed by one generator): with
   * `RecordBatch.position` the sink can skip what an earlier attempt delivered. Undefined otherwise.
   */
  readonly stream?: SinkStream;
}

/** Brand that marks a sink class, so a sink from another copy of @iotsim/core is still recognised. */
export const SINK_BRAND: unique symbol = Symbol.for('iotsim.sink') as never;

/** True when `value` is a sink instance (brand check, not `instanceof`). */
export function isSink(value: unknown): value is Sink {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value.constructor as { [SINK_BRAND]?: unknown } | undefined)?.[SINK_BRAND] === true
  );
}

/** True when `value` is a sink class. */
export function isSinkClass(value: unknown): value is SinkClassLike {
  return typeof value === 'function' && (value as { [SINK_BRAND]?: unknown })[SINK_BRAND] === true;
}

/** What the registry needs of a sink class. */
export interface SinkClassLike {
  readonly name: string;
  readonly type: string;
  readonly capabilities: SinkCapabilities;
  /** Option names the class accepts (camelCase), when it declares them. */
  readonly optionKeys?: readonly string[];
  /** The schema of its options, when it declares one. */
  readonly schema?: OptionSchema | StandardSchemaLike;
  fromConfig(config: Readonly<Record<string, unknown>>, path?: string): Sink;
}

/**
 * A destination for sensor records. Subclasses set `static type`, implement `connect` and
 * `write`, and override `flush` and `close` when they hold resources. A `SinkRunner` drives it:
 * `connect` once, then `write` requests (one at a time unless the capabilities allow more), then
 * `flush` and `close`. `close()` never runs while a write is in flight unless the request's
 * signal fired first.
 *
 * `write` resolves when the batch is delivered (or says how much was, `{ delivered }`) or throws;
 * throw a `SinkWriteError` to say the failure is not retryable, to ask for a delay, or to report
 * a partial delivery. A sink takes only its own options; throughput is given beside it.
 *
 * @example
 * class StatsSink extends Sink {
 *   static override readonly type = 'stats';
 *   async connect() {}
 *   async write({ records }: WriteRequest) { for (const r of records) count(r); }
 * }
 */
export abstract class Sink {
  /** The sink type name used in YAML and the registry, e.g. `kafka`. */
  static readonly type: string = 'sink';
  /** What the runner may do with this sink. */
  static readonly capabilities: SinkCapabilities = DEFAULT_CAPABILITIES;
  /** Option names the sink accepts (camelCase); when declared, the loader rejects any other key. */
  static readonly optionKeys?: readonly string[];
  /**
   * The schema of the sink's options (`opt.object({...})`, or any Standard Schema): the constructor
   * validates with it (`parseSinkOptions`), YAML keys are mapped with it, `iotsim schema` prints it.
   */
  static readonly schema?: OptionSchema | StandardSchemaLike;
  static readonly [SINK_BRAND] = true;

  /** Set by the runner before `connect`. */
  protected logger: Logger = silentLogger;
  /** Set by the runner before `connect` in a sharded or multi-threaded run (see `SinkContext.shard`). */
  protected shard: SinkShard | undefined;
  private settleHeldRecords: SinkContext['settleHeld'];
  private readonly ownSecrets = new Set<string>();
  private readonly counters = new Map<string, number>();

  /** The sink type, from the class. */
  get type(): string {
    return (this.constructor as typeof Sink).type;
  }

  /** The capabilities, from the class. */
  get capabilities(): SinkCapabilities {
    return { ...DEFAULT_CAPABILITIES, ...(this.constructor as typeof Sink).capabilities };
  }

  /** Called by the runner before `connect`. */
  attach(context: SinkContext): void {
    this.logger = context.logger;
    this.settleHeldRecords = context.settleHeld;
    this.shard = context.shard;
  }

  /** Opens connections, files or streams. Throw `SinkConnectError` or `ConfigError` on failure. */
  abstract connect(): Promise<void>;

  /** Delivers one batch, in order. */
  abstract write(request: WriteRequest): Promise<WriteResult | void>;

  /** Makes everything written so far durable or visible. */
  async flush(): Promise<void> {}

  /** Releases resources. Called once, after the last write and flush. */
  async close(): Promise<void> {}

  /** A one-line description for logs; must not contain secrets. */
  describe(): string {
    return this.type;
  }

  /** Credentials this sink was given: the run redacts them from every log line, error and summary. */
  get secrets(): readonly string[] {
    return [...this.ownSecrets];
  }

  /** The sink's own counters (Delta commits, Kafka requests …), shown in the run summary. */
  sinkMetrics(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.counters);
  }

  /** Marks a credential so the run redacts it everywhere. */
  protected registerSecret(value: string | undefined | null): void {
    if (typeof value === 'string' && value.length >= 3) this.ownSecrets.add(value);
  }

  /** `n` records that writes reported as `held` became readable: they count as delivered. */
  protected confirmHeld(n: number): void {
    if (n > 0) this.settleHeldRecords?.(n, 'delivered');
  }

  /** `n` held records can never be read (their file is lost): they count as failed, with `error`. */
  protected loseHeld(n: number, error: unknown): void {
    if (n > 0) this.settleHeldRecords?.(n, 'failed', error);
  }

  /** The error a write throws when the sink is not connected: never retried (nothing to retry on). */
  protected notConnected(): SinkWriteError {
    return new SinkWriteError(`${this.type} sink: write before connect`, { retryable: false });
  }

  /** Adds to one of the sink's own counters. */
  protected count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /**
   * Builds the sink from its YAML options (snake_case keys; `type` and the throughput keys
   * removed). Issue paths are reported with the YAML key names under `path`, e.g.
   * `sinks[1].topic`. Keys the sink does not know are rejected with a did-you-mean: against
   * `optionKeys` when the class declares them, else against the keys its constructor read.
   */
  static fromConfig<T extends Sink>(
    this: (new (options: never) => T) & {
      optionKeys?: readonly string[];
      schema?: OptionSchema | StandardSchemaLike;
    },
    config: Readonly<Record<string, unknown>>,
    path = '',
  ): T {
    if (this.schema) {
      // Throughput keys are not the sink's: named in camelCase, the constructor says where they go.
      const own = Object.fromEntries(
        Object.entries(config).map(([k, v]) =>
          (THROUGHPUT_KEYS as readonly string[]).includes(toCamelCase(k))
            ? [toCamelCase(k), v]
            : [k, v],
        ),
      );
      try {
        return new this(fromYamlKeys(this.schema, own) as never);
      } catch (err) {
        if (err instanceof ConfigError)
          throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
        throw err;
      }
    }
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) options[toCamelCase(k)] = v;
    const read = new Set<string>();
    const tracked = new Proxy(options, {
      get(target, key, receiver) {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      has(target, key) {
        if (typeof key === 'string') read.add(key);
        return Reflect.has(target, key);
      },
    });
    let sink: T;
    try {
      sink = new this(tracked as never);
    } catch (err) {
      if (err instanceof ConfigError)
        throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
      throw err;
    }
    // A constructor that lists its options (Object.keys, spread) has read all of them.
    const known = this.optionKeys ?? (this.schema && optionNames(this.schema)) ?? [...read];
    const issues: ConfigIssue[] = [];
    for (const key of Object.keys(options)) {
      if (known.includes(key) || options[key] === undefined) continue;
      const hint = closestNames(key, [...known, ...THROUGHPUT_KEYS], 1);
      issues.push({
        path: `${path}${toSnakeCase(key)}`,
        message: `unknown option${hint.length ? ` (did you mean '${toSnakeCase(hint[0]!)}'?)` : ''}`,
      });
    }
    if (issues.length) throw new ConfigError(issues);
    return sink;
  }
}

/**
 * Validates a sink's own options with its schema and returns the resolved options, or throws one
 * ConfigError listing every problem (unknown keys with a did-you-mean). A throughput key given
 * here is reported with where it belongs.
 */
export function parseSinkOptions<S extends OptionSchema<unknown, unknown> | StandardSchemaLike>(
  schema: S,
  options: object | undefined,
): OutputOf<S> {
  type O = OutputOf<S>;
  const own: Record<string, unknown> = { ...(options ?? {}) };
  const issues: ConfigIssue[] = [];
  for (const key of THROUGHPUT_KEYS) {
    if (own[key] === undefined) continue;
    delete own[key];
    issues.push({
      path: key,
      message: `is a throughput option: give it beside the sink (sim.addSink(sink, { ${key}: … })), not in the sink's options`,
      raw: {
        segments: [{ key, kind: 'option' }],
        template: `is a throughput option: give it beside the sink (sim.addSink(sink, { ${key}: … })), not in the sink's options`,
      },
    });
  }
  let out: O | undefined;
  try {
    out = parseOptions(schema, own, { suggest: THROUGHPUT_KEYS });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  if (issues.length) throw new ConfigError(issues);
  return out as O;
}
