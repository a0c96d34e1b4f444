import { afterAll, describe, expect, it } from '@jest/globals';
import {
  SinkRunner,
  type SensorRecord,
  type SensorRecordDict,
  type Sink,
  type SinkMetrics,
  type ThroughputOptions,
} from '@iotsim/core';
import { chunked, dicts, makeRecords, writeRequest } from './records.js';

/** What a sink package tells the conformance suite about its destination. */
export interface ConformanceTarget<S extends Sink = Sink> {
  /** A fresh sink writing to a fresh, empty destination (the suite gives the runner its throughput options). */
  create(): Promise<S> | S;
  /** Everything the destination holds from this sink (after it was stopped), as record dicts. */
  readBack(sink: S): Promise<SensorRecordDict[]>;
  /** True when the destination keeps delivery order (default). False: compared as sets. */
  ordered?: boolean;
  /** Maps a generated record to what the destination is expected to return (e.g. precision). */
  expected?(record: SensorRecordDict): SensorRecordDict;
  /** Removes what `create` made. */
  cleanup?(): Promise<void>;
  /** Records per test. Default 1,000. */
  count?: number;
}

/** Runs `records` through a SinkRunner (ticks of `tick` records), stops it, and returns its counters. */
export async function runThrough(
  sink: Sink,
  records: readonly SensorRecord[],
  options: {
    tick?: number;
    stopTimeoutS?: number;
    wait?: boolean;
    throughput?: ThroughputOptions;
  } = {},
): Promise<SinkMetrics> {
  const runner = new SinkRunner(sink, { throughput: options.throughput });
  await runner.start();
  for (const batch of chunked(records, options.tick ?? 37)) {
    const waiting = runner.enqueue(batch, options.wait ?? true);
    if (waiting) await waiting;
  }
  await runner.stop(options.stopTimeoutS ?? 60);
  return runner.metrics();
}

/** Checks `generated = delivered + dropped + failed + buffered`. */
export function expectAccounting(m: SinkMetrics): void {
  expect(m.generated).toBe(m.delivered + m.dropped.total + m.failed + m.buffered);
}

function key(d: SensorRecordDict): string {
  return `${d.industry}|${d.device_id}|${d.sensor_name}|${d.timestamp}`;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return condition();
}

/**
 * The contract every sink keeps: every record delivered with every field, in order; batches of at
 * most `batchSize` written as soon as they fill; everything flushed on stop; a failed write retried;
 * exact accounting. Call it at the top level of a sink package's test file.
 */
export function describeSinkConformance<S extends Sink>(
  name: string,
  target: ConformanceTarget<S>,
): void {
  const n = target.count ?? 1000;
  const expectDicts = (records: readonly SensorRecord[]): SensorRecordDict[] =>
    dicts(records).map((d) => (target.expected ? target.expected(d) : d));
  const compare = (actual: SensorRecordDict[], expected: SensorRecordDict[]): void => {
    expect(actual).toHaveLength(expected.length);
    if (target.ordered === false) {
      const sort = (a: SensorRecordDict, b: SensorRecordDict): number =>
        key(a).localeCompare(key(b));
      expect([...actual].sort(sort)).toEqual([...expected].sort(sort));
    } else {
      expect(actual).toEqual(expected);
    }
  };

  describe(`${name}: sink conformance`, () => {
    afterAll(async () => {
      await target.cleanup?.();
    });

    it('a write before connect lands, or fails at once as a SinkWriteError that is not retried', async () => {
      const sink = await target.create();
      let error: unknown;
      try {
        await sink.write(writeRequest(makeRecords(1, { seed: 3 })));
      } catch (err) {
        error = err;
      }
      // A plain Error would be retried by the runner, for a connection that never comes.
      if (error !== undefined)
        expect({
          name: (error as Error).name,
          retryable: (error as { retryable?: boolean }).retryable,
        }).toEqual({ name: 'SinkWriteError', retryable: false });
      await sink.close();
    });

    it('delivers every record with every field, in order', async () => {
      const records = makeRecords(n, { seed: 11 });
      const sink = await target.create();
      const m = await runThrough(sink, records, { throughput: { batchSize: 64 } });
      expect(m.failed).toBe(0);
      expect(m.delivered).toBe(n);
      compare(await target.readBack(sink), expectDicts(records));
    });

    it('writes batches of at most batchSize, as soon as one is full', async () => {
      const records = makeRecords(250, { seed: 12 });
      const sink = await target.create();
      const sizes: number[] = [];
      const write = sink.write.bind(sink);
      sink.write = async (request) => {
        sizes.push(request.size);
        return write(request);
      };
      const runner = new SinkRunner(sink, { throughput: { batchSize: 50, rateHz: 0.001 } });
      await runner.start();
      void runner.enqueue(records.slice(0, 50));
      // The rate timer is 1000 s away: only a full batch can trigger this write. (Written: delivered,
      // or held by a sink whose records become readable later, as in an open Parquet file.)
      const written = (): number => runner.metrics().delivered + runner.metrics().held;
      expect(await waitFor(() => written() === 50, 20_000)).toBe(true);
      void runner.enqueue(records.slice(50, 120));
      await runner.stop(60);
      runner.metrics();
      expect(Math.max(...sizes)).toBeLessThanOrEqual(50);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(120);
      compare(await target.readBack(sink), expectDicts(records.slice(0, 120)));
    });

    it('flushes a partial batch on stop', async () => {
      const records = makeRecords(30, { seed: 13 });
      const sink = await target.create();
      const runner = new SinkRunner(sink, { throughput: { batchSize: 1000, rateHz: 0.001 } });
      await runner.start();
      void runner.enqueue(records);
      await new Promise((r) => setTimeout(r, 50));
      expect(runner.metrics().delivered).toBe(0);
      await runner.stop(60);
      const m = runner.metrics();
      expect(m.delivered).toBe(30);
      expect(m.buffered).toBe(0);
      compare(await target.readBack(sink), expectDicts(records));
    });

    it('retries a failed write and loses nothing', async () => {
      const records = makeRecords(200, { seed: 14 });
      const sink = await target.create();
      const write = sink.write.bind(sink);
      let calls = 0;
      const ids: number[] = [];
      sink.write = async (request) => {
        calls++;
        ids.push(request.batchId);
        if (calls === 2) throw new Error('conformance: injected failure before the write');
        return write(request);
      };
      const m = await runThrough(sink, records, {
        throughput: { batchSize: 40, retryCount: 2, retryDelayS: 0.01 },
      });
      // The retry carries the failed batch's id.
      expect(ids[2]).toBe(ids[1]);
      expect(m.retries).toBe(1);
      expect(m.failed).toBe(0);
      expect(m.delivered).toBe(200);
      compare(await target.readBack(sink), expectDicts(records));
    });

    it('keeps order with as many writes in flight as its capabilities allow', async () => {
      const records = makeRecords(n, { seed: 16 });
      const sink = await target.create();
      const maxInFlight = Math.min(8, sink.capabilities.maxInFlight);
      const m = await runThrough(sink, records, { throughput: { batchSize: 25, maxInFlight } });
      expect(m.failed).toBe(0);
      expect(m.delivered).toBe(n);
      compare(await target.readBack(sink), expectDicts(records));
    });

    it('keeps exact accounting, and the destination holds what was delivered', async () => {
      const records = makeRecords(n, { seed: 15 });
      const sink = await target.create();
      const m = await runThrough(sink, records, {
        tick: 100,
        wait: false,
        throughput: { batchSize: 100, maxBufferSize: 300, backpressure: 'drop-newest' },
      });
      expectAccounting(m);
      expect(m.buffered).toBe(0);
      expect(m.generated).toBe(n);
      const held = await target.readBack(sink);
      expect(held).toHaveLength(m.delivered);
    });
  });
}
