// File sink throughput: a backfill of all 16 industries through a SinkRunner (batchSize 5,000,
// backpressure block) into one file per scenario. Run: node bench/file.mjs <scenario>
// The same at the CLI's defaults (batch_size 100, whole process) is bench/cli.mjs.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataGenerator, listIndustries } from '@iotsim/core';
import { FileSink } from '@iotsim/sink-file';
import { FRAME_READINGS, backfillThrough, measure, scenarioArg, writeRequest } from './lib.mjs';

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
  // The sink's own options; throughput goes beside it, to the runner (sink contract v2).
  const options = { path: dir, format: s.format };
  if (s.compression) options.compression = s.compression;
  const sink = new FileSink(options);
  const throughput = { batchSize: 5000, maxBufferSize: 20_000, backpressure: 'block' };
  // CPU seconds (user + system, all threads) besides wall time: the machine is shared, and CPU
  // time says what one core does when it is not waiting for others.
  const cpu0 = process.cpuUsage();
  // The 10M scenario skips the SinkRunner so that peak RSS is the writer's own (engine v1's
  // runner kept up to 1,024 consumed ticks referenced; v2's releases each chunk at once).
  // Direct: one write request per frame of whole ticks (13 ticks, 4,927 readings), as a runner
  // would hand them at batchSize 5,000, without the runner's queue.
  const direct = async (sink, gen) => {
    await sink.connect();
    const channels = gen.sensorCount;
    const perWrite = Math.max(1, Math.floor(Math.min(5000, FRAME_READINGS) / channels));
    const totalTicks = Math.ceil(s.records / channels);
    let n = 0;
    let batchId = 0;
    for (let k = 0; k < totalTicks;) {
      const ticks = Math.min(perWrite, totalTicks - k);
      const timestamps = new Float64Array(ticks);
      for (let i = 0; i < ticks; i++) timestamps[i] = 1_700_000_000 + k + i;
      const frame = gen.generate(k, timestamps, 1);
      k += ticks;
      const result = await sink.write(await writeRequest(frame, ++batchId));
      if (result && result.delivered !== undefined && result.delivered !== frame.size)
        throw new Error(`partial write: ${result.delivered} of ${frame.size}`);
      n += frame.size;
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
        throughput,
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
