// Delta sink throughput: a backfill of all 16 industries through a SinkRunner (throughput beside
// the sink: batchSize 50,000, backpressure block) into a local Delta table partitioned by
// industry. Each batch is 16 Parquet files and one commit. Run: node bench/delta.mjs <scenario>
import { readdir, rm, stat, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DeltaSink } from '@iotsim/sink-delta';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['local-industry', 'local-industry-timestamp', 'local-industry-zstd'];

const SETTINGS = {
  'local-industry': { records: 1_000_000 },
  'local-industry-timestamp': { records: 1_000_000, timestampType: 'timestamp' },
  'local-industry-zstd': { records: 1_000_000, compression: 'zstd' },
};

const scenario = scenarioArg('local-industry');
const s = SETTINGS[scenario];
if (!s) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);

async function du(dir) {
  let bytes = 0;
  let files = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    bytes += (await stat(join(e.parentPath ?? e.path, e.name))).size;
    if (e.name.endsWith('.parquet') && !e.name.includes('.checkpoint.')) files++;
  }
  return { bytes, files };
}

const dir = await mkdtemp(join(tmpdir(), 'iotsim-bench-delta-'));
try {
  const tablePath = join(dir, 'sensors');
  // The sink's own options; throughput goes beside it, to the runner (sink contract v2).
  const sink = new DeltaSink({
    tablePath,
    partitionBy: ['industry'],
    ...(s.timestampType ? { timestampType: s.timestampType } : {}),
    ...(s.compression ? { compression: s.compression } : {}),
  });
  const throughput = { batchSize: 50_000, maxBufferSize: 100_000, backpressure: 'block' };
  // Time spent inside DeltaSink.write, to separate the sink's cost from the generator's.
  let sinkMs = 0;
  const write = sink.write.bind(sink);
  sink.write = async (request) => {
    const t0 = performance.now();
    try {
      return await write(request);
    } finally {
      sinkMs += performance.now() - t0;
    }
  };
  await measure(scenario, async () => {
    const { generated: n, metrics: m } = await backfillThrough(sink, {
      records: s.records,
      seed: 42,
      throughput,
    });
    if (m.delivered !== n || m.failed !== 0) throw new Error(`lost records: ${JSON.stringify(m)}`);
    const { bytes, files } = await du(tablePath);
    return {
      records: n,
      extra: {
        // The sink's own counters (sink contract v2), else its fields.
        commits: m.sinkMetrics.commits ?? sink.commits,
        checkpoints: m.sinkMetrics.checkpoints ?? sink.checkpoints,
        dataFiles: files,
        bytes,
        bytesPerRecord: Math.round((bytes / n) * 10) / 10,
        sinkRecordsPerSec: Math.round(n / (sinkMs / 1000)),
      },
    };
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
