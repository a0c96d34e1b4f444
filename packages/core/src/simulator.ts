import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { checkConfig, checkConfigFile, type SimulatorConfig } from './config.js';
import { loadSensorCsv } from './csv.js';
import { ConfigError, IotSimError, type ConfigIssue } from './errors.js';
import { DataGenerator, randomSeed } from './generator.js';
import { silentLogger, type Logger } from './logger.js';
import type { ResolvedSensorConfig, SensorConfig } from './models.js';
import { createSink } from './registry.js';
import { SinkRunner, type SinkMetrics } from './runner.js';
import { issuesToYaml } from './option-reader.js';
import { redact } from './secrets.js';
import { Sink } from './sink.js';
import { CallbackSink, type RecordCallback } from './sinks/callback-sink.js';
import { parseTimePoint } from './time.js';
import type { ThroughputOptions } from './sink.js';

/** Options of a Simulator. */
export interface SimulatorOptions {
  /** Built-in industries to simulate. */
  industries?: readonly string[];
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
  /** `realtime` or `backfill`. */
  mode: 'realtime' | 'backfill';
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
  /** True when `abort()` ended the run without draining. */
  aborted: boolean;
  /** Counters of each sink's runner. */
  sinks: SinkMetrics[];
}

const LAG_WINDOW = 4096;

/**
 * Generates sensor data and fans every tick out to its sinks, each through its own SinkRunner.
 *
 * @example
 * const sim = new Simulator({ industries: ['mining'], updateRateHz: 2, seed: 42 });
 * sim.addSink(new ConsoleSink({ rateHz: 0.5 }));
 * const summary = await sim.run({ durationS: 10 });
 */
export class Simulator {
  readonly generator: DataGenerator;
  readonly updateRateHz: number;
  /** The configuration document this simulator was built from, when `fromConfig` built it. */
  config: SimulatorConfig | undefined;
  private readonly logger: Logger;
  private readonly shutdownTimeoutS: number;
  private readonly start: number | undefined;
  private readonly end: number | undefined;
  private readonly sinks: Sink[] = [];
  /** YAML path (`sinks[2].`) of each sink built by fromConfig, for problems found at connect. */
  private readonly yamlPaths = new Map<Sink, string>();
  private runners: SinkRunner[] = [];
  private stopRequested = false;
  private aborted = false;
  private running = false;
  private wake: (() => void) | undefined;
  // Resolves on stop() or abort(): a generator waiting for room in a full buffer must not outlive a stop.
  private stopSignal: Promise<void> = Promise.resolve();
  private signalStop: (() => void) | undefined;

  constructor(options: SimulatorOptions = {}) {
    const issues: ConfigIssue[] = [];
    const rate = options.updateRateHz ?? 1.0;
    if (!(typeof rate === 'number' && rate > 0 && Number.isFinite(rate))) {
      issues.push({ path: 'updateRateHz', message: `must be > 0, got ${String(rate)}` });
    }
    const timeoutS = options.shutdownTimeoutS ?? 30;
    if (!(timeoutS > 0))
      issues.push({ path: 'shutdownTimeoutS', message: `must be > 0, got ${timeoutS}` });
    let start: number | undefined;
    let end: number | undefined;
    try {
      const now = Date.now() / 1000;
      if (options.start !== undefined) start = parseTimePoint(options.start, 'start', now);
      if (options.end !== undefined) end = parseTimePoint(options.end, 'end', now);
      if (start !== undefined && end === undefined) end = now;
      if (end !== undefined && start === undefined)
        issues.push({ path: 'start', message: 'is required when end is set' });
      if (start !== undefined && end !== undefined && !(end > start))
        issues.push({ path: 'end', message: 'must be after start' });
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
      });
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
    if (issues.length || !generator) throw new ConfigError(issues);
    this.generator = generator;
    this.updateRateHz = rate;
    this.logger = options.logger ?? silentLogger;
    this.shutdownTimeoutS = timeoutS;
    this.start = start;
    this.end = end;
  }

  /** A simulator whose sensors come from a CSV file (the original's columns). */
  static fromCsv(path: string, options: SimulatorOptions & { industry?: string } = {}): Simulator {
    const sim = new Simulator({ ...options, customSensors: undefined });
    sim.generator.addResolved(loadSensorCsv(path), options.industry ?? 'custom');
    return sim;
  }

  /**
   * A simulator built from a YAML config file (or an already parsed document / SimulatorConfig),
   * with its sinks created through the registry. Every sink's problems are reported together.
   */
  static async fromConfig(
    config: string | SimulatorConfig | Record<string, unknown>,
    overrides: SimulatorOptions = {},
  ): Promise<Simulator> {
    const source = typeof config === 'string' ? config : undefined;
    const { config: cfg, issues } =
      typeof config === 'string'
        ? checkConfigFile(config)
        : isValidated(config)
          ? { config, issues: [] as ConfigIssue[] }
          : checkConfig(config);
    // Every sink is checked even when the document has problems, so all are reported at once.
    const sinks: Sink[] = [];
    const paths = new Map<Sink, string>();
    for (const entry of cfg.sinks) {
      try {
        const sink = await createSink({ type: entry.type, ...entry.options }, entry.path);
        sinks.push(sink);
        paths.set(sink, entry.path);
      } catch (err) {
        if (err instanceof ConfigError) issues.push(...err.issues);
        else throw err;
      }
    }
    if (issues.length) throw new ConfigError(issues, { source });
    const sim = new Simulator({
      industries: cfg.industries,
      updateRateHz: cfg.updateRateHz,
      seed: cfg.seed,
      start: cfg.start,
      end: cfg.end,
      devicesPerIndustry: cfg.devicesPerIndustry,
      shutdownTimeoutS: cfg.shutdownTimeoutS,
      ...overrides,
    });
    sim.config = cfg;
    for (const group of cfg.customSensors) sim.generator.addResolved(group.sensors, group.industry);
    for (const sink of sinks) sim.addSink(sink);
    for (const [sink, path] of paths) sim.yamlPaths.set(sink, path);
    return sim;
  }

  /** Adds a sink, or wraps a function in a CallbackSink. */
  addSink(sink: Sink | RecordCallback, options: ThroughputOptions = {}): this {
    if (this.running) throw new IotSimError('cannot add a sink while the simulator runs');
    this.sinks.push(sink instanceof Sink ? sink : new CallbackSink(sink, options));
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
    return [...this.sinks];
  }

  /** Number of sensor channels (sensors × devices). */
  get sensorCount(): number {
    return this.generator.sensorCount;
  }

  /** The seed in use. */
  get seed(): number {
    return this.generator.seed;
  }

  /** Live counters of every sink. */
  metrics(): SinkMetrics[] {
    return this.runners.map((r) => r.metrics());
  }

  /**
   * Connects every sink, generates until the duration, the backfill end or `stop()`, then drains,
   * flushes and closes every sink. Resolves to the run summary.
   */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    if (this.running) throw new IotSimError('the simulator is already running');
    if (!this.sinks.length) this.logger.warn('no sinks added: records are generated and discarded');
    this.running = true;
    this.stopRequested = false;
    this.aborted = false;
    this.stopSignal = new Promise((resolve) => (this.signalStop = resolve));
    const counts = new Map<string, number>();
    for (const s of this.sinks) counts.set(s.type, (counts.get(s.type) ?? 0) + 1);
    const seen = new Map<string, number>();
    this.runners = this.sinks.map((sink) => {
      const n = (seen.get(sink.type) ?? 0) + 1;
      seen.set(sink.type, n);
      const name = counts.get(sink.type)! > 1 ? `${sink.type}#${n}` : sink.type;
      return new SinkRunner(sink, { name, logger: this.logger });
    });
    const started = performance.now();
    try {
      await this.connectAll();
      const backfill = this.start !== undefined;
      this.logger.info(
        `running ${this.generator.sensorCount} sensors at ${this.updateRateHz} Hz (seed ${this.seed}, ${backfill ? 'backfill' : 'real time'}) into ${this.runners.map((r) => r.name).join(', ') || 'no sinks'}`,
      );
      const loop = backfill ? await this.backfill(options) : await this.realtime(options);
      if (!this.aborted) await Promise.all(this.runners.map((r) => r.stop(this.shutdownTimeoutS)));
      return {
        seed: this.seed,
        mode: backfill ? 'backfill' : 'realtime',
        ...loop,
        records: loop.ticks * this.generator.sensorCount,
        elapsedS: (performance.now() - started) / 1000,
        interrupted: this.stopRequested || this.aborted,
        aborted: this.aborted,
        sinks: this.metrics(),
      };
    } finally {
      this.running = false;
    }
  }

  /** Same as `run` (the original's `run_async`). */
  runAsync(options: RunOptions = {}): Promise<RunSummary> {
    return this.run(options);
  }

  /** Asks a running simulation to stop: generation ends, every sink drains, flushes and closes. */
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
    this.signalStop?.();
  }

  /** Ends a run at once: buffered and in-flight records count as failed. Returns what was not delivered. */
  abort(reason = 'aborted'): number {
    this.aborted = true;
    this.stopRequested = true;
    for (const r of this.runners) r.abort(reason);
    this.wake?.();
    this.signalStop?.();
    return this.runners.reduce((n, r) => n + r.metrics().failed, 0);
  }

  private async connectAll(): Promise<void> {
    const results = await Promise.allSettled(this.runners.map((r) => r.start()));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      await Promise.allSettled(
        this.runners
          .filter((_, i) => results[i]!.status === 'fulfilled')
          .map((r) => r.sink.close()),
      );
      const err = (results[failed] as PromiseRejectedResult).reason as unknown;
      const path = this.yamlPaths.get(this.runners[failed]!.sink);
      if (err instanceof ConfigError && path !== undefined) {
        // Options checked only at connect (credentials from the environment, ...): name them as in YAML.
        throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
      }
      if (err instanceof Error) {
        err.message = redact(err.message);
        throw err;
      }
      throw new IotSimError(
        `${this.runners[failed]!.name}: connect failed: ${redact(String(err))}`,
      );
    }
  }

  private fanOut(
    batch: ReturnType<DataGenerator['tick']>,
    wait: boolean,
  ): Promise<unknown> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const r of this.runners) {
      const w = r.enqueue(batch, wait);
      if (w) (waits ??= []).push(w);
    }
    return waits ? Promise.all(waits) : undefined;
  }

  private async realtime(options: RunOptions) {
    const rate = this.updateRateHz;
    const durationS = options.durationS ?? null;
    const t0 = Date.now() / 1000;
    const total = durationS === null ? Infinity : Math.max(1, Math.round(durationS * rate));
    const lags: number[] = [];
    let lagMax = 0;
    let k = 0;
    let first: number | undefined;
    let last: number | undefined;
    while (k < total && !this.stopRequested) {
      const due = t0 + k / rate;
      const waitMs = (due - Date.now() / 1000) * 1000;
      if (waitMs > 1) {
        await this.sleep(waitMs);
        if (this.stopRequested) break;
      }
      const lag = Math.max(0, Date.now() / 1000 - due) * 1000;
      if (lags.length < LAG_WINDOW) lags.push(lag);
      else lags[k % LAG_WINDOW] = lag;
      if (lag > lagMax) lagMax = lag;
      const batch = this.generator.tick(due, 1 / rate);
      first ??= due;
      last = due;
      k++;
      const w = this.fanOut(batch, false);
      // Policy block: wait for room, but not past a stop (the runner's stop admits the batch).
      if (w) await Promise.race([w, this.stopSignal]);
      if (waitMs <= 1 && k % 64 === 0) await yieldToLoop();
    }
    // A run of `durationS` lasts that long: wait out the last tick's interval.
    if (!this.stopRequested && durationS !== null) {
      const endMs = (t0 + total / rate - Date.now() / 1000) * 1000;
      if (endMs > 1) await this.sleep(endMs);
    }
    if (lagMax > 1000 / rate)
      this.logger.warn(`the generator fell behind real time by up to ${lagMax.toFixed(0)} ms`);
    const sorted = lags.sort((a, b) => a - b);
    const q = (p: number): number =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
    return {
      ticks: k,
      firstTimestamp: first,
      lastTimestamp: last,
      lagMs: { p50: q(0.5), p99: q(0.99), max: lagMax },
    };
  }

  private async backfill(options: RunOptions) {
    const rate = this.updateRateHz;
    const start = this.start!;
    const end = this.end!;
    const total = Math.max(0, Math.ceil((end - start) * rate - 1e-9));
    const began = performance.now();
    let lastYield = began;
    let lastReport = began;
    let k = 0;
    let last: number | undefined;
    while (k < total && !this.stopRequested) {
      const t = start + k / rate;
      const batch = this.generator.tick(t, 1 / rate);
      last = t;
      k++;
      const w = this.fanOut(batch, true);
      if (w) await Promise.race([w, this.stopSignal]);
      const now = performance.now();
      if (now - lastYield > 20) {
        lastYield = now;
        await yieldToLoop();
        if (options.onProgress && now - lastReport > 1000) {
          lastReport = now;
          const records = k * this.generator.sensorCount;
          const elapsed = (now - began) / 1000;
          options.onProgress({
            fraction: k / total,
            simulatedTime: t,
            records,
            recordsPerSec: records / elapsed,
            etaS: (elapsed / k) * (total - k),
          });
        }
      }
    }
    return {
      ticks: k,
      firstTimestamp: total > 0 ? start : undefined,
      lastTimestamp: last,
      lagMs: { p50: 0, p99: 0, max: 0 },
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

function isValidated(c: object): c is SimulatorConfig {
  return (
    Array.isArray((c as SimulatorConfig).sinks) &&
    typeof (c as SimulatorConfig).updateRateHz === 'number'
  );
}
