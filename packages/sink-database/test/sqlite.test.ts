import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  SensorRecord,
  type SensorRecordDict,
} from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  expectAccounting,
  makeRecords,
  runThrough,
  tempDir,
} from '@iotsim/test-utils';
import { DatabaseSink } from '../src/index.js';
import { INSERT_ROWS, type SqliteWriter } from '../src/internal/sqlite-writer.js';
import { makeFrame, rowToDict, writeRequest, type SensorRow } from './helpers.js';

let dir: { path: string; remove: () => Promise<void> };
let tableCount = 0;
const freshTable = (): string => `t${++tableCount}`;

beforeAll(async () => {
  dir = await tempDir('iotsim-sqlite-');
});
afterAll(async () => {
  await dir.remove();
});

/** Reads a table from a SQLite file through its own better-sqlite3 connection. */
function readFile(file: string, table: string): SensorRecordDict[] {
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

const fileOf = (sink: DatabaseSink): string => (sink.options.target as { path: string }).path;

describeSinkConformance('database (SQLite file)', {
  create() {
    return new DatabaseSink({
      connectionString: `sqlite+aiosqlite:///${join(dir.path, 'conformance.db')}`,
      table: freshTable(),
    });
  },
  async readBack(sink) {
    return readFile(fileOf(sink), sink.options.table.name);
  },
});

/**
 * An in-memory database lives only in its connection, so this sink keeps it open after the runner
 * closes it and reads it back through the same connection (with its own SELECT).
 */
class KeptMemorySink extends DatabaseSink {
  private kept: SqliteWriter | undefined;
  override async close(): Promise<void> {
    this.kept = this.writer as SqliteWriter;
  }
  rows(): SensorRecordDict[] {
    const db = this.kept!.database!;
    const rows = db
      .prepare<[], SensorRow>(`SELECT * FROM "${this.options.table.name}" ORDER BY rowid`)
      .all()
      .map(rowToDict);
    db.close();
    return rows;
  }
}

describeSinkConformance('database (SQLite :memory:)', {
  create() {
    return new KeptMemorySink({ connectionString: 'sqlite::memory:' });
  },
  async readBack(sink) {
    return sink.rows();
  },
});

describe('database sink on SQLite', () => {
  it("stores the engine's frames, read straight from their columns, field by field", async () => {
    const frames = [makeFrame(40), makeFrame(15)];
    const sink = new KeptMemorySink({ connectionString: 'sqlite::memory:' });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 333 } });
    await runner.start();
    for (const f of frames) void runner.enqueue(f);
    await runner.stop(30);
    const records = frames.flatMap((f) => f.records());
    expect(runner.metrics()).toMatchObject({ delivered: records.length, failed: 0 });
    expect(sink.rows()).toEqual(dicts(records));
  });

  it('stores every field: rows read back equal the records, metadata as JSON text', async () => {
    const file = join(dir.path, 'fields.db');
    const records = makeRecords(500, { seed: 21 });
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
    const m = await runThrough(sink, records, { throughput: { batchSize: 128 } });
    expect(m.delivered).toBe(500);
    expect(readFile(file, 'sensor_data')).toEqual(dicts(records));
    const db = new Database(file, { readonly: true });
    const raw = db
      .prepare<[], { metadata: string; fault_active: number }>(
        `SELECT metadata, fault_active FROM sensor_data WHERE sensor_name = 'tank "A", level' LIMIT 1`,
      )
      .get()!;
    db.close();
    expect(raw.fault_active).toBe(1);
    expect(JSON.parse(raw.metadata)).toEqual({
      site: 'Zürich, line 3',
      asset: 42,
      'quoted "key"': true,
    });
  });

  it('writes batches of any size through the multi-row insert and its remainder, in order', async () => {
    const file = join(dir.path, 'sizes.db');
    const sizes = [1, INSERT_ROWS - 1, INSERT_ROWS, INSERT_ROWS + 1, 3 * INSERT_ROWS + 17];
    const records = makeRecords(
      sizes.reduce((a, b) => a + b, 0),
      { seed: 23 },
    );
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
    await sink.connect();
    let at = 0;
    for (const size of sizes) {
      await sink.write(writeRequest(records.slice(at, at + size)));
      at += size;
    }
    await sink.close();
    expect(readFile(file, 'sensor_data')).toEqual(dicts(records));
  });

  it('uses WAL mode for files and indexes timestamp', async () => {
    const file = join(dir.path, 'wal.db');
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
    await runThrough(sink, makeRecords(10));
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const indexes = db
      .prepare<[], { name: string }>(`SELECT name FROM pragma_index_list('sensor_data')`)
      .all();
    const columns = db
      .prepare<[], { name: string }>(
        `SELECT name FROM pragma_index_info('sensor_data_timestamp_idx')`,
      )
      .all();
    db.close();
    expect(indexes.map((i) => i.name)).toEqual(['sensor_data_timestamp_idx']);
    expect(columns.map((c) => c.name)).toEqual(['timestamp']);
  });

  it('reuses an existing table across two sinks, appending', async () => {
    const file = join(dir.path, 'reuse.db');
    const first = makeRecords(150, { seed: 1 });
    const second = makeRecords(90, { seed: 2, start: 1_800_000_000 });
    const url = `sqlite+aiosqlite:///${file}`;
    await runThrough(new DatabaseSink({ connectionString: url, table: 'readings' }), first);
    await runThrough(new DatabaseSink({ connectionString: url, table: 'readings' }), second);
    expect(readFile(file, 'readings')).toEqual(dicts([...first, ...second]));
  });

  it('resolves relative paths against the working directory, as SQLAlchemy does', async () => {
    const cwd = process.cwd();
    process.chdir(dir.path);
    try {
      const sink = new DatabaseSink({ connectionString: 'sqlite+aiosqlite:///relative.db' });
      await runThrough(sink, makeRecords(5));
    } finally {
      process.chdir(cwd);
    }
    expect(readFile(join(dir.path, 'relative.db'), 'sensor_data')).toHaveLength(5);
  });

  it('rejects a table of a different shape, naming the missing columns', async () => {
    const file = join(dir.path, 'wrong.db');
    const db = new Database(file);
    db.exec('CREATE TABLE legacy (sensor_name TEXT, industry TEXT, value REAL, timestamp REAL)');
    db.close();
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}`, table: 'legacy' });
    const error = await sink.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkConnectError);
    const message = (error as Error).message;
    expect(message).toContain('table "legacy"');
    expect(message).toContain(
      'missing columns device_id, unit, sensor_type, min_value, max_value, nominal_value, fault_active, metadata',
    );
    expect(message).toContain('set table to a new name');
    // Nothing was changed: no index was added to the foreign table.
    const check = new Database(file, { readonly: true });
    expect(check.prepare(`SELECT name FROM pragma_index_list('legacy')`).all()).toEqual([]);
    check.close();
  });

  it('rejects a view of the same name', async () => {
    const file = join(dir.path, 'view.db');
    const db = new Database(file);
    db.exec('CREATE VIEW sensor_data AS SELECT 1 AS x');
    db.close();
    const sink = new DatabaseSink({ connectionString: `sqlite:///${file}` });
    await expect(sink.connect()).rejects.toThrow(/is a view, not a table/);
  });

  it.each([
    'x; DROP TABLE y',
    'x"; DROP TABLE y; --',
    "it's",
    '',
    'a'.repeat(64),
    'main.sensor_data',
  ])('rejects the hostile table name %j before touching the database', (table) => {
    expect(() => new DatabaseSink({ connectionString: 'sqlite::memory:', table })).toThrow(
      /table: must be a table name/,
    );
  });

  it('fails to connect with the path and the fix when the directory does not exist', async () => {
    const missing = join(dir.path, 'no', 'such', 'dir', 'x.db');
    const sink = new DatabaseSink({ connectionString: `sqlite:///${missing}` });
    const error = await sink.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkConnectError);
    expect((error as Error).message).toContain(join(dir.path, 'no', 'such', 'dir'));
    expect((error as Error).message).toContain('create it or fix the path in connection_string');
    expect(existsSync(missing)).toBe(false);
  });

  it('writes each batch in one transaction: a failing row rolls back its whole batch', async () => {
    const file = join(dir.path, 'atomic.db');
    const url = `sqlite:///${file}`;
    const setup = new DatabaseSink({ connectionString: url, table: 'atomic' });
    await setup.connect();
    await setup.close();
    const db = new Database(file);
    db.exec(`CREATE TRIGGER poison BEFORE INSERT ON atomic WHEN NEW.sensor_name = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poison row rejected'); END`);
    db.close();

    const good = makeRecords(100, { seed: 5, awkward: false });
    const poison = new SensorRecord('poison', 'x', 'x-001', 1, 'u', 'status', 2e9, 0, 1, 0, false);
    const batch = [...good.slice(50, 60), poison, ...good.slice(60, 70)];
    const sink = new DatabaseSink({ connectionString: url, table: 'atomic' });
    await sink.connect();
    await sink.write(writeRequest(good.slice(0, 50)));
    const error = await sink.write(writeRequest(batch)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkWriteError);
    expect((error as SinkWriteError).retryable).toBe(false);
    expect((error as Error).message).toContain('poison row rejected');
    await sink.write(writeRequest(good.slice(70, 100)));
    await sink.close();
    expect(readFile(file, 'atomic')).toEqual(dicts([...good.slice(0, 50), ...good.slice(70, 100)]));
  });

  it('counts a rejected batch as failed and keeps exact accounting', async () => {
    const file = join(dir.path, 'accounting.db');
    const url = `sqlite:///${file}`;
    const setup = new DatabaseSink({ connectionString: url });
    await setup.connect();
    await setup.close();
    const db = new Database(file);
    db.exec(`CREATE TRIGGER poison BEFORE INSERT ON sensor_data WHEN NEW.sensor_name = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poison'); END`);
    db.close();
    const records = makeRecords(300, { seed: 8, awkward: false });
    const poisoned = [
      ...records.slice(0, 120),
      new SensorRecord('poison', 'x', 'x-001', 1, 'u', 'status', 2e9, 0, 1, 0, false),
      ...records.slice(120),
    ];
    const sink = new DatabaseSink({ connectionString: url });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 50, retryDelayS: 0 } });
    await runner.start();
    void runner.enqueue(poisoned);
    await runner.stop(30);
    const m = runner.metrics();
    expectAccounting(m);
    expect(m.failed).toBe(50);
    expect(m.retries).toBe(0);
    expect(m.delivered).toBe(251);
    expect(readFile(file, 'sensor_data')).toHaveLength(m.delivered);
  });

  it('does not load better-sqlite3 or postgres until connect', async () => {
    const sink = new DatabaseSink({ connectionString: 'sqlite::memory:' });
    expect(sink.describe()).toBe('database (sqlite :memory:, table sensor_data)');
    const { readFileSync } = await import('node:fs');
    const source = ['database-sink', 'options', 'index', 'internal/table', 'internal/writer'].map(
      (f) => readFileSync(new URL(`../src/${f}.ts`, import.meta.url), 'utf8'),
    );
    for (const text of source) {
      expect(text).not.toMatch(/^import (?!type)[^;]*'(better-sqlite3|postgres)'/m);
    }
  });

  it('exports only the sink class (the rest of index.ts is types)', async () => {
    expect(Object.keys(await import('../src/index.js'))).toEqual(['DatabaseSink']);
  });
});
