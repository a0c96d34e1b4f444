// Kafka sink throughput: a backfill of all 16 industries (379 records per simulated second)
// through a SinkRunner (throughput beside the sink: backpressure block, nothing dropped) into a
// fresh topic of the local broker started by scripts/services (IOTSIM_KAFKA_BROKERS, default
// 127.0.0.1:19092).
// Run: node bench/kafka.mjs <scenario>   e.g. node bench/kafka.mjs p6-zstd
// Options through the environment: BENCH_RECORDS (default 1,000,000), BENCH_BATCH (default 10,000),
// BENCH_IN_FLIGHT (runner maxInFlight, default 1).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DataGenerator, listIndustries, recordToJson } from '@iotsim/core';
import { KafkaSink } from '@iotsim/sink-kafka';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['p1-none', 'p1-snappy', 'p1-zstd', 'p6-none', 'p6-snappy', 'p6-zstd'];

const scenario = scenarioArg('p1-snappy');
const match = /^p(\d+)-(none|snappy|zstd|gzip|lz4)$/.exec(scenario);
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

const topic = `iotsim-bench-${scenario}-${Date.now()}`;
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
        partitions,
        compression,
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
