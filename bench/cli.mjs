// The CLI at the defaults a user runs, measured as a whole process (start-up, config, the run and
// exit): `iotsim run -i <all 16 industries> --start … --end … -s file --output-format csv` (or
// parquet) with no throughput options (batch_size 100, max_buffer_size 50k); and `iotsim --help`.
// Records/s is records over the process's wall time; peak RSS is the CLI process's own (GNU time).
//   node bench/cli.mjs csv-defaults | parquet-defaults | help
// Needs the CLI built (apps/cli/dist). BENCH_CLI_S sets the simulated seconds of the backfill
// (default 7,200: 2 h at the CLI's default 2 Hz, 379 sensors, 5,457,600 records).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLoad, report, scenarioArg } from './lib.mjs';

export const scenarios = ['csv-defaults', 'parquet-defaults', 'help'];

const BIN = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';
const START = 1_700_000_000;
const SIM_S = Number(process.env.BENCH_CLI_S ?? 7200);
const HELP_RUNS = 10;

const SETTINGS = {
  // The Python original's file sink: ~5 k records/s, losing 95 % (README, Performance).
  'csv-defaults': {
    format: 'csv',
    goal: '>= 1.2 M records/s',
    before: 'engine v1: 0.56–0.58 M (same machine, 2026-12-02); the issue measured ~0.28 M',
    pythonRecordsPerSec: 5000,
  },
  'parquet-defaults': {
    format: 'parquet',
    goal: '>= 700 k rows/s',
    before: 'engine v1: 0.86–0.89 M (same machine, 2026-12-02)',
    python: 'rewrites the file per flush',
  },
};

/**
 * Runs the CLI once as its own process; returns wall seconds, the child's peak RSS (MB, when GNU
 * time is there), exit status and output.
 */
function runCli(args) {
  const timed = existsSync(GNU_TIME);
  const argv = timed
    ? [GNU_TIME, ['-f', 'BENCHTIME %M', process.execPath, BIN, ...args]]
    : [process.execPath, [BIN, ...args]];
  const started = performance.now();
  const r = spawnSync(argv[0], argv[1], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - started) / 1000;
  let stderr = r.stderr ?? '';
  let peakRssMb;
  const m = /BENCHTIME (\d+)\s*$/.exec(stderr);
  if (m) {
    peakRssMb = Math.round((Number(m[1]) / 1024) * 10) / 10;
    stderr = stderr.slice(0, m.index);
  }
  return { seconds, peakRssMb, status: r.status, stdout: r.stdout ?? '', stderr };
}

function fail(what, r) {
  throw new Error(
    `bench: ${what} exited ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
  );
}

function industries() {
  const r = runCli(['list-industries']);
  if (r.status !== 0) fail('iotsim list-industries', r);
  const names = r.stdout
    .split('\n')
    .map((l) => /^([a-z_]+)\s+\d+$/.exec(l.trim())?.[1])
    .filter(Boolean);
  if (names.length !== 16) throw new Error(`bench: expected 16 industries, got ${names.length}`);
  return names;
}

function runDefaults(scenario, s) {
  const dir = mkdtempSync(join(tmpdir(), 'iotsim-bench-cli-'));
  try {
    const out = join(dir, 'out');
    const summaryFile = join(dir, 'summary.json');
    const load1m = machineLoad();
    const r = runCli([
      'run',
      '-i',
      ...industries(),
      '--start',
      String(START),
      '--end',
      String(START + SIM_S),
      '--seed',
      '42',
      '-s',
      'file',
      '-o',
      out,
      '--output-format',
      s.format,
      '--summary-json',
      summaryFile,
    ]);
    if (r.status !== 0) fail(`iotsim run -s file --output-format ${s.format}`, r);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
    const sink = summary.sinks[0];
    if (sink.delivered !== summary.records || sink.failed !== 0 || sink.dropped.total !== 0)
      throw new Error(`bench: lost records: ${JSON.stringify(sink)}`);
    let bytes = 0;
    const files = readdirSync(out);
    for (const f of files) bytes += statSync(join(out, f)).size;
    report({
      scenario: `cli/${scenario}`,
      records: summary.records,
      seconds: r.seconds,
      recordsPerSec: Math.round(summary.records / r.seconds),
      peakRssMb: r.peakRssMb,
      load1m,
      goal: s.goal,
      ...(s.before ? { before: s.before } : {}),
      ...(s.pythonRecordsPerSec ? { pythonRecordsPerSec: s.pythonRecordsPerSec } : {}),
      ...(s.python ? { python: s.python } : {}),
      format: s.format,
      batchSize: 100,
      batches: sink.batches,
      runSeconds: Math.round(summary.elapsedS * 100) / 100,
      runRecordsPerSec: Math.round(summary.records / summary.elapsedS),
      files: files.length,
      bytesPerRecord: Math.round((bytes / summary.records) * 10) / 10,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function help() {
  const load1m = machineLoad();
  // One run first fills Node's compile cache (bin.ts enables it), as any earlier use would have.
  const warm = runCli(['--help']);
  if (warm.status !== 0) fail('iotsim --help', warm);
  const runs = [];
  for (let i = 0; i < HELP_RUNS; i++) {
    const r = runCli(['--help']);
    if (r.status !== 0) fail('iotsim --help', r);
    runs.push(r);
  }
  const ms = runs.map((r) => r.seconds * 1000).sort((a, b) => a - b);
  const median = (ms[(ms.length - 1) >> 1] + ms[ms.length >> 1]) / 2;
  report({
    scenario: 'cli/help',
    seconds: median / 1000,
    peakRssMb: Math.max(...runs.map((r) => r.peakRssMb ?? 0)) || undefined,
    load1m,
    goal: '< 150 ms',
    medianMs: Math.round(median),
    minMs: Math.round(ms[0]),
    maxMs: Math.round(ms[ms.length - 1]),
    runs: HELP_RUNS,
    firstRunMs: Math.round(warm.seconds * 1000),
  });
}

const scenario = scenarioArg('csv-defaults');
if (scenario === 'help') help();
else if (SETTINGS[scenario]) runDefaults(scenario, SETTINGS[scenario]);
else throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
