// File sink throughput: a backfill of all 16 industries through a SinkRunner (batchSize 5,000,
// backpressure block) into one file per scenario. Run: node bench/file.mjs <scenario>
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DataGenerator, SinkRunner, listIndustries } from '@iotsim/core';
import { FileSink } from '@iotsim/sink-file';
import { measure, scenarioArg } from './lib.mjs';

export const scenarios = ['csv', 'json', 'parquet-snappy', 'parquet-zstd', 'parquet-10m'];

const SETTINGS = {
  csv: { format: 'csv', records: 1_000_000, pythonRecordsPerSec: 5000 },
  json: { format: 'json', records: 1_000_000, pythonRecordsPerSec: 5000 },
  'parquet-snappy': { format: 'parquet', compression: 'snappy', records: 1_000_000 },
  'parquet-zstd': { format: 'parquet', compression: 'zstd', records: 1_000_000 },
  'parquet-10m': { format: 'parquet', compression: 'snappy', records: 10_000_000 },
};

const scenario = scenarioArg('csv');
const s = SETTINGS[scenario];
if (!s) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);

const dir = await mkdtemp(join(tmpdir(), 'iotsim-bench-file-'));
try {
  const options = { path: dir, format: s.format, batchSize: 5000, maxBufferSize: 50_000 };
  if (s.compression) options.compression = s.compression;
  const sink = new FileSink({ ...options, backpressure: 'block' });
  // Time spent inside FileSink.write, to separate the sink's cost from the generator's.
  let sinkMs = 0;
  const write = sink.write.bind(sink);
  sink.write = async (batch) => {
    const t0 = performance.now();
    await write(batch);
    sinkMs += performance.now() - t0;
  };
  await measure(
    scenario,
    async () => {
      const gen = new DataGenerator({ industries: listIndustries(), seed: 42 });
      const runner = new SinkRunner(sink);
      await runner.start();
      let t = 1_700_000_000;
      let n = 0;
      while (n < s.records) {
        const batch = gen.tick(t);
        t += 1;
        n += batch.length;
        const waiting = runner.enqueue(batch);
        if (waiting) await waiting;
      }
      await runner.stop(600);
      const m = runner.metrics();
      if (m.delivered !== n || m.failed !== 0)
        throw new Error(`lost records: ${JSON.stringify(m)}`);
      let bytes = 0;
      for (const f of sink.files) bytes += (await stat(f)).size;
      return {
        records: n,
        extra: {
          files: sink.files.length,
          bytes,
          bytesPerRecord: Math.round((bytes / n) * 10) / 10,
          sinkRecordsPerSec: Math.round(n / (sinkMs / 1000)),
        },
      };
    },
    {
      format: s.format,
      ...(s.compression ? { compression: s.compression } : {}),
      ...(s.pythonRecordsPerSec ? { pythonRecordsPerSec: s.pythonRecordsPerSec } : {}),
    },
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
