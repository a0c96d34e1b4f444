// Crash consistency: a backfill through the CLI is killed with SIGKILL (kill -9) at seeded random
// points, then independent readers check what is on disk, and a new run must append to it.
//
// Per sink, into one destination: run 0 completes (its wall time is the run's expected length L),
// runs 1–3 are killed at points drawn from a seeded PRNG in [100 ms, 0.9 L] (one in each third),
// run 4 completes. Each run covers its own simulated day, so rows are told apart by run. After
// every run the destination is read by a reader that is not iotsim (Python's csv and json modules
// with pandas, pyarrow, Python's sqlite3, psql, delta-rs) and checked against what the sink
// documents (README, Reliability):
//   - every run's rows are a prefix of its record stream: no duplicates, no gaps, whole ticks but
//     the last (records go tick by tick), starting at the run's first tick;
//   - the database and Delta sinks commit whole batches only (rows a multiple of batch_size);
//   - CSV / JSON Lines: every whole line parses; only the last line of the file open at the kill
//     may be torn (a write cut by the kill); Parquet: every file but the one open at the kill
//     is readable; SQLite: integrity_check ok; Delta: every committed version loads;
//   - a completed run holds exactly its delivered count, and the next run appends:
//     rows after = rows before + delivered (Delta: versions continue).
// IOTSIM_CRASH_SEED picks other kill points (the seed is printed).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runPython, serviceEnv, tempDir } from '@iotsim/test-utils';
import { cli, type CliResult } from './helpers.js';

const run = promisify(execFile);
const SEED = Number(process.env.IOTSIM_CRASH_SEED ?? 20261202);
const BASE = 1_704_067_200; // 2024-01-01T00:00:00Z; run i simulates day i
const DAY = 86_400;
const RATE_HZ = 10;
const INDUSTRIES = ['mining', 'oil_gas'];
const KILLS = 3;

let dir: { path: string; remove: () => Promise<void> };
const stamp = `${Date.now()}`;
const pgTable = `crash_${stamp}`;

beforeAll(async () => {
  dir = await tempDir('iotsim-crash-');
  process.stderr.write(`crash suite: seed ${SEED} (set IOTSIM_CRASH_SEED to change it)\n`);
});
afterAll(async () => {
  await psql(`DROP TABLE IF EXISTS "${pgTable}"`).catch(() => undefined);
  await dir?.remove();
});

/** A tiny deterministic PRNG (mulberry32): uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rows of one run (one simulated day) as a reader saw them, tick by tick. */
interface RunStats {
  rows: number;
  /** Distinct (device, sensor, timestamp) keys. */
  distinct: number;
  min: number;
  max: number;
  /** Distinct timestamps. */
  ticks: number;
  /** Ticks holding every sensor exactly once. */
  full: number;
  /** The latest timestamp of a tick that is not full (null when all are). */
  partialTs: number | null;
}

/** What a reader found in a destination: per-run stats plus reader-specific findings. */
interface View {
  runs: Record<string, RunStats>;
  /** Files (file sinks) → what the reader found in each. */
  files?: Record<string, { torn?: number; readable?: boolean; bad?: number; header?: boolean }>;
  /** SQLite PRAGMA integrity_check. */
  integrity?: string;
  /** Delta: latest version and live rows at every version. */
  version?: number;
  versionRows?: number[];
}

const TICK_STATS = `
import json, sys, os
import pandas as pd
def tick_stats(df, base, S):
    out = {}
    if len(df) == 0:
        return out
    df = df.assign(key=df['device_id'].astype(str) + '|' + df['sensor_name'].astype(str))
    g = df.groupby('timestamp')['key'].agg(['size', 'nunique'])
    g['run'] = ((g.index.to_numpy() - base) // 86400).astype(int)
    for run, t in g.groupby('run'):
        full = (t['size'] == S) & (t['nunique'] == S)
        partial = t.index[~full.to_numpy()]
        out[str(run)] = {'rows': int(t['size'].sum()), 'distinct': int(t['nunique'].sum()),
            'min': float(t.index.min()), 'max': float(t.index.max()), 'ticks': int(len(t)),
            'full': int(full.sum()), 'partialTs': float(partial.max()) if len(partial) else None}
    return out
COLS = ['sensor_name', 'device_id', 'timestamp']
`;

const READ_CSV = `${TICK_STATS}
import csv, io
path, base, S = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
HEADER = ['sensor_name', 'industry', 'device_id', 'value', 'unit', 'sensor_type', 'timestamp',
          'min_value', 'max_value', 'nominal_value', 'fault_active', 'metadata']
files, frames = {}, []
for f in sorted(os.listdir(path)):
    data = open(os.path.join(path, f), 'rb').read()
    cut = data.rfind(b'\\n') + 1
    whole = data[:cut]
    info = {'torn': len(data) - cut, 'bad': 0, 'header': None}
    files[f] = info
    if not whole:
        continue
    # Python's csv module reads the header; pandas' C parser reads every whole line (a line with
    # more fields than the header is an error, one with fewer leaves NaN in required columns).
    info['header'] = next(csv.reader(io.StringIO(whole[:4096].decode('utf-8', 'replace')))) == HEADER
    df = pd.read_csv(io.BytesIO(whole), dtype={'sensor_name': str, 'device_id': str, 'metadata': str,
                                               'fault_active': str})
    required = ['sensor_name', 'industry', 'device_id', 'timestamp', 'fault_active', 'metadata']
    info['bad'] = int(df[required].isna().any(axis=1).sum()) + int((~df['fault_active'].isin(['true', 'false'])).sum())
    frames.append(df[COLS])
df = pd.concat(frames) if frames else pd.DataFrame(columns=COLS)
print(json.dumps({'files': files, 'runs': tick_stats(df, base, S)}))
`;

const READ_JSONL = `${TICK_STATS}
path, base, S = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
files, rows = {}, []
for f in sorted(os.listdir(path)):
    data = open(os.path.join(path, f), 'rb').read()
    cut = data.rfind(b'\\n') + 1
    bad = 0
    for line in data[:cut].decode('utf-8').split('\\n')[:-1]:
        try:
            r = json.loads(line)
            assert len(r) == 12
            rows.append((r['sensor_name'], r['device_id'], float(r['timestamp'])))
        except Exception:
            bad += 1
    files[f] = {'torn': len(data) - cut, 'bad': bad}
df = pd.DataFrame(rows, columns=COLS)
print(json.dumps({'files': files, 'runs': tick_stats(df, base, S)}))
`;

const READ_PARQUET = `${TICK_STATS}
import pyarrow.parquet as pq
path, base, S = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
files, frames = {}, []
for f in sorted(os.listdir(path)):
    try:
        t = pq.read_table(os.path.join(path, f), columns=COLS)
    except Exception:
        files[f] = {'readable': False}
        continue
    files[f] = {'readable': True}
    frames.append(t.to_pandas())
df = pd.concat(frames) if frames else pd.DataFrame(columns=COLS)
print(json.dumps({'files': files, 'runs': tick_stats(df, base, S)}))
`;

/** Per-run tick stats in SQL; `run` is the dialect's floor of the day index. */
const statsSql = (table: string, S: number, runExpr: string): string =>
  `WITH t AS (SELECT "timestamp" AS ts, count(*) AS n, count(DISTINCT device_id || '|' || sensor_name) AS d FROM "${table}" GROUP BY "timestamp") ` +
  `SELECT ${runExpr} AS run, sum(n), sum(d), min(ts), max(ts), count(*), sum(CASE WHEN n = ${S} AND d = ${S} THEN 1 ELSE 0 END), max(CASE WHEN n <> ${S} OR d <> ${S} THEN ts END) FROM t GROUP BY 1 ORDER BY 1`;

const READ_SQLITE = `
import json, sys, sqlite3
path, sql = sys.argv[1], sys.argv[2]
con = sqlite3.connect(path)
integrity = con.execute('PRAGMA integrity_check').fetchone()[0]
runs = {}
for run, rows, distinct, lo, hi, ticks, full, partial in con.execute(sql):
    runs[str(run)] = {'rows': rows, 'distinct': distinct, 'min': lo, 'max': hi, 'ticks': ticks, 'full': full, 'partialTs': partial}
print(json.dumps({'integrity': integrity, 'runs': runs}))
`;

const READ_DELTA = `${TICK_STATS}
import pyarrow as pa
from deltalake import DeltaTable
path, base, S = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
dt = DeltaTable(path)
latest = dt.version()
version_rows = []
for v in range(latest + 1):
    dt.load_as_version(v)
    adds = pa.table(dt.get_add_actions(flatten=True))
    version_rows.append(int(sum(adds.column('num_records').to_pylist())) if adds.num_rows else 0)
dt.load_as_version(latest)
df = dt.to_pyarrow_table(columns=COLS).to_pandas()
print(json.dumps({'version': latest, 'versionRows': version_rows, 'runs': tick_stats(df, base, S)}))
`;

async function psql(sql: string): Promise<string> {
  const { stdout } = await run('psql', [serviceEnv('IOTSIM_PG_URL'), '-tAc', sql], {
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim();
}

/** A sink under test: its YAML entry and the independent reader of its destination. */
interface Spec {
  name: string;
  /** What is checked for this sink (the test title). */
  title: string;
  /** Simulated seconds per run. */
  rangeS: number;
  batchSize: number;
  /** Whether a run commits whole batches only (transactions / commits). */
  wholeBatches: boolean;
  sink(): string;
  read(S: number): Promise<View>;
}

const fileArgs = (path: string, S: number): string[] => [path, String(BASE), String(S)];

function specs(): Spec[] {
  const at = (p: string): string => join(dir.path, p);
  return [
    {
      name: 'csv',
      title:
        'CSV file sink: whole lines read by pandas with the header first; only the file open at the kill may end in a torn line',
      rangeS: 2400,
      batchSize: 5000,
      wholeBatches: false,
      sink: () => `{type: file, path: '${at('csv')}', format: csv}`,
      read: async (S) => JSON.parse(await runPython(READ_CSV, fileArgs(at('csv'), S))) as View,
    },
    {
      name: 'jsonl',
      title:
        'JSON Lines file sink: every whole line is valid JSON (Python json); only the file open at the kill may end in a torn line',
      rangeS: 1200,
      batchSize: 5000,
      wholeBatches: false,
      sink: () => `{type: file, path: '${at('jsonl')}', format: json}`,
      read: async (S) => JSON.parse(await runPython(READ_JSONL, fileArgs(at('jsonl'), S))) as View,
    },
    {
      name: 'parquet',
      title:
        'Parquet file sink with max_file_rows: every file but the one open at the kill reads in pyarrow',
      rangeS: 3600,
      batchSize: 5000,
      wholeBatches: false,
      sink: () => `{type: file, path: '${at('parquet')}', format: parquet, max_file_rows: 100000}`,
      read: async (S) =>
        JSON.parse(await runPython(READ_PARQUET, fileArgs(at('parquet'), S))) as View,
    },
    {
      name: 'sqlite',
      title:
        'SQLite database sink: PRAGMA integrity_check ok and only whole batches (Python sqlite3)',
      rangeS: 1200,
      batchSize: 5000,
      wholeBatches: true,
      sink: () => `{type: database, connection_string: 'sqlite:///${at('crash.db')}'}`,
      read: async (S) =>
        JSON.parse(
          await runPython(READ_SQLITE, [
            at('crash.db'),
            statsSql('sensor_data', S, `CAST((ts - ${BASE}) / ${DAY} AS INTEGER)`),
          ]),
        ) as View,
    },
    {
      name: 'postgres',
      title: 'PostgreSQL database sink: only whole batches (psql)',
      rangeS: 1200,
      batchSize: 5000,
      wholeBatches: true,
      sink: () =>
        `{type: database, connection_string: '${serviceEnv('IOTSIM_PG_URL')}', table: ${pgTable}}`,
      read: async (S) => {
        const exists = await psql(`SELECT to_regclass('"${pgTable}"') IS NOT NULL`);
        const runs: Record<string, RunStats> = {};
        if (exists !== 't') return { runs };
        const out = await psql(statsSql(pgTable, S, `floor((ts - ${BASE}) / ${DAY})::int`));
        for (const line of out.split('\n').filter(Boolean)) {
          const [r, rows, distinct, lo, hi, ticks, full, partial] = line.split('|');
          runs[r!] = {
            rows: Number(rows),
            distinct: Number(distinct),
            min: Number(lo),
            max: Number(hi),
            ticks: Number(ticks),
            full: Number(full),
            partialTs: partial ? Number(partial) : null,
          };
        }
        return { runs };
      },
    },
    {
      name: 'delta',
      title:
        'Delta sink: every committed version loads in delta-rs and only whole commits are visible',
      rangeS: 1800,
      batchSize: 20_000,
      wholeBatches: true,
      sink: () => `{type: delta, table_path: '${at('delta')}'}`,
      read: async (S) => {
        if (!readdirSafe(at('delta')).includes('_delta_log')) return { runs: {}, versionRows: [] };
        return JSON.parse(await runPython(READ_DELTA, fileArgs(at('delta'), S))) as View;
      },
    },
  ];
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The CLI summary's JSON (`--summary-json`). */
interface SummaryJson {
  ticks: number;
  records: number;
  sinks: {
    delivered: number;
    failed: number;
    generated: number;
    sinkMetrics?: Record<string, number>;
  }[];
}

/** Runs backfill `i` of `spec`; killed with SIGKILL after `killMs` when given. */
async function backfill(
  spec: Spec,
  i: number,
  killMs?: number,
): Promise<{ r: CliResult; summary?: SummaryJson }> {
  const start = BASE + i * DAY;
  const yaml =
    `simulator: {industries: [${INDUSTRIES.join(', ')}], update_rate_hz: ${RATE_HZ}, seed: ${100 + i}, start: ${start}, end: ${start + spec.rangeS}}\n` +
    `sinks:\n  - ${spec.sink().replace(/}$/, `, batch_size: ${spec.batchSize}, rate_hz: 0.001}`)}\n`;
  const config = join(dir.path, `${spec.name}-${i}.yaml`);
  const summaryFile = join(dir.path, `${spec.name}-${i}.summary.json`);
  writeFileSync(config, yaml);
  const r = await cli(['run', '-c', config, '--summary-json', summaryFile], {
    timeoutMs: 60_000,
    onSpawn:
      killMs === undefined
        ? undefined
        : (child) => void setTimeout(() => child.kill('SIGKILL'), killMs),
  });
  if (r.signal === 'SIGKILL') return { r };
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  return { r, summary: JSON.parse(readFileSync(summaryFile, 'utf8')) as SummaryJson };
}

const totalRows = (v: View): number => Object.values(v.runs).reduce((n, s) => n + s.rows, 0);

/** Rows of run `i` form a prefix of its record stream (see the top of this file). */
function expectPrefix(spec: Spec, v: View, i: number, killed = false): RunStats | undefined {
  const s = v.runs[String(i)];
  if (!s) return undefined;
  const start = BASE + i * DAY;
  expect({ run: i, distinct: s.distinct }).toEqual({ run: i, distinct: s.rows });
  expect(s.min).toBeCloseTo(start, 6);
  expect(s.ticks).toBe(Math.round((s.max - start) * RATE_HZ) + 1);
  expect(s.full).toBeGreaterThanOrEqual(s.ticks - 1);
  if (s.partialTs !== null) expect(s.partialTs).toBe(s.max);
  if (spec.wholeBatches && killed) expect(s.rows % spec.batchSize).toBe(0);
  return s;
}

describe(`Crash: kill -9 during a CLI backfill at ${KILLS} seeded random points per sink, then independent readers`, () => {
  const all = specs();
  const random = prng(SEED);
  // Draw each sink's kill fractions up front: the points do not depend on the order tests run in.
  const fractions = new Map(all.map((s) => [s.name, Array.from({ length: KILLS }, random)]));

  it.each(all.map((s) => [s.title, s] as const))(
    '%s; each run a prefix of its records (no duplicate, no gap); a new run appends (rows = before + delivered)',
    async (_name, spec) => {
      const first = await backfill(spec, 0);
      const expectedMs = first.r.ms;
      const S = first.summary!.records / first.summary!.ticks;
      expect(Number.isInteger(S)).toBe(true);
      let view = await spec.read(S);
      expect(expectPrefix(spec, view, 0)!.rows).toBe(first.summary!.sinks[0]!.delivered);
      const log: string[] = [
        `run 0 complete: ${first.summary!.records} rows in ${expectedMs.toFixed(0)} ms`,
      ];

      const filesBefore = new Set(Object.keys(view.files ?? {}));
      for (let k = 0; k < KILLS; k++) {
        const i = k + 1;
        // Stratified: kill k falls at a seeded point of the k-th third of the window, so every sink
        // is killed early, mid-run and late.
        const u = (k + fractions.get(spec.name)![k]!) / KILLS;
        const killMs = Math.round(100 + u * (0.9 * expectedMs - 100));
        const before = view;
        const { r, summary } = await backfill(spec, i, killMs);
        view = await spec.read(S);
        const s = expectPrefix(spec, view, i, !summary);
        const rows = s?.rows ?? 0;
        // Earlier runs are untouched.
        for (let j = 0; j < i; j++) expect(view.runs[String(j)]).toEqual(before.runs[String(j)]);
        if (summary) {
          // Finished before the kill: then it is a complete run.
          expect(rows).toBe(summary.sinks[0]!.delivered);
          log.push(`run ${i}: finished before the kill at ${killMs} ms, ${rows} rows`);
        } else {
          log.push(
            `run ${i}: killed at ${killMs} ms (exit after ${r.ms.toFixed(0)} ms), ${rows} rows on disk`,
          );
        }
        // The reader-specific promises.
        const newFiles = Object.entries(view.files ?? {}).filter(([f]) => !filesBefore.has(f));
        for (const [f] of newFiles) filesBefore.add(f);
        const torn = newFiles.filter(([, info]) => (info.torn ?? 0) > 0);
        const unreadable = newFiles.filter(([, info]) => info.readable === false);
        for (const [f, info] of newFiles) {
          expect({ f, bad: info.bad ?? 0 }).toEqual({ f, bad: 0 });
          if (info.header !== undefined && info.header !== null) expect(info.header).toBe(true);
        }
        expect(torn.length).toBeLessThanOrEqual(summary ? 0 : 1);
        expect(unreadable.length).toBeLessThanOrEqual(summary ? 0 : 1);
        if (torn.length || unreadable.length)
          log.push(`  ${torn.length} torn last line, ${unreadable.length} unreadable (open) file`);
        if (view.integrity !== undefined) expect(view.integrity).toBe('ok');
        if (view.versionRows) {
          // Every committed version loads and the table only grows.
          expect(view.versionRows).toHaveLength((view.version ?? -1) + 1);
          for (let v = 1; v < view.versionRows.length; v++)
            expect(view.versionRows[v]!).toBeGreaterThanOrEqual(view.versionRows[v - 1]!);
          expect(view.versionRows.at(-1)).toBe(totalRows(view));
        }
      }

      // A new run into the same destination appends to what the kills left.
      const before = view;
      const last = await backfill(spec, KILLS + 1);
      const delivered = last.summary!.sinks[0]!.delivered;
      view = await spec.read(S);
      expect(expectPrefix(spec, view, KILLS + 1)!.rows).toBe(delivered);
      expect(totalRows(view)).toBe(totalRows(before) + delivered);
      for (let j = 0; j <= KILLS; j++) expect(view.runs[String(j)]).toEqual(before.runs[String(j)]);
      if (view.version !== undefined) {
        expect(view.version).toBe(before.version! + last.summary!.sinks[0]!.sinkMetrics!.commits!);
      }
      log.push(`run ${KILLS + 1} complete: ${delivered} rows appended, total ${totalRows(view)}`);
      process.stderr.write(`crash ${spec.name} (seed ${SEED}):\n  ${log.join('\n  ')}\n`);
    },
    150_000,
  );
});
