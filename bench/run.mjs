// Runs every benchmark scenario in its own process and prints one table (records/s, peak RSS and
// each scenario's extra figures); writes it to bench/results/latest.md as well.
//   node bench/run.mjs                 every bench file whose services are available
//   node bench/run.mjs core file       only these bench files
//   node bench/run.mjs file:csv        only this scenario
//   node bench/run.mjs --out engine-v2.md core file cli
//                                      write the table to bench/results/engine-v2.md
// The table goes to results/latest.md only for a full run (else results/partial.md, or --out).
// Each row notes the 1-minute load average when its scenario started (the machine is shared).
// Kafka and PostgreSQL scenarios need the servers: source scripts/services/env.sh after up.sh.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const NEEDS = { kafka: 'IOTSIM_KAFKA_BROKERS', 'database:postgres': 'IOTSIM_PG_URL' };
const files = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !['lib.mjs', 'run.mjs'].includes(f))
  .map((f) => f.replace(/\.mjs$/, ''))
  .sort((a, b) => (a === 'core' ? -1 : b === 'core' ? 1 : a.localeCompare(b)));
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : undefined;
if (outAt >= 0 && (!out || out.startsWith('-'))) throw new Error('--out needs a file name');
if (out === 'latest.md')
  throw new Error('--out latest.md: latest.md is written by a full run only');
const wanted = outAt >= 0 ? args.filter((_, i) => i !== outAt && i !== outAt + 1) : args;

const jobs = [];
for (const file of files) {
  const text = readFileSync(join(here, `${file}.mjs`), 'utf8');
  const m = /export const scenarios = (\[[^\]]*\])/.exec(text);
  const scenarios = m ? JSON.parse(m[1].replace(/'/g, '"').replace(/,\s*]/, ']')) : ['default'];
  for (const scenario of scenarios) {
    const id = `${file}:${scenario}`;
    if (wanted.length && !wanted.includes(file) && !wanted.includes(id)) continue;
    jobs.push({ file, scenario, id });
  }
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadAtStart = load();
const rows = [];
for (const job of jobs) {
  const need = NEEDS[job.id] ?? NEEDS[job.file];
  if (need && !process.env[need]) {
    rows.push({
      scenario: job.id,
      note: `skipped: ${need} not set (bash scripts/services/up.sh; source scripts/services/env.sh)`,
    });
    continue;
  }
  process.stderr.write(`bench ${job.id} ...\n`);
  const r = spawnSync(process.execPath, [join(here, `${job.file}.mjs`), job.scenario], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: process.env,
  });
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('BENCH '));
  if (r.status !== 0 || lines.length === 0) {
    rows.push({
      scenario: job.id,
      note: `failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`,
    });
    continue;
  }
  for (const l of lines) rows.push({ ...JSON.parse(l.slice(6)), scenario: job.id });
}

const fmt = (v) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v));
const header = [
  'scenario',
  'records',
  'seconds',
  'records/s',
  'peak RSS MB',
  'goal',
  'before',
  'python records/s',
  'load 1m',
  'details',
];
const table = rows.map((r) => {
  const {
    scenario,
    records,
    recordsPerSec,
    peakRssMb,
    pythonRecordsPerSec,
    python,
    goal,
    before,
    load1m,
    seconds,
    note,
    ...extra
  } = r;
  const details =
    note ??
    Object.entries(extra)
      .map(([k, v]) => `${k}=${fmt(v)}`)
      .join(', ');
  return [
    scenario,
    fmt(records ?? ''),
    typeof seconds === 'number' ? seconds.toFixed(2) : '',
    fmt(recordsPerSec ?? ''),
    fmt(peakRssMb ?? ''),
    goal ?? '',
    before ?? '',
    fmt(pythonRecordsPerSec ?? python ?? ''),
    fmt(load1m ?? ''),
    details,
  ];
});
const machine = `${process.version}, ${execFileSync('nproc').toString().trim()} cores, ${new Date().toISOString().slice(0, 10)}`;
const md = [
  `Benchmarks (${machine}; load average 1/5/15 min: ${loadAtStart} at the start, ${load()} at the end)`,
  '',
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...table.map((r) => `| ${r.join(' | ')} |`),
  '',
].join('\n');
process.stdout.write(md);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', out ? basename(out) : wanted.length ? 'partial.md' : 'latest.md'),
  md,
);
