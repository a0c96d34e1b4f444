import { dirname, resolve } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { IndustryName } from './catalog.js';
import {
  BackfillClock,
  RealTimeClock,
  type Clock,
  type ClockMode,
  type ClockStep,
} from './clock.js';
import { checkConfig, checkConfigFile, type SimulatorConfig } from './config.js';
import { loadSensorCsv } from './csv.js';
import {
  ConfigError,
  IotSimError,
  PluginStartError,
  UnknownIndustryError,
  type ConfigIssue,
} from './errors.js';
import { Frame } from './frame.js';
import { DataGenerator, randomSeed, type Model, type ModelControl } from './generator.js';
import { LiveState } from './live-state.js';
import { silentLogger, type Logger } from './logger.js';
import type { ResolvedSensorConfig, SensorConfig } from './models.js';
import { issuesToYaml } from './schema.js';
import { FIRST_PARTY_SINKS, Registry } from './registry.js';
import { SinkRunner, type SinkMetrics } from './runner.js';
import { Redactor } from './secrets.js';
import { isServer, type Server } from './server.js';
import { backfillStream, sinkShard, WHOLE_RUN, type ShardSpec, type SinkStream } from './shard.js';
import {
  inFlightProblem,
  isSink,
  resolveThroughput,
  type ResolvedThroughput,
  type Sink,
  type ThroughputOptions,
} from './sink.js';
import { CallbackSink, type RecordCallback } from './sinks/callback-sink.js';
import { parseTimePoint } from './time.js';
import type { SinkSpec } from './workers/protocol.js';
import type { WorkerPool } from './workers/pool.js';

export type { SinkSpec } from './workers/protocol.js';

/** Options of a Simulator. */
export interface SimulatorOptions {
  /** Built-in industries to simulate. */
  industries?: readonly IndustryName[];
  /** Extra sensors, under `customIndustry`. */
  customSensors?: readonly SensorConfig[];
  /** Industry label of `customSensors`. Default `custom`. */
  customIndustry?: string;
  /** Generator ticks per second (each tick samples every sensor once). Default 1.0. */
  updateRateHz?: number;
  /** Seed of every random stream; the same seed gives the same values. Default: random (reported in the summary). */
  seed?: number;
  /** Backfill start: a Date, epoch seconds, ISO 8601 text, or relative like `-7d`. Without it the clock is real time. */
  start?: Date | number | string;
  /** Backfill end (exclusive). Default: now, when `start` is set. */
  end?: Date | number | string;
  /** Devices per industry (a fleet). Default 1. */
  devicesPerIndustry?: number;
  /** Where the simulator and its sinks log. Default: silent. */
  logger?: Logger;
  /** Seconds `stop()` waits for sinks to drain before counting the rest as failed. Default 30. */
  shutdownTimeoutS?: number;
  /** Simulated seconds per wall-clock second (accelerated real time: 60 plays an hour in a minute). Default 1. */
  speed?: number;
  /**
   * Worker threads: each owns a share of the devices end to end (its own generator and sink
   * instances, rebuilt from the sinks' specs); singleton sinks, sink instances and callbacks stay
   * on this thread and get every worker's frames. Default 1 (no worker threads).
   */
  workers?: number;
  /** Generate only shard `index` of `count` of the devices (a stable hash of industry and device index). Default: all. */
  shard?: ShardSpec;
  /**
   * Real time: the wall-clock time of the first tick (Date, epoch seconds or ISO 8601), so that
   * shards started apart share one tick range. Default: now.
   */
  startAt?: Date | number | string;
}

/** Options of `Simulator.fromConfig` about where plugins come from. */
export interface LoadOptions {
  /** The registry to build sinks and servers with. Default: a new one for this simulator. */
  registry?: Registry;
  /** Extra folders package names resolve from, after the config file's folder and the cwd. */
  resolveFrom?: readonly string[];
}

/** Progress of a backfill, reported about once a second. */
export interface BackfillProgress {
  /** Share of the simulated range done, 0..1. */
  fraction: number;
  /** Simulated time reached (epoch seconds). */
  simulatedTime: number;
  /** Records generated so far. */
  records: number;
  /** Records per second since the run started. */
  recordsPerSec: number;
  /** Estimated seconds left. */
  etaS: number;
}

/** Options of a run. */
export interface RunOptions {
  /** Stop after this many seconds (real-time mode). Default: until `stop()`. */
  durationS?: number | null;
  /** Called about once a second during a backfill. */
  onProgress?: (progress: BackfillProgress) => void;
}

/** What a run did, per sink. */
export interface RunSummary {
  /** Seed of the run (pass it back to reproduce the values). */
  seed: number;
  /** `realtime`, `accelerated` (with `speed`) or `backfill`. */
  mode: ClockMode;
  /** Simulated seconds per wall-clock second. */
  speed: number;
  /** Generator ticks done. */
  ticks: number;
  /** Records generated (ticks × sensor channels). */
  records: number;
  /** Wall-clock seconds the run took. */
  elapsedS: number;
  /** First and last simulated timestamps. */
  firstTimestamp: number | undefined;
  lastTimestamp: number | undefined;
  /** Real-time tick lateness in ms (0 in backfill). */
  lagMs: { p50: number; p99: number; max: number };
  /** True when the run was stopped by `stop()` or `abort()` before its end. */
  interrupted: boolean;
  /** Ticks a real-time run with a duration could not generate before its end (it fell behind its rate). */
  ticksNotGenerated: number;
  /** True when `abort()` ended the run without draining. */
  aborted: boolean;
  /** Counters of each sink's runner. */
  sinks: SinkMetrics[];
  /** The servers that served the run. */
  servers: { name: string; type: string; description: string }[];
}

const LAG_WINDOW = 4096;
/** Readings per frame in a backfill (or a real-time catch-up): large enough to amortise, small enough to pipeline. */
const FRAME_READINGS = 8192;

interface SinkEntry {
  readonly sink: Sink;
  readonly throughput: ResolvedThroughput;
  /** How a worker thread rebuilds it (sinks made from a config mapping). */
  readonly spec?: SinkSpec;
}

/**
 * A small composition of the engine's parts: a Model (the flat sensors of a DataGenerator), a
 * Clock (real time on the grid, accelerated, or a backfill range), the frame fan-out to one
 * SinkRunner per sink, and the LiveState that servers read.
 *
 * @example
 * const sim = new Simulator({ industries: ['mining'], updateRateHz: 2, seed: 42 });
 * sim.addSink(new ConsoleSink(), { rateHz: 0.5 });
 * const summary = await sim.run({ durationS: 10 });
 */
export class Simulator {
  readonly generator: DataGenerator;
  readonly updateRateHz: number;
  /** Simulated seconds per wall-clock second. */
  readonly speed: number;
  /** True when `speed` was given: a run from `start` is then paced, not a backfill. */
  private readonly paced: boolean;
  /** The configuration document this simulator was built from, when `fromConfig` built it. */
  config: SimulatorConfig | undefined;
  /** The secrets of this simulator's runs: redacted from its logs, errors and summaries. */
  readonly redactor = new Redactor();
  private readonly logger: Logger;
  private readonly shutdownTimeoutS: number;
  private readonly start: number | undefined;
  private readonly end: number | undefined;
  /** Worker threads of a run (1: none). */
  readonly workers: number;
  /** The shard of the devices this simulator generates. */
  readonly shard: ShardSpec;
  private readonly startAt: number | undefined;
  private pool: WorkerPool | undefined;
  /** Which sink runs where in a run with workers: in every worker, on the sink thread, or on this thread. */
  private placement: { where: 'workers' | 'sink-thread' | 'main'; index: number }[] = [];
  private readonly sinks: SinkEntry[] = [];
  private readonly servers: Server[] = [];
  /** YAML path (`sinks[2].`) of each plugin built by fromConfig, for problems found at connect. */
  private readonly yamlPaths = new Map<Sink | Server, string>();
  private runners: SinkRunner[] = [];
  private serverNames: string[] = [];
  private live: LiveState | undefined;
  private clock: Clock | undefined;
  private stopRequested = false;
  private aborted = false;
  private running = false;
  // Resolves on stop() or abort(): a generator waiting for room in a full buffer must not outlive a stop.
  private stopSignal: Promise<void> = Promise.resolve();
  private signalStop: (() => void) | undefined;

  constructor(options: SimulatorOptions = {}) {
    const issues: ConfigIssue[] = [];
    const rate = options.updateRateHz ?? 1.0;
    if (!(typeof rate === 'number' && rate > 0 && Number.isFinite(rate))) {
      issues.push({ path: 'updateRateHz', message: `must be > 0, got ${String(rate)}` });
    }
    const speed = options.speed ?? 1;
    if (!(typeof speed === 'number' && speed > 0 && Number.isFinite(speed)))
      issues.push({ path: 'speed', message: `must be > 0, got ${String(speed)}` });
    const timeoutS = options.shutdownTimeoutS ?? 30;
    if (!(timeoutS > 0))
      issues.push({ path: 'shutdownTimeoutS', message: `must be > 0, got ${timeoutS}` });
    const workers = options.workers ?? 1;
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= 256))
      issues.push({
        path: 'workers',
        message: `must be a whole number from 1 to 256 (worker threads; about one per core), got ${String(workers)}`,
      });
    const shard = options.shard ?? WHOLE_RUN;
    if (!(
      Number.isInteger(shard.count) &&
      shard.count >= 1 &&
      Number.isInteger(shard.index) &&
      shard.index >= 0 &&
      shard.index < shard.count
    ))
      issues.push({
        path: 'shard',
        message: `must be shard K of N with 0 <= K < N (0-based), got ${String(shard.index)}/${String(shard.count)}`,
      });
    let startAt: number | undefined;
    let start: number | undefined;
    let end: number | undefined;
    try {
      const now = Date.now() / 1000;
      if (options.startAt !== undefined) {
        startAt = parseTimePoint(options.startAt, 'startAt', now);
        if (options.start !== undefined || options.speed !== undefined)
          issues.push({
            path: 'startAt',
            message:
              'is the common start of real time (shards); a backfill (start) or accelerated run (speed) starts at start',
          });
      }
      if (options.start !== undefined) start = parseTimePoint(options.start, 'start', now);
      if (options.end !== undefined) end = parseTimePoint(options.end, 'end', now);
      if (start !== undefined && end === undefined && options.speed === undefined) end = now;
      if (end !== undefined && start === undefined)
        issues.push({ path: 'start', message: 'is required when end is set' });
      if (start !== undefined && end !== undefined && !(end > start))
        issues.push({
          path: options.end === undefined ? 'start' : 'end',
          message:
            options.end === undefined
              ? `must be in the past when end is not set (the backfill ends now), got ${new Date(start * 1000).toISOString()}`
              : 'must be after start',
        });
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
    let generator: DataGenerator | undefined;
    try {
      generator = new DataGenerator({
        industries: options.industries,
        customSensors: options.customSensors,
        customIndustry: options.customIndustry,
        seed: options.seed ?? randomSeed(),
        devicesPerIndustry: options.devicesPerIndustry,
        shard: issues.some((i) => i.path === 'shard') ? undefined : shard,
      });
    } catch (err) {
      // A lone unknown industry keeps its class (UnknownIndustryError, with its suggestions).
      if (err instanceof UnknownIndustryError && !issues.length) throw err;
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
    if (issues.length || !generator) throw new ConfigError(issues);
    this.generator = generator;
    this.updateRateHz = rate;
    this.speed = speed;
    this.paced = options.speed !== undefined;
    this.logger = options.logger ?? silentLogger;
    this.shutdownTimeoutS = timeoutS;
    this.start = start;
    this.end = end;
    this.workers = workers;
    this.shard = shard;
    this.startAt = startAt;
  }

  /** A simulator whose sensors come from a CSV file (the original's columns). */
  static fromCsv(path: string, options: SimulatorOptions & { industry?: string } = {}): Simulator {
    const sim = new Simulator({ ...options, customSensors: undefined });
    sim.generator.addResolved(loadSensorCsv(path), options.industry ?? 'custom');
    return sim;
  }

  /**
   * A simulator built from a YAML config file (or an already parsed document / SimulatorConfig),
   * with its sinks and servers created through a registry: first-party types (`kafka`, `file`,
   * …) load from their packages when installed, resolved from the config file's folder, then the
   * cwd. Every sink's and server's problems are reported together.
   */
  static async fromConfig(
    config: string | SimulatorConfig | Record<string, unknown>,
    overrides: SimulatorOptions = {},
    load: LoadOptions = {},
  ): Promise<Simulator> {
    const source = typeof config === 'string' ? config : undefined;
    const { config: cfg, issues } =
      typeof config === 'string'
        ? checkConfigFile(config)
        : isValidated(config)
          ? { config, issues: [] as ConfigIssue[] }
          : checkConfig(config);
    const bases = [
      ...(source ? [dirname(resolve(source))] : []),
      process.cwd(),
      ...(load.resolveFrom ?? []),
    ];
    const registry = load.registry ?? new Registry({ resolveFrom: bases });
    const redactor = new Redactor().add(...cfg.secrets);
    // Plugins register their types first; a plugin that cannot load is reported with the rest.
    for (const [i, spec] of cfg.plugins.entries()) {
      try {
        await registry.loadPlugin(spec, `plugins[${i}]`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        issues.push(...err.issues);
      }
    }
    // Every sink is checked even when the document has problems, so all are reported at once.
    const sinks: (SinkEntry & { path: string })[] = [];
    for (const entry of cfg.sinks) {
      try {
        const made = await registry.createSink({ type: entry.type, ...entry.options }, entry.path);
        sinks.push({ ...made, path: entry.path });
      } catch (err) {
        if (err instanceof ConfigError) issues.push(...err.issues);
        else throw err;
      }
    }
    const servers: { server: Server; path: string }[] = [];
    for (const entry of cfg.servers) {
      try {
        const server = await registry.createServer(
          { type: entry.type, ...entry.options },
          entry.path,
        );
        servers.push({ server, path: entry.path });
      } catch (err) {
        if (err instanceof ConfigError) issues.push(...err.issues);
        else throw err;
      }
    }
    if (issues.length)
      throw new ConfigError(
        issues.map((i) => ({ path: i.path, message: redactor.redact(i.message) })),
        { source },
      );
    const sim = new Simulator({
      industries: cfg.industries,
      updateRateHz: cfg.updateRateHz,
      seed: cfg.seed,
      start: cfg.start,
      end: cfg.end,
      devicesPerIndustry: cfg.devicesPerIndustry,
      shutdownTimeoutS: cfg.shutdownTimeoutS,
      speed: cfg.speed,
      workers: cfg.workers,
      ...overrides,
    });
    sim.config = cfg;
    sim.redactor.add(...cfg.secrets);
    for (const group of cfg.customSensors) sim.generator.addResolved(group.sensors, group.industry);
    const entries = new Map(cfg.sinks.map((e) => [e.path, e]));
    for (const { sink, throughput, path } of sinks) {
      const entry = entries.get(path)!;
      const reg = registry.sinkRegistration(entry.type);
      // A type loaded by a function cannot be loaded again in a worker: it stays on this thread.
      const portable = !reg || typeof reg.module === 'string';
      sim.addSink(
        sink,
        throughput,
        portable
          ? {
              type: entry.type,
              options: entry.options,
              path,
              resolveFrom: registry.resolveFrom,
              ...(reg && typeof reg.module === 'string' && !(entry.type in FIRST_PARTY_SINKS)
                ? {
                    module: {
                      specifier: reg.module,
                      exportName: reg.exportName,
                      ...(reg.packageName ? { packageName: reg.packageName } : {}),
                    },
                  }
                : {}),
            }
          : undefined,
      );
      sim.yamlPaths.set(sink, path);
    }
    for (const { server, path } of servers) {
      sim.addServer(server);
      sim.yamlPaths.set(server, path);
    }
    return sim;
  }

  /**
   * Adds a sink with its throughput options (rate, batch size, buffer, backpressure, retries), or
   * wraps a function in a CallbackSink. `spec` (its YAML mapping) lets a run with `workers` build
   * one instance per worker thread; without it the sink stays on this thread.
   */
  addSink(sink: Sink | RecordCallback, throughput: ThroughputOptions = {}, spec?: SinkSpec): this {
    if (this.running) throw new IotSimError('cannot add a sink while the simulator runs');
    const resolved = resolveThroughput(throughput);
    if (isSink(sink)) {
      const tooMany = inFlightProblem(sink.capabilities, sink.type, resolved.maxInFlight);
      if (tooMany) throw new ConfigError([{ path: 'maxInFlight', message: tooMany }]);
      this.sinks.push({ sink, throughput: resolved, ...(spec ? { spec } : {}) });
    } else if (typeof sink === 'function')
      this.sinks.push({ sink: new CallbackSink(sink), throughput: resolved });
    else
      throw new TypeError(
        `addSink needs a Sink (a class extending Sink from @iotsim/core) or a function, got ${typeof sink}`,
      );
    return this;
  }

  /** Adds a server that serves the live state while the simulator runs. */
  addServer(server: Server): this {
    if (this.running) throw new IotSimError('cannot add a server while the simulator runs');
    if (!isServer(server))
      throw new TypeError('addServer needs a Server (a class extending Server from @iotsim/core)');
    this.servers.push(server);
    return this;
  }

  /** Adds custom sensors under an industry label. */
  addSensors(sensors: readonly SensorConfig[], industry = 'custom'): this {
    this.generator.addSensors(sensors, industry);
    return this;
  }

  /** Adds already validated sensors (e.g. from `loadSensorCsv`). */
  addResolvedSensors(sensors: readonly ResolvedSensorConfig[], industry = 'custom'): this {
    this.generator.addResolved(sensors, industry);
    return this;
  }

  /** The sinks added so far, in order. */
  listSinks(): readonly Sink[] {
    return this.sinks.map((e) => e.sink);
  }

  /** The servers added so far, in order. */
  listServers(): readonly Server[] {
    return [...this.servers];
  }

  /** The throughput options given with each sink, in order. */
  listThroughput(): readonly ResolvedThroughput[] {
    return this.sinks.map((e) => e.throughput);
  }

  /** The model that produces the readings. */
  get model(): Model {
    return this.generator;
  }

  /** The live state of the current (or last) run; undefined before the first run. */
  get liveState(): LiveState | undefined {
    return this.live;
  }

  /** Number of sensor channels (sensors × devices). */
  get sensorCount(): number {
    return this.generator.sensorCount;
  }

  /** The seed in use. */
  get seed(): number {
    return this.generator.seed;
  }

  /** Live counters of every sink (with workers: summed over the worker threads, as last reported). */
  metrics(): SinkMetrics[] {
    const pool = this.pool;
    if (!pool) return this.runners.map((r) => r.metrics());
    return this.placement.map(({ where, index }) =>
      where === 'workers'
        ? pool.metrics(index)
        : where === 'sink-thread'
          ? pool.singletonMetrics(index)
          : this.runners[index]!.metrics(),
    );
  }

  /**
   * Connects every sink and starts every server, generates until the duration, the backfill end
   * or `stop()`, then drains, flushes and closes every sink and stops every server. Resolves to
   * the run summary.
   */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    if (this.running) throw new IotSimError('the simulator is already running');
    if (!this.sinks.length && !this.servers.length)
      this.logger.warn('no sinks added: records are generated and discarded');
    if (this.workers > 1) return this.runOnWorkers(options);
    const { logger, redact, names } = this.beginRun();
    this.makeRunners(
      this.sinks.map((entry, i) => ({ entry, name: names[i]! })),
      logger,
      redact,
      // One generator feeds every sink: in a backfill a rerun hands them the same readings.
      this.start !== undefined && !this.paced
        ? backfillStream({
            seed: this.seed,
            shard: this.shard,
            worker: 0,
            workers: 1,
            devicesPerIndustry: this.generator.devicesPerIndustry,
            groups: this.generator.sensorGroups,
            rateHz: this.updateRateHz,
            start: this.start,
            end: this.end!,
          })
        : undefined,
    );
    this.serverNames = displayNames(this.servers.map((s) => s.type));
    const table = this.generator.channelTable();
    this.sinks.forEach((e, i) => {
      if (e.throughput.maxBufferSize >= table.length) return;
      logger.warn(
        `${this.runners[i]!.name}: one tick has ${table.length.toLocaleString('en-US')} readings, more than max_buffer_size ${e.throughput.maxBufferSize.toLocaleString('en-US')}: a tick is never dropped by its own size, but a slow sink drops whole ticks behind it; set max_buffer_size to at least ${(2 * table.length).toLocaleString('en-US')} (two ticks)`,
      );
    });
    this.live = new LiveState(table, (err) =>
      logger.error(`a live-state listener failed: ${errorText(err)}`),
    );
    const started = performance.now();
    const backfill = this.start !== undefined && !this.paced;
    try {
      await this.startAll(this.live, logger);
      // The clock starts once every sink is connected and every server listens: a slow start
      // (an OPC UA server takes seconds) neither shortens the duration nor shows as tick lag.
      const clock: Clock = backfill
        ? new BackfillClock({ rateHz: this.updateRateHz, start: this.start!, end: this.end! })
        : new RealTimeClock({
            rateHz: this.updateRateHz,
            speed: this.speed,
            durationS: options.durationS ?? undefined,
            start: this.start,
            end: this.end,
            startAt: this.startAt,
            logger,
          });
      this.clock = clock;
      if (this.stopRequested) clock.stop(); // stopped while sinks connected
      logger.info(
        `running ${this.generator.sensorCount} sensors at ${this.updateRateHz} Hz (seed ${this.seed}, ${clock.mode === 'backfill' ? 'backfill' : clock.mode === 'accelerated' ? `accelerated ×${this.speed}` : 'real time'})${this.shard.count > 1 ? ` as shard ${this.shard.index}/${this.shard.count}` : ''} into ${[...this.runners.map((r) => r.name), ...this.serverNames].join(', ') || 'no sinks'}`,
      );
      const loop = await this.loop(clock, options);
      // Sinks drain and close before the servers stop (a sink may deliver through one).
      if (!this.aborted) await Promise.all(this.runners.map((r) => r.stop(this.shutdownTimeoutS)));
      await this.stopServers(logger);
      return {
        seed: this.seed,
        mode: clock.mode,
        speed: this.speed,
        ...loop,
        records: loop.ticks * this.generator.sensorCount,
        elapsedS: (performance.now() - started) / 1000,
        interrupted: this.stopRequested || this.aborted,
        ticksNotGenerated: clock instanceof RealTimeClock ? clock.missedTicks : 0,
        aborted: this.aborted,
        sinks: this.metrics(),
        servers: this.serverSummaries(redact),
      };
    } finally {
      this.running = false;
      this.clock = undefined;
    }
  }

  /** The servers of the run as the summary lists them (descriptions redacted). */
  private serverSummaries(redact: (text: string) => string): RunSummary['servers'] {
    return this.servers.map((s, i) => ({
      name: this.serverNames[i]!,
      type: s.type,
      description: redact(s.describe()),
    }));
  }

  /** What both kinds of run start with: running, the stop signal, the redacting logger, sink names. */
  private beginRun(): {
    logger: Logger;
    redact: (text: string) => string;
    names: string[];
  } {
    this.running = true;
    this.stopRequested = false;
    this.aborted = false;
    this.stopSignal = new Promise((resolve) => (this.signalStop = resolve));
    for (const { sink } of this.sinks) this.redactor.watch(sink);
    for (const server of this.servers) this.redactor.watch(server);
    return {
      logger: redactingLogger(this.logger, this.redactor),
      redact: (text: string): string => this.redactor.redact(text),
      names: displayNames(this.sinks.map((e) => e.sink.type)),
    };
  }

  /** One runner per sink run on this thread (a bad throughput setting ends the run before it starts). */
  private makeRunners(
    entries: readonly { entry: SinkEntry; name: string }[],
    logger: Logger,
    redact: (text: string) => string,
    stream?: SinkStream,
  ): void {
    try {
      this.runners = entries.map(
        ({ entry, name }) =>
          new SinkRunner(entry.sink, {
            name,
            logger,
            throughput: entry.throughput,
            redact,
            ...(this.shard.count > 1 ? { shard: sinkShard(this.shard, this.seed) } : {}),
            ...(stream ? { stream } : {}),
          }),
      );
    } catch (err) {
      this.running = false;
      throw err;
    }
  }

  /**
   * A run on worker threads: sinks with a spec that are not singletons run in every worker (one
   * instance each, over the worker's sub-shard of the devices); the others stay here and get every
   * worker's frames, transferred. A backfill runs on each worker's own clock; real time on this
   * thread's clock, which sends each tick to every worker.
   */
  private async runOnWorkers(options: RunOptions): Promise<RunSummary> {
    const { WorkerPool } = await import('./workers/pool.js');
    const { logger, redact, names } = this.beginRun();
    const workerSinks: { spec: SinkSpec; name: string }[] = [];
    const singletons: { spec: SinkSpec; name: string }[] = [];
    const mainEntries: { entry: SinkEntry; name: string }[] = [];
    this.placement = this.sinks.map((e, i) => {
      // The console stays here (stdout, and its reader closing it, belong to this thread).
      if (e.spec && e.sink.type !== 'console') {
        const list = e.sink.capabilities.singleton ? singletons : workerSinks;
        list.push({ spec: e.spec, name: names[i]! });
        return { where: list === singletons ? 'sink-thread' : 'workers', index: list.length - 1 };
      }
      mainEntries.push({ entry: e, name: names[i]! });
      return { where: 'main', index: mainEntries.length - 1 };
    });
    const table = this.generator.channelTable();
    this.makeRunners(mainEntries, logger, redact);
    this.serverNames = displayNames(this.servers.map((s) => s.type));
    const live = new LiveState(table, (err) =>
      logger.error(`a live-state listener failed: ${errorText(err)}`),
    );
    this.live = live;
    const backfill = this.start !== undefined && !this.paced;
    // Servers read one live state: each worker frame updates its channels of the latest values.
    const serving = this.servers.length > 0;
    const latest = new Float64Array(table.length).fill(NaN);
    const latestFaults = new Uint8Array(table.length);
    let toMain: Int32Array[] = [];
    const publish = (frame: Frame, w: number): void => {
      const map = toMain[w];
      if (!map || frame.ticks === 0) return;
      const n = frame.table.length;
      const base = (frame.ticks - 1) * n;
      for (let c = 0; c < n; c++) {
        latest[map[c]!] = frame.values[base + c]!;
        latestFaults[map[c]!] = frame.faults[base + c]!;
      }
      const tick = frame.tick0 + frame.ticks - 1;
      live.publish(
        new Frame(
          table,
          tick,
          Float64Array.of(frame.timestamps[frame.ticks - 1]!),
          latest.slice(),
          latestFaults.slice(),
        ),
      );
    };
    const secrets = [...(this.config?.secrets ?? []), ...this.sinks.flatMap((e) => e.sink.secrets)];
    const folders = [
      ...new Set([
        ...[...workerSinks, ...singletons].flatMap((w) => w.spec.resolveFrom ?? []),
        process.cwd(),
      ]),
    ];
    const pool = new WorkerPool({
      workers: this.workers,
      shard: this.shard,
      seed: this.seed,
      devicesPerIndustry: this.generator.devicesPerIndustry,
      groups: this.generator.sensorGroups,
      rateHz: this.updateRateHz,
      backfill: backfill ? { start: this.start!, end: this.end! } : undefined,
      sinks: workerSinks,
      singletons,
      resolveFrom: folders,
      secrets,
      shutdownTimeoutS: this.shutdownTimeoutS,
      logger,
      onFrame:
        this.runners.length || serving
          ? (frame, w) => {
              if (serving) publish(frame, w);
              return this.runners.length ? this.fanOut(frame, backfill) : undefined;
            }
          : undefined,
    });
    const started = performance.now();
    try {
      await pool.start();
      this.pool = pool;
      // Where each channel of this thread's table lives: (worker, position in its table).
      const owner = new Int32Array(table.length).fill(-1);
      const local = new Int32Array(table.length);
      toMain = pool.tables().map((t, w) => {
        const map = new Int32Array(t?.length ?? 0);
        t?.channels.forEach((c, i) => {
          const at = table.indexOf(c.industry, c.deviceId, c.sensorName);
          map[i] = at;
          owner[at] = w;
          local[at] = i;
        });
        return map;
      });
      const route = (
        channels: readonly number[],
        send: (w: number, mine: number[]) => void,
      ): void => {
        const byWorker = new Map<number, number[]>();
        for (const i of channels) {
          const w = owner[i];
          if (w === undefined || w < 0)
            throw new RangeError(`no channel ${i} (the table has ${table.length})`);
          let list = byWorker.get(w);
          if (!list) byWorker.set(w, (list = []));
          list.push(local[i]!);
        }
        for (const [w, mine] of byWorker) send(w, mine);
      };
      const control: ModelControl = {
        injectFault: (channels, durationS, anomaly) =>
          route(channels, (w, mine) =>
            pool.control(w, {
              kind: 'control',
              op: 'inject',
              channels: mine,
              durationS,
              ...(anomaly ? { anomaly } : {}),
            }),
          ),
        clearFault: (channels) =>
          route(channels, (w, mine) =>
            pool.control(w, { kind: 'control', op: 'clear', channels: mine }),
          ),
        override: (channels, value) =>
          route(channels, (w, mine) =>
            pool.control(w, { kind: 'control', op: 'override', channels: mine, value }),
          ),
      };
      const idle = pool.channelsPerWorker().filter((n) => n === 0).length;
      if (idle)
        logger.warn(
          `${idle} of ${this.workers} worker threads got no devices (devices go to workers by a hash of industry and device index): use fewer workers or more devices_per_industry`,
        );
      try {
        await this.startAll(live, logger, control);
      } catch (err) {
        pool.abort('another sink could not start');
        await pool.finished();
        throw err;
      }
      logger.info(
        `running ${this.generator.sensorCount} sensors at ${this.updateRateHz} Hz (seed ${this.seed}, ${backfill ? 'backfill' : this.paced ? `accelerated ×${this.speed}` : 'real time'}) on ${this.workers} worker threads${this.shard.count > 1 ? ` as shard ${this.shard.index}/${this.shard.count}` : ''} into ${[...names, ...this.serverNames].join(', ') || 'no sinks'}`,
      );
      let mode: ClockMode = 'backfill';
      let lagMs = { p50: 0, p99: 0, max: 0 };
      let missed = 0;
      if (this.stopRequested) pool.stop();
      if (backfill) {
        const total = Math.max(0, Math.ceil((this.end! - this.start!) * this.updateRateHz - 1e-9));
        const began = performance.now();
        const timer = options.onProgress
          ? setInterval(() => {
              const p = pool.progress();
              if (!p.ticks || !total) return;
              const elapsed = (performance.now() - began) / 1000;
              options.onProgress!({
                fraction: p.ticks / total,
                simulatedTime: p.last ?? this.start!,
                records: p.records,
                recordsPerSec: p.records / elapsed,
                etaS: (elapsed / p.ticks) * (total - p.ticks),
              });
            }, 1000)
          : undefined;
        pool.go();
        try {
          await pool.finished();
        } finally {
          clearInterval(timer);
        }
      } else {
        const clock = new RealTimeClock({
          rateHz: this.updateRateHz,
          speed: this.speed,
          durationS: options.durationS ?? undefined,
          start: this.start,
          end: this.end,
          startAt: this.startAt,
          logger,
        });
        this.clock = clock;
        if (this.stopRequested) clock.stop();
        mode = clock.mode;
        const loop = await this.loop(clock, options, (step) => pool.tick(step));
        lagMs = loop.lagMs;
        missed = clock.missedTicks;
        pool.stop();
      }
      const result = await pool.finished();
      // The workers' last frames reached this thread's sinks before they said done.
      if (!this.aborted) await Promise.all(this.runners.map((r) => r.stop(this.shutdownTimeoutS)));
      await this.stopServers(logger);
      return {
        seed: this.seed,
        mode,
        speed: this.speed,
        ticks: result.ticks,
        firstTimestamp: result.firstTimestamp,
        lastTimestamp: result.lastTimestamp,
        lagMs,
        records: result.records,
        elapsedS: (performance.now() - started) / 1000,
        interrupted: this.stopRequested || this.aborted,
        ticksNotGenerated: missed,
        aborted: this.aborted,
        sinks: this.metrics(),
        servers: this.serverSummaries(redact),
      };
    } finally {
      this.running = false;
      this.clock = undefined;
    }
  }

  /** Same as `run` (the original's `run_async`). */
  runAsync(options: RunOptions = {}): Promise<RunSummary> {
    return this.run(options);
  }

  /** Asks a running simulation to stop: generation ends, every sink drains, flushes and closes. */
  stop(): void {
    this.stopRequested = true;
    this.clock?.stop();
    this.pool?.stop();
    this.signalStop?.();
  }

  /** Ends a run at once: buffered and in-flight records count as failed. Returns what was not delivered. */
  abort(reason = 'aborted'): number {
    this.aborted = true;
    this.stopRequested = true;
    for (const r of this.runners) r.abort(reason);
    this.clock?.stop();
    this.signalStop?.();
    if (this.pool) {
      // Worker sinks abort in their threads; what they still held (as last reported) is lost.
      const pool = this.pool;
      pool.abort(reason);
      const onWorkers = this.placement.reduce<number>((n, { where, index }) => {
        if (where === 'main') return n;
        const m = where === 'workers' ? pool.metrics(index) : pool.singletonMetrics(index);
        return n + m.failed + m.buffered;
      }, 0);
      return onWorkers + this.runners.reduce((n, r) => n + r.metrics().failed, 0);
    }
    return this.runners.reduce((n, r) => n + r.metrics().failed, 0);
  }

  /** Connects every sink and starts every server; reports every one that failed, at once. */
  private async startAll(
    state: LiveState,
    logger: Logger,
    control: ModelControl = this.generator.control,
  ): Promise<void> {
    const parts: {
      name: string;
      plugin: Sink | Server;
      start: () => Promise<void>;
      undo: () => Promise<void>;
    }[] = [
      ...this.runners.map((r) => ({
        name: r.name,
        plugin: r.sink,
        start: () => r.start(),
        undo: () => r.sink.close(),
      })),
      ...this.servers.map((s, i) => ({
        name: this.serverNames[i]!,
        plugin: s,
        start: () =>
          s.start(state, {
            logger,
            channels: state.table,
            control,
            rateHz: this.updateRateHz,
            name: this.serverNames[i]!,
            sinkMetrics: () => this.metrics(),
          }),
        undo: () => s.stop(),
      })),
    ];
    // Servers first: a sink may publish to a server of the same run (an embedded MQTT broker).
    const sinks = parts.slice(0, this.runners.length);
    const servers = parts.slice(this.runners.length);
    const serverResults = await Promise.allSettled(servers.map((p) => p.start()));
    const sinkResults = await Promise.allSettled(sinks.map((p) => p.start()));
    const results = [...sinkResults, ...serverResults]; // in the order of `parts`
    const failures = results
      .map((r, i) => ({ r, part: parts[i]! }))
      .filter(
        (x): x is { r: PromiseRejectedResult; part: (typeof parts)[number] } =>
          x.r.status === 'rejected',
      );
    if (!failures.length) return;
    await Promise.allSettled(
      parts.filter((_, i) => results[i]!.status === 'fulfilled').map((p) => p.undo()),
    );
    if (failures.length === 1) {
      const { r, part } = failures[0]!;
      const err = r.reason as unknown;
      const path = this.yamlPaths.get(part.plugin);
      if (err instanceof ConfigError && path !== undefined) {
        // Options checked only at connect (credentials from the environment, ...): name them as in YAML.
        throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
      }
      if (err instanceof Error) {
        err.message = this.redactor.redact(err.message);
        throw err;
      }
      throw new IotSimError(`${part.name}: connect failed: ${this.redactor.redact(String(err))}`);
    }
    // Several failed: one error that lists every one, with its YAML path (or run name) and type.
    const issues: ConfigIssue[] = [];
    for (const { r, part } of failures) {
      const err = r.reason as unknown;
      const path = this.yamlPaths.get(part.plugin);
      const where =
        path !== undefined ? `${path.replace(/\.$/, '')} (${part.plugin.type})` : part.name;
      if (err instanceof ConfigError && path !== undefined) {
        for (const i of issuesToYaml(err.issues, path))
          issues.push({ path: i.path, message: this.redactor.redact(i.message) });
      } else issues.push({ path: where, message: this.redactor.redact(errorText(err)) });
    }
    throw new PluginStartError(
      issues,
      failures.map((f) => f.r.reason as unknown),
    );
  }

  private async stopServers(logger: Logger): Promise<void> {
    await Promise.all(
      this.servers.map(async (s, i) => {
        try {
          await s.stop();
        } catch (err) {
          logger.error(`${this.serverNames[i]}: stop failed: ${errorText(err)}`);
        }
      }),
    );
  }

  private fanOut(frame: Frame, wait: boolean): Promise<unknown> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const r of this.runners) {
      const w = r.enqueue(frame, wait);
      if (w) (waits ??= []).push(w);
    }
    return waits ? Promise.all(waits) : undefined;
  }

  /**
   * The one engine loop: clock → model → frame → live state and every runner. With `emit`, the
   * due ticks go there instead (to the worker threads, which generate them).
   */
  private async loop(clock: Clock, options: RunOptions, emit?: (step: ClockStep) => void) {
    const channels = Math.max(1, this.generator.sensorCount);
    const backfill = clock.mode === 'backfill';
    // Real time hands out one tick per frame (a tick is what rate_hz null flushes on, and what a
    // buffer must hold); a backfill amortises the per-frame cost over blocks of ticks.
    const maxTicks = backfill ? Math.max(1, Math.floor(FRAME_READINGS / channels)) : 1;
    const dt = 1 / this.updateRateHz;
    const total = clock.totalTicks;
    const lags: number[] = [];
    let lagMax = 0;
    let ticks = 0;
    let first: number | undefined;
    let last: number | undefined;
    const began = performance.now();
    let lastYield = began;
    let lastReport = began;
    for (;;) {
      if (this.stopRequested) break;
      const step = await clock.next(maxTicks);
      if (!step || this.stopRequested) break;
      const lag = step.lagMs;
      if (!backfill) {
        if (lags.length < LAG_WINDOW) lags.push(lag);
        else lags[ticks % LAG_WINDOW] = lag;
        if (lag > lagMax) lagMax = lag;
      }
      if (emit) {
        first ??= step.timestamps[0];
        last = step.timestamps[step.timestamps.length - 1];
        ticks += step.timestamps.length;
        emit(step);
      } else {
        const frame = this.generator.generate(step.tick0, step.timestamps, dt);
        first ??= frame.timestamps[0];
        last = frame.timestamps[frame.ticks - 1];
        ticks += frame.ticks;
        this.live!.publish(frame);
        const w = this.fanOut(frame, backfill);
        // Waiting for room (backfill, or policy block), but not past a stop (the runner's stop admits the frame).
        if (w) await Promise.race([w, this.stopSignal]);
      }
      const now = performance.now();
      if (now - lastYield > 20) {
        lastYield = now;
        await yieldToLoop();
        if (backfill && options.onProgress && now - lastReport > 1000 && total) {
          lastReport = now;
          const records = ticks * this.generator.sensorCount;
          const elapsed = (now - began) / 1000;
          options.onProgress({
            fraction: ticks / total,
            simulatedTime: last!,
            records,
            recordsPerSec: records / elapsed,
            etaS: (elapsed / ticks) * (total - ticks),
          });
        }
      }
    }
    if (!backfill && lagMax > 1000 / this.updateRateHz)
      this.logger.warn(`the generator fell behind real time by up to ${lagMax.toFixed(0)} ms`);
    const sorted = lags.sort((a, b) => a - b);
    const q = (p: number): number =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
    return {
      ticks,
      firstTimestamp: first,
      lastTimestamp: last,
      lagMs: { p50: q(0.5), p99: q(0.99), max: lagMax },
    };
  }
}

function displayNames(types: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const t of types) counts.set(t, (counts.get(t) ?? 0) + 1);
  const seen = new Map<string, number>();
  return types.map((t) => {
    const n = (seen.get(t) ?? 0) + 1;
    seen.set(t, n);
    return counts.get(t)! > 1 ? `${t}#${n}` : t;
  });
}

function redactingLogger(logger: Logger, redactor: Redactor): Logger {
  if (logger === silentLogger) return logger;
  return {
    debug: (m) => logger.debug(redactor.redact(m)),
    info: (m) => logger.info(redactor.redact(m)),
    warn: (m) => logger.warn(redactor.redact(m)),
    error: (m) => logger.error(redactor.redact(m)),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}

function isValidated(c: object): c is SimulatorConfig {
  return (
    Array.isArray((c as SimulatorConfig).sinks) &&
    typeof (c as SimulatorConfig).updateRateHz === 'number'
  );
}
