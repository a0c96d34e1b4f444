// Generator and engine throughput: all 16 industries (379 sensors). Run: node bench/core.mjs <scenario>
//   generate          DataGenerator.tick alone, one core
//   backfill-callback Simulator backfill into a counting callback sink, large batches (5,000)
//   backfill-callback-defaults
//                     the same at the defaults a user runs: `sim.addSink(fn)` with no throughput
//                     (batch_size 100, max_buffer_size 50,000), the scenario
//   realtime-50k      real-time clock at 50,000 records/s for BENCH_REALTIME_S (30) seconds:
//                     achieved rate and tick lateness p99
import { DataGenerator, Simulator, THROUGHPUT_DEFAULTS, listIndustries } from '@iotsim/core';
import { measure, scenarioArg } from './lib.mjs';

export const scenarios = [
  'generate',
  'backfill-callback',
  'backfill-callback-defaults',
  'realtime-50k',
];

const PYTHON_TICK_RECORDS_PER_SEC = 106_000; // the original's DataGenerator.tick, all 379 sensors, one core
const scenario = scenarioArg('backfill-callback');
const industries = listIndustries();

if (scenario === 'generate') {
  await measure(
    'core/generate',
    () => {
      const gen = new DataGenerator({ industries, seed: 1 });
      let n = 0;
      for (let k = 0; k < 30_000; k++) n += gen.tick(1_700_000_000 + k).length;
      return n;
    },
    { pythonRecordsPerSec: PYTHON_TICK_RECORDS_PER_SEC },
  );
} else if (scenario === 'backfill-callback' || scenario === 'backfill-callback-defaults') {
  const ticks = Number(process.env.BENCH_TICKS ?? 40_000);
  const defaults = scenario === 'backfill-callback-defaults';
  // Large batches, or nothing at all beside the sink: the defaults (batch_size 100).
  const throughput = defaults ? undefined : { batchSize: 5000, maxBufferSize: 50_000 };
  await measure(
    `core/${scenario}`,
    async () => {
      const sim = new Simulator({
        industries,
        seed: 1,
        updateRateHz: 1,
        start: 1_700_000_000,
        end: 1_700_000_000 + ticks,
      });
      let counted = 0;
      const count = (batch) => void (counted += batch.length);
      if (throughput) sim.addSink(count, throughput);
      else sim.addSink(count);
      const summary = await sim.run();
      if (counted !== summary.records || summary.sinks[0].delivered !== counted)
        throw new Error('lost records');
      return {
        records: counted,
        extra: {
          batchSize: defaults ? THROUGHPUT_DEFAULTS.batchSize : 5000,
          batches: summary.sinks[0].batches,
        },
      };
    },
    {
      pythonRecordsPerSec: PYTHON_TICK_RECORDS_PER_SEC,
      ...(defaults
        ? {
            goal: '>= 8 M records/s',
            before: 'engine v1: 7.7–7.9 M (same machine, 2026-12-02); the issue measured ~3.0 M',
          }
        : {}),
    },
  );
} else if (scenario === 'realtime-50k') {
  const seconds = Number(process.env.BENCH_REALTIME_S ?? 30);
  const target = 50_000;
  await measure('core/realtime-50k', async () => {
    const sim = new Simulator({ industries, seed: 1, updateRateHz: target / 379 });
    let counted = 0;
    sim.addSink((batch) => void (counted += batch.length), { batchSize: 5000 });
    const started = performance.now();
    const summary = await sim.run({ durationS: seconds });
    const elapsed = (performance.now() - started) / 1000;
    const achieved = counted / elapsed;
    return {
      records: counted,
      extra: {
        targetRecordsPerSec: target,
        achievedRecordsPerSec: Math.round(achieved),
        rateErrorPct: Number((((achieved - target) / target) * 100).toFixed(2)),
        lagP99Ms: Number(summary.lagMs.p99.toFixed(2)),
        lagMaxMs: Number(summary.lagMs.max.toFixed(2)),
      },
    };
  });
} else {
  throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
}
