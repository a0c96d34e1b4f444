// Shared helpers for benchmark scenarios. A scenario file is run as `node bench/<file>.mjs <scenario>`
// in its own process (so peak RSS is its own) and prints one JSON line via `report()`.
import { performance } from 'node:perf_hooks';

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb() {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

/** Times `fn` (which returns the number of records it handled) and prints the result line. */
export async function measure(scenario, fn, extra = {}) {
  const started = performance.now();
  const result = await fn();
  const seconds = (performance.now() - started) / 1000;
  const records = typeof result === 'number' ? result : result.records;
  const more = typeof result === 'number' ? {} : (result.extra ?? {});
  report({
    scenario,
    records,
    seconds,
    recordsPerSec: Math.round(records / seconds),
    peakRssMb: peakRssMb(),
    ...extra,
    ...more,
  });
}

/** Prints one result line for bench/run.mjs to collect. */
export function report(result) {
  process.stdout.write(`BENCH ${JSON.stringify(result)}\n`);
}

/** The scenario name given on the command line, or the default. */
export function scenarioArg(fallback) {
  return process.argv[2] ?? fallback;
}

/**
 * Backfills all 16 industries through a SinkRunner into `sink` until at least `records` records
 * were generated (one tick per simulated second), then stops the runner. The generator waits for
 * the sink (no drops). Returns the count generated and the runner's counters.
 */
export async function backfillThrough(
  sink,
  { records, seed = 1, stopTimeoutS = 600, start = 1_700_000_000 } = {},
) {
  const { DataGenerator, SinkRunner, listIndustries } = await import('@iotsim/core');
  const gen = new DataGenerator({ industries: listIndustries(), seed });
  const runner = new SinkRunner(sink);
  await runner.start();
  let t = start;
  let generated = 0;
  while (generated < records) {
    const batch = gen.tick(t, 1);
    t += 1;
    generated += batch.length;
    const wait = runner.enqueue(batch, true);
    if (wait) await wait;
  }
  await runner.stop(stopTimeoutS);
  return { generated, metrics: runner.metrics() };
}

/**
 * Checks a run against what a stand-in server received (nothing failed, everything delivered and
 * received) and returns the sink process's CPU figures since `cpuAtStart` (`process.cpuUsage()`).
 */
export function checkedCpuFigures(metrics, generated, received, cpuAtStart) {
  if (metrics.failed !== 0 || metrics.delivered !== generated || received !== generated) {
    throw new Error(
      `bench: generated ${generated}, delivered ${metrics.delivered}, failed ${metrics.failed}, server received ${received}`,
    );
  }
  const used = process.cpuUsage(cpuAtStart);
  const cpuS = (used.user + used.system) / 1e6;
  // CPU time of this (sink) process: records per CPU-second is less sensitive to a busy machine.
  return {
    cpuS: Math.round(cpuS * 100) / 100,
    recordsPerCpuSec: Math.round(metrics.delivered / cpuS),
    p50WriteMs: Math.round(metrics.writeLatencyMs.p50 * 100) / 100,
  };
}
