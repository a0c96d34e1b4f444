// A SQLite database locked by another process must not freeze this one: the lock is held by a
// child process (better-sqlite3 in `BEGIN EXCLUSIVE`), the sink runs beside a callback sink.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import {
  SinkConnectError,
  Simulator,
  type SensorRecord,
  type SensorRecordDict,
  type SinkMetrics,
} from '@iotsim/core';
import { dicts, expectAccounting, tempDir } from '@iotsim/test-utils';
import { DatabaseSink } from '../src/index.js';
import { SqliteWriter } from '../src/internal/sqlite-writer.js';
import { rowToDict, type SensorRow } from './helpers.js';

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');
/**
 * Event-loop delay allowed while the database is locked (regression margins, not speed claims):
 * the 99th percentile stays under 50 ms (a busy timeout of even 200 ms, hit on each 100 ms retry,
 * breaks it), and no single stall reaches 1 s (the old 5 s busy timeout stalled for seconds). The
 * max alone was bounded at 50 ms before: on the shared 2-core machine at load 6–30 the scheduler
 * alone gave single stalls of 60–76 ms (p99 11–12 ms).
 */
const P99_LOOP_DELAY_MS = 50;
const MAX_LOOP_STALL_MS = 1000;

function expectLoopResponsive(h: IntervalHistogram): void {
  expect(h.percentile(99) / 1e6).toBeLessThan(P99_LOOP_DELAY_MS);
  expect(maxMs(h)).toBeLessThan(MAX_LOOP_STALL_MS);
}

let dir: { path: string; remove: () => Promise<void> };
const lockers: ChildProcessWithoutNullStreams[] = [];
/** Runs a test started and has not seen end: aborted after it, so a failed assertion cannot leave one running (and jest waiting). */
const runs: { sim: Simulator; done: Promise<unknown>; settled: boolean }[] = [];

beforeAll(async () => {
  dir = await tempDir('iotsim-sqlite-lock-');
});
afterEach(async () => {
  for (const child of lockers.splice(0)) child.kill('SIGKILL');
  for (const r of runs.splice(0)) {
    if (r.settled) continue;
    r.sim.abort('test ended');
    await r.done;
  }
});
afterAll(async () => {
  await dir.remove();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const noop = (): void => {};

/** Another process holding an exclusive lock on `file` until `release()`. */
interface Lock {
  release(): Promise<void>;
}

async function holdLock(file: string): Promise<Lock> {
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(${JSON.stringify(file)}, { timeout: 5000 });
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    const release = () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); process.exit(0); };
    process.stdin.on('data', release);
    process.stdin.on('end', release);
    setTimeout(release, 20000).unref(); // a frozen parent (the regression) still ends the lock
  `;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  lockers.push(child);
  let out = '';
  let err = '';
  const saw = (word: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.includes(word)) resolve();
      };
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child.on('exit', (code) => {
        if (!out.includes(word))
          reject(new Error(`locker exited (${code}) before '${word}': ${err}`));
      });
      check();
    });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await saw('locked');
  return {
    async release() {
      const released = saw('released');
      child.stdin.write('go\n');
      await released;
    },
  };
}

/** Rows of `table` in `file`, read through a separate connection. */
function readRows(file: string, table = 'sensor_data'): SensorRecordDict[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], SensorRow>(`SELECT * FROM "${table}" ORDER BY rowid`)
      .all()
      .map(rowToDict);
  } finally {
    db.close();
  }
}

/** Creates the database file (WAL) with the sink's table, empty. */
async function createTable(file: string): Promise<void> {
  const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
  await sink.connect();
  await sink.close();
}

/** An enabled event-loop delay monitor; a block is seen only once its timer has run, so wait a tick. */
async function loopMonitor(): Promise<IntervalHistogram> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await sleep(30);
  return h;
}
const maxMs = (h: IntervalHistogram): number => h.max / 1e6;

/** A real-time run: the database sink, then a callback sink keeping every record. */
function plant(file: string, shutdownTimeoutS: number) {
  const received: SensorRecord[] = [];
  const sim = new Simulator({
    industries: ['mining'],
    updateRateHz: 20,
    seed: 11,
    shutdownTimeoutS,
  });
  sim.addSink(new DatabaseSink({ connectionString: `sqlite:///${file}` }), {
    batchSize: 40,
    retryDelayS: 0.1,
    retryCount: 10_000,
  });
  sim.addSink((batch) => void received.push(...batch), { batchSize: 40 });
  const run = sim.runAsync();
  const entry = { sim, done: run.then(noop, noop), settled: false };
  void entry.done.then(() => (entry.settled = true));
  runs.push(entry);
  const metrics = (): { db: SinkMetrics; callback: SinkMetrics } => {
    const [db, callback] = sim.metrics();
    return { db: db!, callback: callback! };
  };
  return { sim, run, received, metrics };
}

describe('database sink on a SQLite file locked by another process', () => {
  it('keeps the event loop and the other sink running, then lands every record exactly once', async () => {
    const file = join(dir.path, 'locked-run.db');
    await createTable(file);
    const p = plant(file, 10);
    await sleep(400);
    expect(p.metrics().db.delivered).toBeGreaterThan(0);

    const lock = await holdLock(file);
    const h = await loopMonitor();
    const before = { received: p.received.length, delivered: p.metrics().db.delivered };
    await sleep(1500);
    h.disable();
    process.stderr.write(
      `locked 1.5 s: event-loop delay max ${maxMs(h).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms\n`,
    );
    expectLoopResponsive(h);
    const during = p.metrics();
    // The callback sink kept receiving; the database sink only retried.
    expect(p.received.length).toBeGreaterThan(before.received + 100);
    expect(during.db.retries).toBeGreaterThan(3);
    expect(during.db.delivered).toBeLessThanOrEqual(before.delivered + 40);
    expect(during.db.failed).toBe(0);
    expect(during.db.lastError).toMatch(
      new RegExp(
        `SQLite database ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is locked by another process \\(SQLITE_BUSY`,
      ),
    );

    await lock.release();
    await sleep(500);
    p.sim.stop();
    await p.run;
    const { db, callback } = p.metrics();
    expectAccounting(db);
    expect(db.failed).toBe(0);
    expect(db.delivered).toBe(db.generated);
    expect(callback.delivered).toBe(db.generated);
    // Exactly once, in order: the table holds the callback sink's records, no more, no fewer.
    const rows = readRows(file);
    expect(rows).toHaveLength(db.delivered);
    expect(rows).toEqual(dicts(p.received));
  }, 30_000);

  it('stops promptly while the database is still locked, with exact accounting', async () => {
    const file = join(dir.path, 'locked-stop.db');
    await createTable(file);
    const p = plant(file, 1);
    await sleep(300);
    const lock = await holdLock(file);
    await sleep(700);
    const h = await loopMonitor();
    const started = performance.now();
    p.sim.stop();
    await p.run;
    const stopMs = performance.now() - started;
    h.disable();
    expectLoopResponsive(h);
    // The shutdown timeout (1 s) bounds the drain; nothing blocks beyond it.
    expect(stopMs).toBeLessThan(2000);
    const { db, callback } = p.metrics();
    expectAccounting(db);
    expect(db.failed).toBeGreaterThan(0);
    expect(callback.failed).toBe(0);
    expect(callback.delivered).toBe(callback.generated);

    await lock.release();
    // What was not delivered was rolled back: the table holds exactly the delivered records.
    const rows = readRows(file);
    expect(rows).toHaveLength(db.delivered);
    expect(rows).toEqual(dicts(p.received.slice(0, db.delivered)));
  }, 30_000);

  it('waits asynchronously in connect while a new database is locked, then creates the table', async () => {
    const file = join(dir.path, 'locked-connect.db');
    const lock = await holdLock(file); // a new file in rollback-journal mode: even reads are locked
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
    const h = await loopMonitor();
    let connected = false;
    const connecting = sink.connect().then(() => void (connected = true));
    await sleep(600);
    expect(connected).toBe(false);
    await lock.release();
    await connecting;
    h.disable();
    expectLoopResponsive(h);
    await sink.close();
    expect(readRows(file)).toEqual([]);
  }, 30_000);

  it('fails connect with a clear error when the lock outlasts the wait', async () => {
    const file = join(dir.path, 'locked-forever.db');
    const lock = await holdLock(file);
    const saved = SqliteWriter.connectLockWaitMs;
    SqliteWriter.connectLockWaitMs = 500;
    try {
      const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
      const started = performance.now();
      const error = await sink.connect().catch((e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(3000);
      expect(error).toBeInstanceOf(SinkConnectError);
      const message = (error as Error).message;
      expect(message).toContain(`SQLite database ${file} stayed locked by another process`);
      expect(message).toContain('SQLITE_BUSY');
      expect(message).toContain("end the other process's transaction");
    } finally {
      SqliteWriter.connectLockWaitMs = saved;
      await lock.release();
    }
  }, 30_000);
});
