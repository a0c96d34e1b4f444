import { afterEach, describe, expect, it, jest } from '@jest/globals';
import {
  DataGenerator,
  SensorRecord,
  Sink,
  SinkRunner,
  SinkWriteError,
  type SinkMetrics,
  type ThroughputOptions,
  type WriteRequest,
  type WriteResult,
} from '../src/index.js';

function records(n: number, from = 0): SensorRecord[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new SensorRecord(
        `s${from + i}`,
        'lab',
        'lab-001',
        from + i,
        'u',
        'flow',
        1000 + from + i,
        0,
        1e9,
        1,
        false,
      ),
  );
}
const names = (rs: readonly SensorRecord[]): number[] => rs.map((r) => r.value);

/** A sink whose writes wait until the test opens the gate; it records every batch. */
class GatedSink extends Sink {
  static override readonly type = 'gated';
  readonly batches: SensorRecord[][] = [];
  readonly batchIds: number[] = [];
  readonly attempts: number[] = [];
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => {};
  fail: ((call: number) => Error | undefined) | undefined;
  calls = 0;
  constructor(readonly t: ThroughputOptions = {}) {
    super();
  }
  async connect(): Promise<void> {}
  close_ = false;
  hold(): void {
    this.gate = new Promise((r) => (this.open = r));
  }
  release(): void {
    this.open();
    this.gate = Promise.resolve();
  }
  async write(request: WriteRequest): Promise<void> {
    const rs = request.records;
    this.calls++;
    this.batchIds.push(request.batchId);
    this.attempts.push(request.attempt);
    await this.gate;
    const err = this.fail?.(this.calls);
    if (err) throw err;
    this.batches.push([...rs]);
  }
  override async close(): Promise<void> {
    this.close_ = true;
  }
  get delivered(): SensorRecord[] {
    return this.batches.flat();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const balanced = (m: SinkMetrics): void =>
  expect(m.generated).toBe(m.delivered + m.dropped.total + m.failed + m.buffered);

afterEach(() => {
  jest.useRealTimers();
});

describe('SinkRunner flushing', () => {
  it('writes a full batch at once, without waiting for the rate timer', async () => {
    const sink = new GatedSink({ batchSize: 10, rateHz: 0.0001 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(9));
    await tick();
    expect(sink.batches).toHaveLength(0);
    void runner.enqueue(records(3, 9));
    await tick();
    expect(sink.batches.map((b) => b.length)).toEqual([10]);
    await runner.stop();
    expect(sink.batches.map((b) => b.length)).toEqual([10, 2]);
  });

  it('flushes a partial batch when 1 / rate_hz has passed', async () => {
    jest.useFakeTimers();
    const sink = new GatedSink({ batchSize: 100, rateHz: 2 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(5));
    await jest.advanceTimersByTimeAsync(400);
    expect(sink.batches).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(150);
    expect(sink.batches.map((b) => b.length)).toEqual([5]);
    await runner.stop();
  });

  it('with rate_hz null, flushes on every tick', async () => {
    const sink = new GatedSink({ batchSize: 100 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(5));
    await tick();
    void runner.enqueue(records(5, 5));
    await tick();
    expect(sink.batches.map((b) => b.length)).toEqual([5, 5]);
    await runner.stop();
  });

  it('keeps order and writes one batch at a time', async () => {
    const sink = new GatedSink({ batchSize: 4 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    sink.hold();
    for (let i = 0; i < 5; i++) void runner.enqueue(records(4, i * 4));
    await tick();
    expect(sink.calls).toBe(1);
    sink.release();
    await runner.stop();
    expect(names(sink.delivered)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('SinkRunner backpressure under a slow sink', () => {
  async function overload(backpressure: ThroughputOptions['backpressure']) {
    const sink = new GatedSink({ batchSize: 10, maxBufferSize: 30, backpressure });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    sink.hold();
    const waits: (Promise<void> | undefined)[] = [];
    for (let i = 0; i < 10; i++) waits.push(runner.enqueue(records(10, i * 10)));
    await tick();
    const during = runner.metrics();
    sink.release();
    await Promise.all(waits);
    await runner.stop();
    return { sink, during, after: runner.metrics(), waits };
  }

  it('drop_oldest keeps the newest records and counts the dropped ones', async () => {
    const { sink, during, after } = await overload('drop-oldest');
    balanced(during);
    expect(during.buffered).toBeLessThanOrEqual(40); // 30 buffered + 10 in flight
    expect(after.dropped.oldest).toBe(60);
    expect(after.dropped.newest).toBe(0);
    balanced(after);
    expect(after.buffered).toBe(0);
    // the first batch was in flight; the last 30 records survived
    expect(names(sink.delivered)).toEqual([
      ...Array.from({ length: 10 }, (_, i) => i),
      ...Array.from({ length: 30 }, (_, i) => 70 + i),
    ]);
  });

  it('drop_newest keeps the oldest records and counts the dropped ones', async () => {
    const { sink, after } = await overload('drop-newest');
    expect(after.dropped.newest).toBe(60);
    expect(after.dropped.oldest).toBe(0);
    balanced(after);
    expect(names(sink.delivered)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('block makes the producer wait for room and loses nothing', async () => {
    const { sink, during, after, waits } = await overload('block');
    expect(waits.filter(Boolean).length).toBeGreaterThan(0);
    expect(during.generated).toBeLessThan(100); // waiting batches are not yet accepted
    expect(after.dropped.total).toBe(0);
    expect(after.delivered).toBe(100);
    expect(names(sink.delivered)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('SinkRunner retries and failures', () => {
  it('retries a failed write retry_count times, then counts the batch failed with the last error', async () => {
    const sink = new GatedSink({ batchSize: 10, retryCount: 2, retryDelayS: 0.001 });
    sink.fail = () => new Error('destination down');
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    const m = runner.metrics();
    expect(sink.calls).toBe(3);
    expect(m).toMatchObject({
      retries: 2,
      failed: 10,
      delivered: 0,
      failedBatches: 1,
      lastError: 'destination down',
    });
    balanced(m);
  });

  it('does not retry a non-retryable error', async () => {
    const sink = new GatedSink({ batchSize: 10, retryCount: 5, retryDelayS: 0.001 });
    sink.fail = () => new SinkWriteError('HTTP 400: bad request', { retryable: false });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    expect(sink.calls).toBe(1);
    expect(runner.metrics()).toMatchObject({ retries: 0, failed: 10 });
  });

  it('counts a partial delivery and retries only the rest', async () => {
    const sink = new GatedSink({ batchSize: 10, retryCount: 1, retryDelayS: 0.001 });
    const seen: number[][] = [];
    sink.fail = (call) =>
      call === 1 ? new SinkWriteError('3 of 10 sent', { delivered: 3 }) : undefined;
    const write = sink.write.bind(sink);
    sink.write = async (request) => {
      seen.push(names(request.records));
      return write(request);
    };
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    expect(seen[1]).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(runner.metrics()).toMatchObject({ delivered: 10, failed: 0, retries: 1 });
  });

  it('honours retryAfterS', async () => {
    jest.useFakeTimers();
    const sink = new GatedSink({ batchSize: 5, retryCount: 1, retryDelayS: 0.01 });
    sink.fail = (call) => (call === 1 ? new SinkWriteError('429', { retryAfterS: 2 }) : undefined);
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(5));
    await jest.advanceTimersByTimeAsync(1500);
    expect(sink.calls).toBe(1);
    await jest.advanceTimersByTimeAsync(600);
    expect(sink.calls).toBe(2);
    const stopping = runner.stop();
    await jest.runAllTimersAsync();
    await stopping;
    expect(runner.metrics().delivered).toBe(5);
  });
});

describe('SinkRunner stop', () => {
  it('drains everything buffered, then flushes and closes', async () => {
    const sink = new GatedSink({ batchSize: 7, rateHz: 0.0001 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    for (let i = 0; i < 5; i++) void runner.enqueue(records(5, i * 5));
    await runner.stop();
    expect(sink.delivered).toHaveLength(25);
    expect(sink.close_).toBe(true);
    expect(runner.metrics()).toMatchObject({ delivered: 25, buffered: 0 });
  });

  it('ends within the shutdown timeout when a write never resolves, counting the rest failed', async () => {
    const sink = new GatedSink({ batchSize: 10 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    sink.hold();
    void runner.enqueue(records(25));
    const started = Date.now();
    await runner.stop(0.2);
    expect(Date.now() - started).toBeLessThan(2000);
    const m = runner.metrics();
    expect(m).toMatchObject({ delivered: 0, failed: 25, buffered: 0 });
    expect(m.lastError).toMatch(/shutdown timeout/);
    sink.release();
    await tick();
    expect(runner.metrics()).toMatchObject({ delivered: 0, failed: 25 });
    balanced(runner.metrics());
  });

  it('counts records that arrive after stop as failed, never silently', async () => {
    const sink = new GatedSink();
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    await runner.stop();
    void runner.enqueue(records(3));
    expect(runner.metrics()).toMatchObject({ generated: 3, failed: 3 });
  });
});

describe('sink contract v2', () => {
  it('a retry carries the batch id of the failed attempt, and attempt counts up', async () => {
    const sink = new GatedSink({ batchSize: 5, retryCount: 2, retryDelayS: 0.001 });
    sink.fail = (call) => (call <= 2 ? new Error('down') : undefined);
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    expect(sink.batchIds.slice(0, 3)).toEqual([
      sink.batchIds[0],
      sink.batchIds[0],
      sink.batchIds[0],
    ]);
    expect(sink.attempts.slice(0, 3)).toEqual([0, 1, 2]);
    expect(sink.batchIds[3]).not.toBe(sink.batchIds[0]);
    expect(runner.metrics()).toMatchObject({ delivered: 10, retries: 2 });
  });

  it('a write that lands part of a batch and then throws: the landed part counts once, the rest is retried under the same id', async () => {
    const landed: number[] = [];
    const ids: number[] = [];
    class HalfThenThrow extends Sink {
      static override readonly type = 'half';
      calls = 0;
      async connect(): Promise<void> {}
      async write(request: WriteRequest): Promise<void> {
        ids.push(request.batchId);
        this.calls++;
        if (this.calls === 1) {
          const half = request.records.slice(0, 4);
          landed.push(...names(half));
          throw new SinkWriteError('connection reset after 4 records', { delivered: 4 });
        }
        landed.push(...names(request.records));
      }
    }
    const sink = new HalfThenThrow();
    const runner = new SinkRunner(sink, { throughput: { batchSize: 10, retryDelayS: 0 } });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    expect(landed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids).toEqual([ids[0], ids[0]]);
    expect(runner.metrics()).toMatchObject({ delivered: 10, failed: 0, retries: 1 });
  });

  it('a write may report a partial delivery as its result instead of throwing', async () => {
    const sizes: number[] = [];
    class Partial extends Sink {
      static override readonly type = 'partial';
      async connect(): Promise<void> {}
      async write(request: WriteRequest): Promise<WriteResult> {
        sizes.push(request.size);
        return { delivered: Math.min(request.size, 6) };
      }
    }
    const runner = new SinkRunner(new Partial(), {
      throughput: { batchSize: 10, retryDelayS: 0, retryCount: 1 },
    });
    await runner.start();
    void runner.enqueue(records(10));
    await runner.stop();
    expect(sizes).toEqual([10, 4]);
    expect(runner.metrics()).toMatchObject({ delivered: 10, retries: 1, failed: 0 });
  });

  it('close() never runs while a write is in flight unless the signal fired first', async () => {
    const events: string[] = [];
    class Watched extends Sink {
      static override readonly type = 'watched';
      async connect(): Promise<void> {}
      async write(request: WriteRequest): Promise<void> {
        events.push('write');
        await new Promise<void>((resolve) =>
          request.signal.addEventListener('abort', () => {
            events.push('signal');
            resolve();
          }),
        );
      }
      override async close(): Promise<void> {
        events.push('close');
      }
    }
    const runner = new SinkRunner(new Watched(), { throughput: { batchSize: 5 } });
    await runner.start();
    void runner.enqueue(records(5));
    await runner.stop(0.2);
    expect(events).toEqual(['write', 'signal', 'close']);
    expect(runner.metrics()).toMatchObject({ failed: 5, delivered: 0 });
  });

  it('keeps several writes in flight when the sink allows it, and no more', async () => {
    let inFlight = 0;
    let peak = 0;
    class Concurrent extends Sink {
      static override readonly type = 'concurrent';
      static override readonly capabilities = {
        ordered: true,
        maxInFlight: 4,
        defaultInFlight: 3,
        idempotentRetry: false,
        singleton: false,
      };
      async connect(): Promise<void> {}
      async write(): Promise<void> {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
      }
    }
    const runner = new SinkRunner(new Concurrent(), { throughput: { batchSize: 2 } });
    expect(runner.throughput.maxInFlight).toBe(3);
    await runner.start();
    void runner.enqueue(records(40));
    await runner.stop();
    expect(peak).toBe(3);
    expect(runner.metrics().delivered).toBe(40);
    expect(() => new SinkRunner(new Concurrent(), { throughput: { maxInFlight: 5 } })).toThrow(
      /maxInFlight: must be <= 4 for the concurrent sink/,
    );
    expect(() => new SinkRunner(new GatedSink(), { throughput: { maxInFlight: 2 } })).toThrow(
      /must be <= 1 for the gated sink \(it writes one batch at a time, in order\)/,
    );
  });

  it('rejects bad throughput options with their names', () => {
    expect(
      () => new SinkRunner(new GatedSink(), { throughput: { batchSize: 0, retryCount: -1 } }),
    ).toThrow(/batchSize: must be >= 1[\s\S]*retryCount: must be >= 0/);
  });

  it('drop_oldest never drops an input by its own size (a tick larger than the buffer)', async () => {
    const sink = new GatedSink({ batchSize: 10, maxBufferSize: 20 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    sink.hold();
    void runner.enqueue(records(30)); // one tick of 30 channels into a buffer of 20
    const m = runner.metrics();
    expect(m.dropped.total).toBe(0);
    sink.release();
    await runner.stop();
    expect(runner.metrics()).toMatchObject({ delivered: 30, dropped: { total: 0 } });
  });

  it('takes frames: batches are views of frame ranges, in order', async () => {
    const gen = new DataGenerator({ industries: ['mining'], seed: 3 });
    const frame = gen.generate(0, Float64Array.from([100, 101, 102]), 1);
    const sink = new GatedSink({ batchSize: 7 });
    const runner = new SinkRunner(sink, { throughput: sink.t });
    await runner.start();
    void runner.enqueue(frame);
    await runner.stop();
    const got = sink.delivered.map((r) => r.toDict());
    expect(got).toEqual(frame.records().map((r) => r.toDict()));
    expect(got).toHaveLength(3 * gen.sensorCount);
  });
});

describe('held records (written, not yet readable)', () => {
  /** Holds every batch like an open Parquet file; completes a "file" every `per` batches. */
  class HoldingSink extends Sink {
    static override readonly type = 'holding';
    private held = 0;
    private batches = 0;
    constructor(
      private readonly per: number,
      private readonly closeFails = false,
      private readonly settleOnClose = true,
    ) {
      super();
    }
    async connect(): Promise<void> {}
    async write(request: WriteRequest): Promise<WriteResult> {
      if (++this.batches % this.per === 0) {
        this.confirmHeld(this.held);
        this.held = 0;
      }
      this.held += request.size;
      return { held: request.size };
    }
    override async close(): Promise<void> {
      if (!this.settleOnClose) return;
      if (this.closeFails) {
        this.loseHeld(this.held, new Error('ENOSPC: no space left on device'));
        throw new Error('ENOSPC: no space left on device');
      }
      this.confirmHeld(this.held);
    }
  }

  it('count as buffered while held, then delivered when the sink confirms them', async () => {
    const runner = new SinkRunner(new HoldingSink(3), { throughput: { batchSize: 10 } });
    await runner.start();
    void runner.enqueue(records(50));
    await new Promise((r) => setTimeout(r, 50));
    const m = runner.metrics();
    expect(m.held).toBeGreaterThan(0);
    expect(m.generated).toBe(m.delivered + m.failed + m.dropped.total + m.buffered);
    expect(m.delivered).toBe(20); // the 3rd write completed the first two batches
    await runner.stop(5);
    expect(runner.metrics()).toMatchObject({ delivered: 50, held: 0, buffered: 0, failed: 0 });
  });

  it('lost held records are failed with the error; held records nobody settles fail at close', async () => {
    const lost = new SinkRunner(new HoldingSink(100, true), { throughput: { batchSize: 10 } });
    await lost.start();
    void lost.enqueue(records(30));
    await lost.stop(5);
    expect(lost.metrics()).toMatchObject({ delivered: 0, failed: 30, held: 0, buffered: 0 });
    expect(lost.metrics().lastError).toMatch(/ENOSPC/);
    const silent = new SinkRunner(new HoldingSink(100, false, false), {
      throughput: { batchSize: 10 },
    });
    await silent.start();
    void silent.enqueue(records(30));
    await silent.stop(5);
    expect(silent.metrics()).toMatchObject({ delivered: 0, failed: 30, held: 0 });
    expect(silent.metrics().lastError).toMatch(/closed without completing them/);
  });
});
