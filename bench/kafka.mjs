// Kafka sink throughput: a backfill of all 16 industries (379 records per simulated second)
// through a SinkRunner (throughput beside the sink: backpressure block, nothing dropped) into a
// fresh topic of the local broker started by scripts/services (IOTSIM_KAFKA_BROKERS, default
// 127.0.0.1:19092).
// Run: node bench/kafka.mjs <scenario> [--client kafkajs|platformatic]   e.g. node bench/kafka.mjs p6-zstd
//      node bench/kafka.mjs --ab     the A/B matrix: every scenario with both clients back to back
//        (1 and 6 partitions x none/snappy/lz4/zstd), each run in its own process; prints the
//        BENCH lines and a markdown table, saved as bench/results/kafka-client.md.
// Options through the environment: BENCH_RECORDS (default 1,000,000), BENCH_BATCH (default 10,000),
// BENCH_IN_FLIGHT (runner maxInFlight, default 1), BENCH_ROUNDS (--ab: rounds, default 1).
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DataGenerator, listIndustries, recordToJson } from '@iotsim/core';
import { KafkaSink } from '@iotsim/sink-kafka';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = [
  'p1-none',
  'p1-snappy',
  'p1-lz4',
  'p1-zstd',
  'p6-none',
  'p6-snappy',
  'p6-lz4',
  'p6-zstd',
];

/** The clients the A/B compares (the sink's IOTSIM_KAFKA_CLIENT switch). */
const CLIENTS = ['kafkajs', 'platformatic'];

const clientFlag = process.argv.indexOf('--client');
const client = clientFlag > 0 ? process.argv[clientFlag + 1] : process.env.IOTSIM_KAFKA_CLIENT;
if (client !== undefined && !CLIENTS.includes(client))
  throw new Error(`--client must be one of ${CLIENTS.join(', ')}, got ${client}`);
if (client !== undefined) process.env.IOTSIM_KAFKA_CLIENT = client;

if (process.argv.includes('--ab')) {
  await abMatrix();
  process.exit(0);
}
// --table FILE: the table again from saved BENCH lines (e.g. the output of an --ab run)
const tableFlag = process.argv.indexOf('--table');
if (tableFlag > 0) {
  const lines = readFileSync(process.argv[tableFlag + 1], 'utf8').split('\n');
  const results = lines.filter((l) => l.startsWith('BENCH ')).map((l) => JSON.parse(l.slice(6)));
  const rounds =
    Math.max(...scenarios.map((sc) => results.filter((r) => r.scenario === sc).length)) / 2;
  const table = abTable(results, rounds, results[0]?.load1m ?? NaN);
  writeFileSync(new URL('./results/kafka-client.md', import.meta.url), table);
  process.stdout.write(table);
  process.exit(0);
}

/** Runs every scenario with each client back to back (alternating which goes first), then the table. */
async function abMatrix() {
  const self = fileURLToPath(import.meta.url);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
  const results = [];
  const startLoad = loadavg()[0];
  for (let round = 0; round < rounds; round++) {
    scenarios.forEach((sc, i) => {
      const order = (i + round) % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
      for (const c of order) {
        const r = spawnSync(process.execPath, [self, sc, '--client', c], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          timeout: 900_000,
        });
        const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH '));
        if (!line) {
          process.stderr.write(`${sc} ${c}: no BENCH line (exit ${r.status})\n${r.stdout}\n`);
          continue;
        }
        process.stdout.write(`${line}\n`);
        results.push(JSON.parse(line.slice(6)));
      }
    });
  }
  const table = abTable(results, rounds, startLoad);
  process.stdout.write(`\n${table}`);
  const out = new URL('./results/kafka-client.md', import.meta.url);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(out, table);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function fmt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

function abTable(results, rounds, startLoad) {
  const rows = [
    '| scenario | kafkajs rec/s | platformatic rec/s | platformatic / kafkajs | runs: kafkajs rec/s | runs: platformatic rec/s | Node CPU s (kj / pl) | peak RSS MB (kj / pl) |',
    '| --- | --: | --: | --: | --- | --- | --- | --- |',
  ];
  for (const sc of scenarios) {
    const of = (c) => results.filter((r) => r.scenario === sc && r.client === c);
    const [kj, pl] = [of('kafkajs'), of('platformatic')];
    const m = (rs, k) => median(rs.map((r) => r[k]).filter((v) => typeof v === 'number'));
    const ratio = m(pl, 'recordsPerSec') / m(kj, 'recordsPerSec');
    const runs = (rs) => rs.map((r) => fmt(r.recordsPerSec)).join(', ');
    const r1 = (v) => Math.round(v * 10) / 10;
    rows.push(
      `| ${sc} | ${fmt(m(kj, 'recordsPerSec'))} | ${fmt(m(pl, 'recordsPerSec'))} | ${Number.isFinite(ratio) ? `${Math.round(ratio * 100)} %` : '—'} | ${runs(kj)} | ${runs(pl)} | ${r1(m(kj, 'nodeCpuS'))} / ${r1(m(pl, 'nodeCpuS'))} | ${Math.round(m(kj, 'peakRssMb'))} / ${Math.round(m(pl, 'peakRssMb'))} |`,
    );
  }
  const n = results[0]?.records ?? 0;
  const batchSize = results[0]?.batchSize;
  const maxInFlight = results[0]?.maxInFlight;
  const loads = results.map((r) => r.load1m).filter((v) => typeof v === 'number');
  return `# Kafka client A/B: kafkajs 2.2.4 (with the sink's patched produce path) vs @platformatic/kafka 2.12.1

\`node bench/kafka.mjs --ab\` (table made ${new Date().toISOString()}): ${fmt(n)} records per run,
batches of ${fmt(batchSize)}, ${maxInFlight} write in flight, acks all, each run in its own process
on a fresh topic of the local broker (scripts/services, Kafka 3.9.2), the two clients back to back
per scenario (alternating which goes first), ${rounds} round(s), medians shown, then every run.
Load average during the runs ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}
(2 cores shared by Node, the broker and other engineers' builds): records/s swing by 2–3x between
rounds, the Node CPU seconds per million records are the steadier measure. Started at load
${Number(startLoad).toFixed(1)}.

${rows.join('\n')}
`;
}

const scenario = scenarioArg('p1-snappy');
const match = /^p(\d+)-(none|snappy|zstd|gzip|lz4)$/.exec(scenario);
const clientName = process.env.IOTSIM_KAFKA_CLIENT ?? 'platformatic';
if (!match) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
const partitions = Number(match[1]);
const compression = match[2];
const records = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const batchSize = Number(process.env.BENCH_BATCH ?? 10_000);
const maxInFlight = Number(process.env.BENCH_IN_FLIGHT ?? 1);
const brokers = process.env.IOTSIM_KAFKA_BROKERS ?? '127.0.0.1:19092';
const servicesDir =
  process.env.IOTSIM_SERVICES_DIR ?? new URL('../scripts/services', import.meta.url).pathname;

const run = promisify(execFile);

/** CPU seconds (user + system) the broker's process has used so far, when its pid file is found. */
function brokerCpuS() {
  try {
    const runDir = process.env.IOTSIM_RUN ?? '/tmp/iotsim-services';
    const pid = readFileSync(join(runDir, 'kafka', 'kafka.pid'), 'utf8').trim();
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return undefined;
  }
}

const topic = `iotsim-bench-${scenario}-${clientName}-${Date.now()}`;
// Create the topic with Kafka's own tool (the broker auto-creates with 1 partition only).
await run('bash', [
  join(servicesDir, 'kafka-topics.sh'),
  '--bootstrap-server',
  brokers,
  '--create',
  '--topic',
  topic,
  '--partitions',
  String(partitions),
  '--replication-factor',
  '1',
]);

try {
  // The sink's own options; throughput goes beside it, to the runner (sink contract v2).
  const sink = new KafkaSink({
    bootstrapServers: brokers,
    topic,
    compression,
    // a compressed 10,000-record batch is well under the broker's 1 MB limit per partition
    maxRequestSize: compression === 'none' ? 1_000_000 : 8_000_000,
  });
  const throughput = {
    batchSize,
    maxInFlight,
    maxBufferSize: Math.max(50_000, batchSize * (maxInFlight + 2)),
    backpressure: 'block',
  };
  // One record's JSON size (the first record of the same seed).
  const bytes = recordToJson(
    new DataGenerator({ industries: listIndustries(), seed: 42 }).tick(1_700_000_000)[0],
  ).length;
  const cpu0 = process.cpuUsage();
  const broker0 = brokerCpuS();
  await measure(scenario, async () => {
    const { generated: n, metrics: m } = await backfillThrough(sink, {
      records,
      seed: 42,
      throughput,
    });
    if (m.delivered !== n || m.failed !== 0) throw new Error(`lost records: ${JSON.stringify(m)}`);
    const used = process.cpuUsage(cpu0);
    const broker1 = brokerCpuS();
    return {
      records: n,
      extra: {
        client: clientName,
        partitions,
        compression,
        load1mEnd: Math.round(loadavg()[0] * 100) / 100,
        batchSize,
        maxInFlight,
        jsonBytesPerRecord: bytes,
        nodeCpuS: Math.round((used.user + used.system) / 1e4) / 100,
        brokerCpuS:
          broker0 === undefined || broker1 === undefined
            ? undefined
            : Math.round((broker1 - broker0) * 100) / 100,
        writeP50Ms: Math.round(m.writeLatencyMs.p50),
        ...m.sinkMetrics,
      },
    };
  });
} finally {
  await run('bash', [
    join(servicesDir, 'kafka-topics.sh'),
    '--bootstrap-server',
    brokers,
    '--delete',
    '--topic',
    topic,
  ]).catch(() => undefined);
}
