// A simulated day of two industries into hourly Parquet files, as fast as the disk takes it.
// Run: node examples/dist/backfill-to-parquet.js [output-dir]
import { Simulator } from '@iotsim/core';
import { FileSink } from '@iotsim/sink-file';

const dir = process.argv[2] ?? './output/backfill';
const sim = new Simulator({
  industries: ['mining', 'utilities'],
  updateRateHz: 1,
  seed: 7,
  start: '2024-01-01T00:00:00Z',
  end: '2024-01-02T00:00:00Z',
});
sim.addSink(new FileSink({ path: dir, format: 'parquet', rotation: '1h' }), { batchSize: 10_000 });
const summary = await sim.run({
  onProgress: (p) => console.error(`${(p.fraction * 100).toFixed(0)}%`),
});
const [file] = summary.sinks;
console.log(`${file!.delivered} records in ${summary.elapsedS.toFixed(1)} s into ${dir}`);
