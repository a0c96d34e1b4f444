// Soak (not part of `pnpm bench` or CI): all 16 industries in real time at 20,000 records/s
// (updateRateHz = 20000/379) for SOAK_S seconds (default 600) into three sinks at once: a CSV file
// sink, a SQLite database sink and a counting callback. Samples RSS every SOAK_SAMPLE_S (10) seconds
// and reports start, peak and end RSS, tick lag p99, and the accounting of every sink, read back
// from the destinations (CSV lines on disk, SQLite rows).
//   node bench/soak.mjs            (SOAK_S=60 node bench/soak.mjs for a short run)
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, rmSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Simulator, listIndustries } from '@iotsim/core';
import { FileSink } from '@iotsim/sink-file';
import { DatabaseSink } from '@iotsim/sink-database';
import { peakRssMb, report } from './lib.mjs';

// An empty list keeps bench/run.mjs from running the soak with the throughput scenarios.
export const scenarios = [];

const SOAK_S = Number(process.env.SOAK_S ?? 600);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 10);
const TARGET = 20_000;
const industries = listIndustries();

const dir = mkdtempSync(join(tmpdir(), 'iotsim-soak-'));
const dbFile = join(dir, 'soak.db');
const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;

try {
  const sim = new Simulator({ industries, seed: 1, updateRateHz: TARGET / 379 });
  // Throughput goes beside each sink (sink contract v2).
  const throughput = { batchSize: 5_000, rateHz: 1, maxBufferSize: 200_000 };
  sim.addSink(new FileSink({ path: join(dir, 'csv'), format: 'csv' }), throughput);
  sim.addSink(new DatabaseSink({ connectionString: `sqlite+aiosqlite:///${dbFile}` }), throughput);
  let counted = 0;
  sim.addSink((batch) => void (counted += batch.length), throughput);

  const samples = [];
  const t0 = performance.now();
  const sample = () => {
    const rss = mb(process.memoryUsage.rss());
    const t = Math.round((performance.now() - t0) / 1000);
    samples.push({ t, rssMb: rss });
    process.stderr.write(`soak t=${t}s rss=${rss} MB callback=${counted}\n`);
  };
  const timer = setInterval(sample, SAMPLE_S * 1000);
  const running = sim.run({ durationS: SOAK_S });
  sample();
  const summary = await running;
  clearInterval(timer);
  sample();

  // Read back independently: CSV data lines on disk (minus one header per file), SQLite rows.
  let csvLines = 0;
  const csvDir = join(dir, 'csv');
  const files = readdirSync(csvDir);
  for (const f of files) {
    for await (const chunk of createReadStream(join(csvDir, f))) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) csvLines++;
    }
    csvLines--; // header
  }
  const fromSink = createRequire(import.meta.resolve('@iotsim/sink-database'));
  const Database = (await import(pathToFileURL(fromSink.resolve('better-sqlite3')).href)).default;
  const db = new Database(dbFile, { readonly: true });
  const sqliteRows = db.prepare('SELECT count(*) AS n FROM sensor_data').get().n;
  db.close();

  const rss = samples.map((s) => s.rssMb);
  const accounting = Object.fromEntries(
    summary.sinks.map((m) => [
      m.name,
      {
        generated: m.generated,
        delivered: m.delivered,
        dropped: m.dropped.total,
        failed: m.failed,
        buffered: m.buffered,
        balanced: m.generated === m.delivered + m.dropped.total + m.failed + m.buffered,
      },
    ]),
  );
  report({
    scenario: 'soak/realtime-20k-file-sqlite-callback',
    seconds: Math.round(summary.elapsedS * 10) / 10,
    records: summary.records,
    recordsPerSec: Math.round(summary.records / summary.elapsedS),
    targetRecordsPerSec: TARGET,
    rssStartMb: rss[0],
    rssAfterFirstSampleMb: rss[1],
    rssPeakMb: Math.max(...rss),
    rssEndMb: rss[rss.length - 1],
    peakRssMb: peakRssMb(),
    lagP99Ms: Math.round(summary.lagMs.p99 * 10) / 10,
    lagMaxMs: Math.round(summary.lagMs.max * 10) / 10,
    readBack: { csvLines, csvFiles: files.length, sqliteRows, callback: counted },
    accounting,
    rssSamplesMb: rss,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
