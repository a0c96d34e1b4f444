import { ConfigError, SinkWriteError } from './errors.js';
import { Frame, RecordBatch, type BatchSegment } from './frame.js';
import { silentLogger, type Logger } from './logger.js';
import type { SensorRecord } from './models.js';
import { Redactor } from './secrets.js';
import type { SinkShard, SinkStream } from './shard.js';
import {
  inFlightProblem,
  resolveThroughput,
  type ResolvedThroughput,
  type Sink,
  type ThroughputOptions,
  type WriteRequest,
} from './sink.js';

/** Write latency of a runner's batches, in milliseconds. */
export interface LatencyStats {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * Counters of one sink's runner. At any moment
 * `generated = delivered + dropped.total + failed + buffered`.
 */
export interface SinkMetrics {
  /** The sink's display name (type, or type#n when there are several of one type). */
  name: string;
  /** Sink type. */
  type: string;
  /** Records handed to this sink's runner. */
  generated: number;
  /** Records the sink confirmed written. */
  delivered: number;
  /** Records dropped by backpressure, by reason. */
  dropped: { oldest: number; newest: number; total: number };
  /** Records whose write failed after every retry, or that could not be delivered before the shutdown deadline. */
  failed: number;
  /** Write attempts repeated after a failure. */
  retries: number;
  /** Records in the buffer, in a write not yet finished, or held by the sink (not yet readable). */
  buffered: number;
  /** Of `buffered`: records the sink took but no reader can read yet (an open Parquet file). */
  held: number;
  /** Batches written successfully. */
  batches: number;
  /** Batches given up on. */
  failedBatches: number;
  /** The last write error, secrets redacted. */
  lastError: string | undefined;
  /** Latency of successful writes. */
  writeLatencyMs: LatencyStats;
  /** The sink's own counters (e.g. Delta commits), from its metrics hook. */
  sinkMetrics: Readonly<Record<string, number>>;
}

/** Options of a SinkRunner. */
export interface SinkRunnerOptions {
  /** Display name for logs and summaries. Default: the sink type. */
  name?: string;
  /** Where the runner and its sink log. */
  logger?: Logger;
  /** Throughput settings (validated here). Default: the original's defaults. */
  throughput?: ThroughputOptions | ResolvedThroughput;
  /** Removes secrets from error texts. Default: the process-wide redaction. */
  redact?: (text: string) => string;
  /** Where the sink runs in a sharded or multi-threaded run (handed to it as `SinkContext.shard`). */
  shard?: SinkShard;
  /** Set when a rerun hands the sink the same readings (handed to it as `SinkContext.stream`). */
  stream?: SinkStream;
}

/** What a runner accepts: a frame from the engine, or records that are already objects. */
export type RunnerInput = Frame | readonly SensorRecord[];

interface Waiter {
  input: RunnerInput;
  size: number;
  resolve: () => void;
}

interface Chunk {
  readonly frame: Frame | undefined;
  readonly records: readonly SensorRecord[] | undefined;
  start: number;
  readonly end: number;
}

const LATENCY_WINDOW = 2048;
const CONSUMED: Chunk = Object.freeze({ frame: undefined, records: undefined, start: 0, end: 0 });

function sizeOf(input: RunnerInput): number {
  return input instanceof Frame ? input.size : input.length;
}

/**
 * Buffers records for one sink and writes them according to its throughput options: as soon as
 * `batchSize` records are buffered, or when `1 / rateHz` seconds have passed (every tick when
 * `rateHz` is null). Applies backpressure, retries failed writes and keeps exact counters.
 */
export class SinkRunner {
  readonly sink: Sink;
  readonly name: string;
  /** The validated throughput settings, `maxInFlight` resolved against the sink's capabilities. */
  readonly throughput: ResolvedThroughput & { readonly maxInFlight: number };
  private readonly logger: Logger;
  private readonly shard: SinkShard | undefined;
  private readonly stream: SinkStream | undefined;
  private readonly redact: (text: string) => string;
  private readonly batchSize: number;
  private readonly maxBuffer: number;
  private readonly maxInFlight: number;
  private readonly deadline = new AbortController();
  private nextBatchId = 1;

  // Buffer: a queue of chunks (frame or record-array ranges), read from `head`.
  private chunks: Chunk[] = [];
  private head = 0;
  private size = 0;

  private inFlight = 0;
  private inFlightRecords = 0;
  private flushDue = false;
  private draining = false;
  private aborted = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Waiter[] = [];
  private idleResolvers: (() => void)[] = [];
  private retrySleeps = new Set<() => void>();

  private generated = 0;
  private delivered = 0;
  /** Records the sink reported held: taken, not yet readable. */
  private held = 0;
  private droppedOldest = 0;
  private droppedNewest = 0;
  private failed = 0;
  private retries = 0;
  private batches = 0;
  private failedBatches = 0;
  private lastError: string | undefined;
  private latencies: number[] = [];
  private latencyCount = 0;
  private latencySum = 0;
  private latencyMax = 0;

  constructor(sink: Sink, options: SinkRunnerOptions = {}) {
    this.sink = sink;
    this.name = options.name ?? sink.type;
    this.logger = options.logger ?? silentLogger;
    this.shard = options.shard;
    this.stream = options.stream;
    const own = new Redactor().watch(sink);
    this.redact = options.redact ?? ((text) => own.redact(text));
    const given = options.throughput ?? {};
    const t = resolveThroughput(given);
    const caps = sink.capabilities;
    const maxInFlight = t.maxInFlight ?? Math.min(caps.defaultInFlight, caps.maxInFlight);
    const tooMany = inFlightProblem(caps, sink.type, maxInFlight);
    if (tooMany) throw new ConfigError([{ path: 'maxInFlight', message: tooMany }]);
    this.throughput = Object.freeze({ ...t, maxInFlight });
    this.batchSize = t.batchSize;
    this.maxBuffer = t.maxBufferSize;
    this.maxInFlight = maxInFlight;
  }

  /** Attaches the logger and connects the sink; starts the rate timer. */
  async start(): Promise<void> {
    this.sink.attach({
      logger: this.logger,
      throughput: this.throughput,
      name: this.name,
      settleHeld: (n, outcome, error) => this.settleHeld(n, outcome, error),
      ...(this.shard ? { shard: this.shard } : {}),
      ...(this.stream ? { stream: this.stream } : {}),
    });
    await this.sink.connect();
    const rate = this.throughput.rateHz;
    if (rate !== null) {
      this.timer = setInterval(() => {
        this.flushDue = true;
        this.pump();
      }, 1000 / rate);
      this.timer.unref();
    }
    this.logger.debug(`${this.name}: connected (${this.sink.describe()})`);
  }

  /**
   * Hands a frame (or records) to the runner. Returns a promise when the generator must wait for
   * room (policy `block`, or `wait` set as in a backfill); otherwise undefined. A frame larger than
   * the buffer is never dropped by its own size: drop policies only drop what came before it.
   */
  enqueue(input: RunnerInput, wait = false): Promise<void> | undefined {
    const n = sizeOf(input);
    if (n === 0) return undefined;
    if (this.aborted || this.draining) {
      // Records arriving after stop are counted and failed, never silently lost.
      this.generated += n;
      this.failed += n;
      return undefined;
    }
    if (this.size + n > this.maxBuffer && this.size > 0) {
      const policy = this.throughput.backpressure;
      if (wait || policy === 'block') {
        return new Promise((resolve) => this.waiters.push({ input, size: n, resolve }));
      }
      if (policy === 'drop-newest') {
        const room = Math.max(0, this.maxBuffer - this.size);
        this.generated += n;
        this.droppedNewest += n - room;
        if (room > 0) this.push(input, room);
        this.afterEnqueue();
        return undefined;
      }
      // drop-oldest: make room by dropping what came before, never the new input itself.
      const excess = Math.min(this.size, this.size + n - this.maxBuffer);
      this.discard(excess);
      this.droppedOldest += excess;
    }
    this.generated += n;
    this.push(input, n);
    this.afterEnqueue();
    return undefined;
  }

  /** A snapshot of the counters. */
  metrics(): SinkMetrics {
    const dropped = this.droppedOldest + this.droppedNewest;
    return {
      name: this.name,
      type: this.sink.type,
      generated: this.generated,
      delivered: this.delivered,
      dropped: { oldest: this.droppedOldest, newest: this.droppedNewest, total: dropped },
      failed: this.failed,
      retries: this.retries,
      buffered: this.size + this.inFlightRecords + this.held,
      held: this.held,
      batches: this.batches,
      failedBatches: this.failedBatches,
      lastError: this.lastError,
      writeLatencyMs: this.latencyStats(),
      sinkMetrics: this.sink.sinkMetrics(),
    };
  }

  /**
   * Stops accepting records, writes everything buffered, then flushes and closes the sink.
   * After `timeoutS` seconds whatever is still buffered or in flight counts as failed and the
   * sink is closed without waiting further.
   */
  async stop(timeoutS = 30): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // Generators still waiting for room are let in first: their records are part of the run.
    this.draining = true;
    this.admitWaiters(true);
    let timedOut = false;
    let deadline: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      deadline = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutS * 1000);
    });
    this.flushDue = true;
    this.pump();
    try {
      await Promise.race([this.idle(), expired]);
      if (!timedOut) await Promise.race([this.sink.flush(), expired]);
    } catch (err) {
      this.lastError = this.redact(errorMessage(err));
      this.logger.error(`${this.name}: flush failed: ${this.lastError}`);
    }
    // The signal fires before close() whenever a write may still be in flight.
    if (timedOut) this.abort(`shutdown timeout of ${timeoutS}s reached`);
    let closeError: unknown;
    try {
      await Promise.race([this.sink.close(), timedOut ? Promise.resolve() : expired]);
    } catch (err) {
      closeError = err;
      this.logger.error(`${this.name}: close failed: ${this.redact(errorMessage(err))}`);
    } finally {
      clearTimeout(deadline);
    }
    if (timedOut) this.abort(`shutdown timeout of ${timeoutS}s reached while closing`);
    // Whatever the sink still holds after close was never made readable.
    if (this.held > 0)
      this.settleHeld(this.held, 'failed', closeError ?? 'the sink closed without completing them');
  }

  /** Gives up at once: buffered and in-flight records count as failed. */
  abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = true;
    this.deadline.abort(new Error(reason));
    // Held records are not readable yet and the sink may not get to complete them.
    const lost = this.size + this.inFlightRecords + this.held;
    if (lost > 0) {
      this.failed += lost;
      this.lastError ??= reason;
      this.logger.warn(`${this.name}: ${lost} records not delivered: ${reason}`);
    }
    this.discard(this.size);
    this.inFlightRecords = 0;
    this.held = 0;
    for (const w of this.waiters.splice(0)) {
      this.generated += w.size;
      this.failed += w.size;
      w.resolve();
    }
    for (const wake of this.retrySleeps) wake();
    this.notifyIdle();
  }

  private push(input: RunnerInput, n: number): void {
    this.chunks.push(
      input instanceof Frame
        ? { frame: input, records: undefined, start: 0, end: n }
        : { frame: undefined, records: input, start: 0, end: n },
    );
    this.size += n;
  }

  private afterEnqueue(): void {
    if (this.throughput.rateHz === null) this.flushDue = true;
    if (this.size >= this.batchSize || this.flushDue) this.pump();
  }

  private take(n: number): RecordBatch {
    const first = this.chunks[this.head]!;
    if (first.end - first.start >= n) {
      const seg: BatchSegment = first.frame
        ? { frame: first.frame, start: first.start, end: first.start + n }
        : { records: first.records!, start: first.start, end: first.start + n };
      first.start += n;
      if (first.start === first.end) this.advanceChunk();
      this.size -= n;
      return n === first.records?.length && seg.start === 0
        ? RecordBatch.of(first.records)
        : new RecordBatch([seg], n);
    }
    const segs: BatchSegment[] = [];
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.head]!;
      const count = Math.min(n - filled, c.end - c.start);
      segs.push(
        c.frame
          ? { frame: c.frame, start: c.start, end: c.start + count }
          : { records: c.records!, start: c.start, end: c.start + count },
      );
      filled += count;
      c.start += count;
      if (c.start === c.end) this.advanceChunk();
    }
    this.size -= n;
    return new RecordBatch(segs, n);
  }

  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[this.head]!;
      const count = Math.min(left, c.end - c.start);
      left -= count;
      c.start += count;
      if (c.start === c.end) this.advanceChunk();
    }
    this.size -= n;
  }

  private advanceChunk(): void {
    // Release the consumed chunk at once: a long queue must not pin frames already written.
    this.chunks[this.head] = CONSUMED;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    } else if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    }
  }

  private pump(): void {
    const max = this.maxInFlight;
    while (!this.aborted && this.inFlight < max && this.size > 0) {
      const due = this.flushDue || this.draining;
      if (!due && this.size < this.batchSize) break;
      const batch = this.take(Math.min(this.batchSize, this.size));
      if (this.size === 0) this.flushDue = false;
      this.inFlight++;
      this.inFlightRecords += batch.size;
      void this.writeBatch(batch).finally(() => {
        this.inFlight--;
        this.admitWaiters(false);
        this.pump();
        this.notifyIdle();
      });
    }
    this.admitWaiters(false);
  }

  private admitWaiters(force: boolean): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      if (!force && this.size > 0 && this.size + w.size > this.maxBuffer) return;
      this.waiters.shift();
      this.generated += w.size;
      this.push(w.input, w.size);
      w.resolve();
    }
    if (this.size >= this.batchSize || ((this.flushDue || this.draining) && this.size > 0)) {
      if (this.inFlight < this.maxInFlight) queueMicrotask(() => this.pump());
    }
  }

  /** Writes one batch with retries. After an abort its records were already counted as failed. */
  private async writeBatch(batch: RecordBatch): Promise<void> {
    let remaining = batch;
    let attempt = 0;
    const batchId = this.nextBatchId++;
    const signal = this.deadline.signal;
    for (;;) {
      const started = performance.now();
      let partial = 0;
      let failure: unknown;
      try {
        const request = new Request(batchId, attempt, remaining, signal);
        const result = await this.sink.write(request);
        if (this.aborted) return;
        const landed = result?.delivered;
        const held = Math.min(Math.max(Math.floor(result?.held ?? 0), 0), landed ?? remaining.size);
        if (held > 0) {
          this.inFlightRecords -= held;
          this.held += held;
        }
        if (landed === undefined || landed >= remaining.size) {
          this.settle(remaining.size - held, 'delivered');
          this.batches++;
          this.recordLatency(performance.now() - started);
          return;
        }
        const took = Math.max(0, Math.floor(landed));
        failure = new SinkWriteError(`partial write: ${took} of ${remaining.size} records landed`);
        this.settle(took - held, 'delivered');
        remaining = remaining.slice(took);
      } catch (err) {
        if (this.aborted) return;
        partial =
          err instanceof SinkWriteError ? Math.min(Math.max(err.delivered, 0), remaining.size) : 0;
        failure = err;
      }
      if (partial > 0) {
        this.settle(partial, 'delivered');
        remaining = remaining.slice(partial);
      }
      this.lastError = this.redact(errorMessage(failure));
      if (failure instanceof SinkWriteError && failure.endsSink) {
        // The sink cannot write again: it ends here; the rest of the run is failed quietly.
        this.logger.warn(`${this.name}: ends: ${this.lastError}`);
        this.abort(this.lastError);
        return;
      }
      const retryable = !(failure instanceof SinkWriteError) || failure.retryable;
      if (!retryable || attempt >= this.throughput.retryCount) {
        this.settle(remaining.size, 'failed');
        this.failedBatches++;
        this.logger.error(
          `${this.name}: batch of ${remaining.size} records failed after ${attempt + 1} attempt(s): ${this.lastError}`,
        );
        return;
      }
      attempt++;
      this.retries++;
      const waitS = Math.max(
        this.throughput.retryDelayS,
        failure instanceof SinkWriteError ? (failure.retryAfterS ?? 0) : 0,
      );
      this.logger.warn(
        `${this.name}: write failed (${this.lastError}); retry ${attempt} in ${waitS}s`,
      );
      await this.sleep(waitS * 1000);
      if (this.aborted) return;
    }
  }

  /** The sink settled records it had reported held: readable now, or lost with `error`. */
  private settleHeld(n: number, outcome: 'delivered' | 'failed', error?: unknown): void {
    if (this.aborted) return;
    const k = Math.min(Math.max(Math.floor(n), 0), this.held);
    if (k === 0) return;
    this.held -= k;
    if (outcome === 'delivered') {
      this.delivered += k;
      return;
    }
    this.failed += k;
    this.failedBatches++;
    this.lastError = this.redact(errorMessage(error ?? 'lost after it was written'));
    this.logger.error(`${this.name}: ${k} written records cannot be read: ${this.lastError}`);
  }

  private settle(n: number, outcome: 'delivered' | 'failed'): void {
    this.inFlightRecords -= n;
    if (outcome === 'delivered') this.delivered += n;
    else this.failed += n;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.retrySleeps.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.retrySleeps.add(wake);
    });
  }

  private idle(): Promise<void> {
    if (this.size === 0 && this.inFlight === 0 && this.waiters.length === 0)
      return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private notifyIdle(): void {
    if ((this.size === 0 && this.inFlight === 0 && this.waiters.length === 0) || this.aborted) {
      for (const r of this.idleResolvers.splice(0)) r();
    }
  }

  private recordLatency(ms: number): void {
    this.latencyCount++;
    this.latencySum += ms;
    if (ms > this.latencyMax) this.latencyMax = ms;
    if (this.latencies.length < LATENCY_WINDOW) this.latencies.push(ms);
    else this.latencies[this.latencyCount % LATENCY_WINDOW] = ms;
  }

  private latencyStats(): LatencyStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
    return {
      count: this.latencyCount,
      mean: this.latencyCount ? this.latencySum / this.latencyCount : 0,
      p50: q(0.5),
      p99: q(0.99),
      max: this.latencyMax,
    };
  }
}

class Request implements WriteRequest {
  constructor(
    readonly batchId: number,
    readonly attempt: number,
    readonly batch: RecordBatch,
    readonly signal: AbortSignal,
  ) {}
  get size(): number {
    return this.batch.size;
  }
  get records(): readonly SensorRecord[] {
    return this.batch.records;
  }
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
