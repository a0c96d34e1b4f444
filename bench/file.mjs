// File sink throughput: a backfill of all 16 industries through a SinkRunner (batchSize 5,000,
// backpressure block) into one file per scenario. Run: node bench/file.mjs <scenario>
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataGenerator, listIndustries } from '@iotsim/core';
import { FileSink } from '@iotsim/sink-file';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['csv', 'json', 'parquet-snappy', 'parquet-zstd', 'parquet-10m'];

const SETTINGS = {
  csv: { format: 'csv', records: 1_000_000, pythonRecordsPerSec: 5000 },
  json: { format: 'json', records: 1_000_000, pythonRecordsPerSec: 5000 },
  'parquet-snappy': { format: 'parquet', compression: 'snappy', records: 1_000_000 },
  'parquet-zstd': { format: 'parquet', compression: 'zstd', records: 1_000_000 },
  // Driven directly (no SinkRunner), so peak RSS is the writer's own: see the note below.
  'parquet-10m': { format: 'parquet', compression: 'snappy', records: 10_000_000, direct: true },
};

const scenario = scenarioArg('csv');
const s = SETTINGS[scenario];
if (!s) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);

const dir = await mkdtemp(join(tmpdir(), 'iotsim-bench-file-'));
try {
  const options = { path: dir, format: s.format, batchSize: 5000, maxBufferSize: 20_000 };
  if (s.compression) options.compression = s.compression;
  const sink = new FileSink({ ...options, backpressure: 'block' });
  // CPU seconds (user + system, all threads) besides wall time: the machine is shared, and CPU
  // time says what one core does when it is not waiting for others.
  const cpu0 = process.cpuUsage();
  // SinkRunner keeps up to 1,024 consumed ticks referenced in its queue (core/runner.ts
  // advanceChunk), ~100-200 MB at this rate; the 10M scenario skips it to measure the writer.
  const direct = async (sink, gen) => {
    await sink.connect();
    let t = 1_700_000_000;
    let n = 0;
    let batch = [];
    while (n < s.records) {
      for (const r of gen.tick(t)) batch.push(r);
      t += 1;
      if (batch.length >= 5000 || n + batch.length >= s.records) {
        await sink.write(batch);
        n += batch.length;
        batch = [];
      }
    }
    await sink.close();
    const used = process.cpuUsage(cpu0);
    const cpuS = (used.user + used.system) / 1e6;
    const bytes = (await stat(sink.files[0])).size;
    return {
      records: n,
      extra: {
        files: sink.files.length,
        bytes,
        bytesPerRecord: Math.round((bytes / n) * 10) / 10,
        cpuSeconds: Math.round(cpuS * 100) / 100,
        recordsPerCpuSec: Math.round(n / cpuS),
        driver: 'direct',
      },
    };
  };
  await measure(
    scenario,
    async () => {
      const gen = new DataGenerator({ industries: listIndustries(), seed: 42 });
      if (s.direct) return direct(sink, gen);
      const { generated: n, metrics: m } = await backfillThrough(sink, {
        records: s.records,
        seed: 42,
      });
      const used = process.cpuUsage(cpu0);
      const cpuS = () => (used.user + used.system) / 1e6;
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
          cpuSeconds: Math.round(cpuS() * 100) / 100,
          recordsPerCpuSec: Math.round(n / cpuS()),
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
