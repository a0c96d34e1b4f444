// Disk errors from the real kernel: opens are redirected to /dev/full (every write fails with
// ENOSPC) or refused with EACCES (these tests run as root, where chmod does not stop writes).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import type * as FsPromises from 'node:fs/promises';
import type { SensorRecord, ThroughputOptions } from '@iotsim/core';

const fsp = createRequire(import.meta.url)('fs/promises') as typeof FsPromises;

/** How the next opens behave: 'ok' for a real file, 'full' for /dev/full, 'denied' for EACCES. */
let plan: Array<'ok' | 'full' | 'denied'> = [];
let otherwise: 'ok' | 'full' | 'denied' = 'ok';

jest.unstable_mockModule('node:fs/promises', () => ({
  ...fsp,
  default: fsp,
  open: async (path: string, flags?: string, mode?: number) => {
    if (typeof path !== 'string' || !path.includes('sensor_data_'))
      return fsp.open(path, flags, mode);
    const next = plan.shift() ?? otherwise;
    if (next === 'full') return fsp.open('/dev/full', 'w');
    if (next === 'denied') {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), {
        code: 'EACCES',
        errno: -13,
        syscall: 'open',
        path,
      });
    }
    return fsp.open(path, flags, mode);
  },
}));

const {
  IotSimError,
  SinkRunner,
  SinkWriteError,
  SensorRecord: Record_,
} = await import('@iotsim/core');
const { FileWriteError } = await import('../src/file-writers.js');
const { makeRecords, tempDirs, dicts, writeRequest } = await import('@iotsim/test-utils');
const { FileSink } = await import('../src/index.js');
const { outputFiles, readOutputFile } = await import('./read-back.js');

const freshDir = tempDirs('iotsim-file-err-');
beforeEach(() => {
  plan = [];
  otherwise = 'ok';
});

async function run(
  sink: InstanceType<typeof FileSink>,
  records: readonly SensorRecord[],
  throughput: ThroughputOptions = {},
): Promise<ReturnType<InstanceType<typeof SinkRunner>['metrics']>> {
  const runner = new SinkRunner(sink, { throughput });
  await runner.start();
  void runner.enqueue(records);
  await runner.stop(30);
  return runner.metrics();
}

describe('FileSink disk errors', () => {
  it.each(['csv', 'json'] as const)(
    '%s: ENOSPC fails the batch with the path in the message, after retries',
    async (format) => {
      otherwise = 'full';
      const dir = await freshDir();
      const sink = new FileSink({ path: dir, format });
      const m = await run(sink, makeRecords(200, { seed: 41 }), {
        retryCount: 2,
        retryDelayS: 0.01,
        batchSize: 1000,
      });
      expect(m.delivered).toBe(0);
      expect(m.failed).toBe(200);
      expect(m.retries).toBe(2);
      expect(m.lastError).toMatch(/ENOSPC/);
      expect(m.lastError).toContain(join(dir, 'sensor_data_'));
    },
  );

  it('reports the records that landed before the disk filled (delivered: k)', async () => {
    plan = ['ok'];
    otherwise = 'full';
    const dir = await freshDir();
    const base = makeRecords(10, { awkward: false, seed: 42 });
    const records = base.map((r, i) =>
      Record_.fromDict({ ...r.toDict(), timestamp: i < 6 ? 100 + i : 4000 + i }),
    );
    const sink = new FileSink({ path: dir, format: 'json', rotation: '1h' });
    await sink.connect();
    const err = await sink.write(writeRequest(records)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkWriteError);
    expect((err as InstanceType<typeof SinkWriteError>).delivered).toBe(6);
    expect((err as InstanceType<typeof SinkWriteError>).retryable).toBe(true);
    // The cause: the path-naming FileWriteError, in the IotSimError tree, errno code kept.
    const cause = (err as Error).cause;
    expect(cause).toBeInstanceOf(FileWriteError);
    expect(cause).toBeInstanceOf(IotSimError);
    expect(cause).not.toBeInstanceOf(SinkWriteError);
    expect(cause).toMatchObject({ name: 'FileWriteError', code: 'ENOSPC' });
    await sink.close();
    // The first window's file was completed before the second was started.
    const [first] = await outputFiles(dir);
    expect(await readOutputFile(join(dir, first!))).toEqual(dicts(records.slice(0, 6)));
  });

  it('a retry after ENOSPC starts a new file and delivers everything', async () => {
    plan = ['full'];
    const dir = await freshDir();
    const records = makeRecords(300, { seed: 43 });
    const sink = new FileSink({ path: dir, format: 'csv' });
    const m = await run(sink, records, { retryCount: 3, retryDelayS: 0.01, batchSize: 1000 });
    expect(m).toMatchObject({ delivered: 300, failed: 0, retries: 1 });
    const files = await outputFiles(dir);
    expect(files).toHaveLength(1);
    expect(await readOutputFile(join(dir, files[0]!))).toEqual(dicts(records));
  });

  it('EACCES is not retried', async () => {
    otherwise = 'denied';
    const dir = await freshDir();
    const sink = new FileSink({ path: dir });
    const m = await run(sink, makeRecords(50, { seed: 44 }), { retryCount: 5, retryDelayS: 0.01 });
    expect(m).toMatchObject({ delivered: 0, failed: 50, retries: 0 });
    expect(m.lastError).toMatch(/file sink: EACCES: permission denied, open '.*sensor_data_/);
    const direct = new FileSink({ path: await freshDir() });
    await direct.connect();
    const err = await direct.write(writeRequest(makeRecords(5))).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false });
    expect((err as Error).cause).toBeInstanceOf(FileWriteError);
    expect((err as Error).cause).toMatchObject({ code: 'EACCES' });
  });

  it('parquet: ENOSPC surfaces on a write or on close, naming the file', async () => {
    otherwise = 'full';
    const dir = await freshDir();
    const sink = new FileSink({ path: dir, format: 'parquet', rowGroupSize: 100 });
    await sink.connect();
    const records = makeRecords(5_000, { seed: 45 });
    const attempt = async (): Promise<void> => {
      for (let i = 0; i < records.length; i += 500)
        await sink.write(writeRequest(records.slice(i, i + 500)));
      await sink.close();
    };
    const err = (await attempt().catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`writing ${join(dir, 'sensor_data_')}`);
    expect(err.message).toMatch(/\.parquet: ENOSPC: no space left on device/);
    await sink.close();
  });

  it('parquet: a file whose footer cannot be written is removed and its records fail (exit-1 path), never delivered', async () => {
    otherwise = 'full';
    const dir = await freshDir();
    const sink = new FileSink({ path: dir, format: 'parquet' });
    const records = makeRecords(2_000, { seed: 46 });
    const m = await run(sink, records, { retryCount: 2, retryDelayS: 0.01, batchSize: 500 });
    // Every write "landed" in the open file, but no reader could ever read them.
    expect(m.delivered).toBe(0);
    expect(m.failed).toBe(2_000);
    expect(m.held).toBe(0);
    expect(m.buffered).toBe(0);
    expect(m.generated).toBe(m.delivered + m.failed + m.dropped.total + m.buffered);
    expect(m.lastError).toMatch(
      /sensor_data_\S+\.parquet lost \(could not be completed; removed\): .*ENOSPC/,
    );
    expect(m.sinkMetrics).toMatchObject({ files_lost: 1 });
    expect(await outputFiles(dir)).toEqual([]);
  });

  it('parquet with rotation: completed files are delivered and read back; the lost one moves its records to failed', async () => {
    plan = ['ok', 'ok'];
    otherwise = 'full';
    const dir = await freshDir();
    const base = makeRecords(900, { awkward: false, seed: 47 });
    // Three hours of record time, 300 records each: three hourly files, the third on a full disk.
    const records = base.map((r, i) =>
      Record_.fromDict({ ...r.toDict(), timestamp: 3600 * Math.floor(i / 300) + (i % 300) }),
    );
    const sink = new FileSink({ path: dir, format: 'parquet', rotation: '1h' });
    const m = await run(sink, records, { retryCount: 1, retryDelayS: 0.01, batchSize: 100 });
    expect(m.delivered).toBe(600);
    expect(m.failed).toBe(300);
    expect(m.generated).toBe(m.delivered + m.failed + m.buffered);
    const files = await outputFiles(dir);
    expect(files).toHaveLength(2);
    const read = [];
    for (const f of files) read.push(...(await readOutputFile(join(dir, f))));
    expect(read).toEqual(dicts(records.slice(0, 600)));
  });

  it('parquet: rows of the open file count as held (buffered) until its footer, then delivered', async () => {
    const dir = await freshDir();
    const sink = new FileSink({ path: dir, format: 'parquet', rotation: '1h' });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 100, maxInFlight: 4 } });
    await runner.start();
    const base = makeRecords(400, { awkward: false, seed: 48 });
    const records = base.map((r, i) =>
      Record_.fromDict({ ...r.toDict(), timestamp: i < 200 ? i : 3600 + i }),
    );
    void runner.enqueue(records.slice(0, 200));
    await new Promise((r) => setTimeout(r, 300));
    expect(runner.metrics()).toMatchObject({ delivered: 0, held: 200, buffered: 200 });
    // The next window completes the first file: its 200 records are delivered.
    void runner.enqueue(records.slice(200));
    await new Promise((r) => setTimeout(r, 300));
    expect(runner.metrics()).toMatchObject({ delivered: 200, held: 200 });
    await runner.stop(30);
    expect(runner.metrics()).toMatchObject({ delivered: 400, held: 0, buffered: 0, failed: 0 });
  });

  it.each(['csv', 'parquet'] as const)(
    '%s: max_file_rows and max_file_age bound the open file',
    async (format) => {
      const dir = await freshDir();
      const records = makeRecords(1_000, { awkward: false, seed: 49 });
      const m = await run(new FileSink({ path: dir, format, maxFileRows: 300 }), records, {
        batchSize: 128,
      });
      expect(m.delivered).toBe(1_000);
      const files = await outputFiles(dir);
      const sizes = [];
      const read = [];
      for (const f of files) {
        const rows = await readOutputFile(join(dir, f));
        sizes.push(rows.length);
        read.push(...rows);
      }
      expect(sizes).toEqual([300, 300, 300, 100]);
      expect(read).toEqual(dicts(records));
      // Age: a file open 1 s is completed at the next write.
      const aged = await freshDir();
      const sink = new FileSink({ path: aged, format, maxFileAge: '1s' });
      const runner = new SinkRunner(sink, { throughput: { batchSize: 100 } });
      await runner.start();
      void runner.enqueue(records.slice(0, 100));
      await new Promise((r) => setTimeout(r, 1_200));
      void runner.enqueue(records.slice(100, 200));
      await runner.stop(30);
      expect(runner.metrics().delivered).toBe(200);
      expect(await outputFiles(aged)).toHaveLength(2);
    },
  );

  it('max_file_rows and max_file_age are validated', () => {
    expect(() => new FileSink({ maxFileRows: 0 })).toThrow(/maxFileRows: must be >= 1, got 0/);
    expect(() => new FileSink({ maxFileAge: '7x' })).toThrow(
      /maxFileAge: must be a whole number and a unit s, m, h or d/,
    );
  });
});
