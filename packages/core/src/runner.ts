import { SinkWriteError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import type { SensorRecord } from './models.js';
import { redact } from './secrets.js';
import type { Sink } from './sink.js';

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
  /** Records in the buffer or in a write not yet finished. */
  buffered: number;
  /** Batches written successfully. */
  batches: number;
  /** Batches given up on. */
  failedBatches: number;
  /** The last write error, secrets redacted. */
  lastError: string | undefined;
  /** Latency of successful writes. */
  writeLatencyMs: LatencyStats;
}

/** Options of a SinkRunner. */
export interface SinkRunnerOptions {
  /** Display name for logs and summaries. Default: the sink type. */
  name?: string;
  /** Where the runner and its sink log. */
  logger?: Logger;
}

interface Waiter {
  records: readonly SensorRecord[];
  resolve: () => void;
}

const LATENCY_WINDOW = 2048;
const CONSUMED: readonly SensorRecord[] = Object.freeze([]);

/**
 * Buffers records for one sink and writes them according to its throughput options: as soon as
 * `batchSize` records are buffered, or when `1 / rateHz` seconds have passed (every tick when
 * `rateHz` is null). Applies backpressure, retries failed writes and keeps exact counters.
 */
export class SinkRunner {
  readonly sink: Sink;
  readonly name: string;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly maxBuffer: number;

  // Buffer: a queue of immutable chunks, read from `head` at `offset`.
  private chunks: (readonly SensorRecord[])[] = [];
  private head = 0;
  private offset = 0;
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
    this.batchSize = sink.throughput.batchSize;
    this.maxBuffer = sink.throughput.maxBufferSize;
  }

  /** Attaches the logger and connects the sink; starts the rate timer. */
  async start(): Promise<void> {
    this.sink.attach({ logger: this.logger });
    await this.sink.connect();
    const rate = this.sink.throughput.rateHz;
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
   * Hands a batch to the runner. Returns a promise when the generator must wait for room
   * (policy `block`, or `wait` set as in a backfill); otherwise undefined.
   */
  enqueue(records: readonly SensorRecord[], wait = false): Promise<void> | undefined {
    const n = records.length;
    if (n === 0) return undefined;
    if (this.aborted || this.draining) {
      // Records arriving after stop are counted and failed, never silently lost.
      this.generated += n;
      this.failed += n;
      return undefined;
    }
    if (this.size + n > this.maxBuffer && this.size > 0) {
      const policy = this.sink.throughput.backpressure;
      if (wait || policy === 'block') {
        return new Promise((resolve) => this.waiters.push({ records, resolve }));
      }
      if (policy === 'drop-newest') {
        const room = Math.max(0, this.maxBuffer - this.size);
        this.generated += n;
        this.droppedNewest += n - room;
        if (room > 0) this.push(records.slice(0, room));
        this.afterEnqueue();
        return undefined;
      }
    }
    this.generated += n;
    this.push(records);
    if (
      this.size > this.maxBuffer &&
      this.sink.throughput.backpressure === 'drop-oldest' &&
      !wait
    ) {
      const excess = this.size - this.maxBuffer;
      this.discard(excess);
      this.droppedOldest += excess;
    }
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
      buffered: this.size + this.inFlightRecords,
      batches: this.batches,
      failedBatches: this.failedBatches,
      lastError: this.lastError,
      writeLatencyMs: this.latencyStats(),
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
      this.lastError = redact(errorMessage(err));
      this.logger.error(`${this.name}: flush failed: ${this.lastError}`);
    }
    if (timedOut) this.abort(`shutdown timeout of ${timeoutS}s reached`);
    try {
      await Promise.race([this.sink.close(), timedOut ? Promise.resolve() : expired]);
    } catch (err) {
      this.logger.error(`${this.name}: close failed: ${redact(errorMessage(err))}`);
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Gives up at once: buffered and in-flight records count as failed. */
  abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = true;
    const lost = this.size + this.inFlightRecords;
    if (lost > 0) {
      this.failed += lost;
      this.lastError ??= reason;
      this.logger.warn(`${this.name}: ${lost} records not delivered: ${reason}`);
    }
    this.discard(this.size);
    this.inFlightRecords = 0;
    for (const w of this.waiters.splice(0)) {
      this.generated += w.records.length;
      this.failed += w.records.length;
      w.resolve();
    }
    for (const wake of this.retrySleeps) wake();
    this.notifyIdle();
  }

  private push(records: readonly SensorRecord[]): void {
    this.chunks.push(records);
    this.size += records.length;
  }

  private afterEnqueue(): void {
    if (this.sink.throughput.rateHz === null) this.flushDue = true;
    if (this.size >= this.batchSize || this.flushDue) this.pump();
  }

  private take(n: number): readonly SensorRecord[] {
    const first = this.chunks[this.head]!;
    if (this.offset === 0 && first.length === n) {
      this.advanceChunk();
      this.size -= n;
      return first;
    }
    const out: SensorRecord[] = new Array<SensorRecord>(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(n - filled, chunk.length - this.offset);
      for (let i = 0; i < count; i++) out[filled + i] = chunk[this.offset + i]!;
      filled += count;
      this.offset += count;
      if (this.offset === chunk.length) this.advanceChunk();
    }
    this.size -= n;
    return out;
  }

  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(left, chunk.length - this.offset);
      left -= count;
      this.offset += count;
      if (this.offset === chunk.length) this.advanceChunk();
    }
    this.size -= n;
  }

  private advanceChunk(): void {
    // Release the consumed chunk at once: a long queue must not pin records already written.
    this.chunks[this.head] = CONSUMED;
    this.head++;
    this.offset = 0;
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    } else if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    }
  }

  private pump(): void {
    const max = this.sink.throughput.maxInFlight;
    while (!this.aborted && this.inFlight < max && this.size > 0) {
      const due = this.flushDue || this.draining;
      if (!due && this.size < this.batchSize) break;
      const batch = this.take(Math.min(this.batchSize, this.size));
      if (this.size === 0) this.flushDue = false;
      this.inFlight++;
      this.inFlightRecords += batch.length;
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
      if (!force && this.size > 0 && this.size + w.records.length > this.maxBuffer) return;
      this.waiters.shift();
      this.generated += w.records.length;
      this.push(w.records);
      w.resolve();
    }
    if (this.size >= this.batchSize || ((this.flushDue || this.draining) && this.size > 0)) {
      if (this.inFlight < this.sink.throughput.maxInFlight) queueMicrotask(() => this.pump());
    }
  }

  /** Writes one batch with retries. After an abort its records were already counted as failed. */
  private async writeBatch(batch: readonly SensorRecord[]): Promise<void> {
    let remaining = batch;
    let attempt = 0;
    for (;;) {
      const started = performance.now();
      try {
        await this.sink.write(remaining);
        if (this.aborted) return;
        this.settle(remaining.length, 'delivered');
        this.batches++;
        this.recordLatency(performance.now() - started);
        return;
      } catch (err) {
        if (this.aborted) return;
        const partial =
          err instanceof SinkWriteError
            ? Math.min(Math.max(err.delivered, 0), remaining.length)
            : 0;
        if (partial > 0) {
          this.settle(partial, 'delivered');
          remaining = remaining.slice(partial);
        }
        this.lastError = redact(errorMessage(err));
        const retryable = !(err instanceof SinkWriteError) || err.retryable;
        if (!retryable || attempt >= this.sink.throughput.retryCount) {
          this.settle(remaining.length, 'failed');
          this.failedBatches++;
          this.logger.error(
            `${this.name}: batch of ${remaining.length} records failed after ${attempt + 1} attempt(s): ${this.lastError}`,
          );
          return;
        }
        attempt++;
        this.retries++;
        const waitS = Math.max(
          this.sink.throughput.retryDelayS,
          err instanceof SinkWriteError ? (err.retryAfterS ?? 0) : 0,
        );
        this.logger.warn(
          `${this.name}: write failed (${this.lastError}); retry ${attempt} in ${waitS}s`,
        );
        await this.sleep(waitS * 1000);
        if (this.aborted) return;
      }
    }
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

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
