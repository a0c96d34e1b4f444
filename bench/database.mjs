// DatabaseSink backfill: all 16 industries through a SinkRunner (throughput beside the sink:
// batch 5,000) into SQLite (file in WAL mode, memory) and PostgreSQL (IOTSIM_PG_URL, COPY).
// Run: node bench/database.mjs <scenario>
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DatabaseSink } from '@iotsim/sink-database';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['sqlite-file-wal', 'sqlite-memory', 'postgres'];

const BATCH = 5_000;
const ROWS = { 'sqlite-file-wal': 1_000_000, 'sqlite-memory': 1_000_000, postgres: 500_000 };

// The drivers are dependencies of the sink package; the bench reads back through them.
const fromSink = createRequire(import.meta.resolve('@iotsim/sink-database'));
const load = async (name) => (await import(pathToFileURL(fromSink.resolve(name)).href)).default;

/**
 * Generates exactly `rows` records (simulated time, 1 s steps, frames as the engine makes them)
 * through the sink's runner, with the throughput beside the sink (sink contract v2).
 */
async function backfill(sink, rows) {
  const {
    generated,
    metrics: m,
    generateMs,
  } = await backfillThrough(sink, {
    records: rows,
    seed: 42,
    throughput,
    exact: true,
  });
  if (generated !== rows || m.delivered !== rows || m.failed !== 0)
    throw new Error(`delivered ${m.delivered} of ${rows}: ${m.lastError}`);
  const writeS = (m.writeLatencyMs.mean * m.writeLatencyMs.count) / 1000;
  return {
    delivered: m.delivered,
    generateSeconds: Math.round(generateMs) / 1000,
    writeSeconds: Math.round(writeS * 1000) / 1000,
    writeRowsPerSec: Math.round(m.delivered / writeS),
    batches: m.batches,
  };
}

const throughput = { batchSize: BATCH, maxBufferSize: 50_000, backpressure: 'block' };

async function sqliteFile() {
  const dir = mkdtempSync(join(tmpdir(), 'iotsim-bench-db-'));
  const file = join(dir, 'bench.db');
  try {
    const sink = new DatabaseSink({ connectionString: `sqlite+aiosqlite:///${file}` });
    const stats = await backfill(sink, ROWS['sqlite-file-wal']);
    const Database = await load('better-sqlite3');
    const db = new Database(file, { readonly: true });
    const rowsInTable = db.prepare('SELECT count(*) AS n FROM sensor_data').get().n;
    const journal = db.pragma('journal_mode', { simple: true });
    db.close();
    const bytes =
      statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    return { records: stats.delivered, extra: { ...stats, rowsInTable, journal, bytes } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sqliteMemory() {
  const sink = new DatabaseSink({ connectionString: 'sqlite::memory:' });
  const stats = await backfill(sink, ROWS['sqlite-memory']);
  return { records: stats.delivered, extra: stats };
}

async function postgresCopy() {
  const url = process.env.IOTSIM_PG_URL;
  if (!url)
    throw new Error(
      'IOTSIM_PG_URL is not set: bash scripts/services/up.sh postgres && source scripts/services/env.sh',
    );
  const postgres = await load('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const table = `bench_database_${process.pid}`;
  try {
    const sink = new DatabaseSink({ connectionString: url, table });
    const stats = await backfill(sink, ROWS.postgres);
    const [row] =
      await sql`select count(*)::int as n, pg_total_relation_size(${table}) as bytes from ${sql(table)}`;
    return {
      records: stats.delivered,
      extra: { ...stats, rowsInTable: row.n, bytes: Number(row.bytes) },
    };
  } finally {
    await sql`drop table if exists ${sql(table)}`;
    await sql.end();
  }
}

const RUN = {
  'sqlite-file-wal': sqliteFile,
  'sqlite-memory': sqliteMemory,
  postgres: postgresCopy,
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const scenario = scenarioArg('sqlite-file-wal');
  const run = RUN[scenario];
  if (!run) throw new Error(`unknown scenario '${scenario}'; one of: ${scenarios.join(', ')}`);
  await measure(`database/${scenario}`, run, { batchSize: BATCH });
}
