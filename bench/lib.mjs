// Shared helpers for benchmark scenarios. A scenario file is run as `node bench/<file>.mjs <scenario>`
// in its own process (so peak RSS is its own) and prints one JSON line via `report()`.
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb() {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

/** Times `fn` (which returns the number of records it handled) and prints the result line. */
export async function measure(scenario, fn, extra = {}) {
  const load1m = machineLoad();
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
    load1m,
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

/** Readings per frame, as the engine's backfill makes them (core simulator.ts FRAME_READINGS). */
export const FRAME_READINGS = 8192;

/**
 * Backfills all 16 industries through a SinkRunner into `sink` until at least `records` records
 * were generated (one tick per simulated second), then stops the runner. Like the engine, it
 * hands the runner frames of up to FRAME_READINGS readings (`DataGenerator.generate`), so sinks
 * see the columnar batches a CLI or API run gives them. `throughput` goes beside the sink
 * (sink contract v2); unset keys take the runner's defaults. With `exact`, the last tick is cut
 * so that exactly `records` records are generated. The generator waits for the sink (no drops).
 * Returns the count generated, the runner's counters and the milliseconds spent generating.
 */
export async function backfillThrough(
  sink,
  {
    records,
    seed = 1,
    stopTimeoutS = 600,
    start = 1_700_000_000,
    throughput = {},
    exact = false,
  } = {},
) {
  const { DataGenerator, RecordBatch, SinkRunner, listIndustries } = await import('@iotsim/core');
  const gen = new DataGenerator({ industries: listIndustries(), seed });
  const runner = new SinkRunner(sink, { throughput });
  await runner.start();
  const channels = gen.sensorCount;
  const maxTicks = Math.max(1, Math.floor(FRAME_READINGS / channels));
  const totalTicks = Math.ceil(records / channels);
  let k = 0;
  let generated = 0;
  let generateMs = 0;
  while (k < totalTicks) {
    const ticks = Math.min(maxTicks, totalTicks - k);
    const timestamps = new Float64Array(ticks);
    for (let i = 0; i < ticks; i++) timestamps[i] = start + k + i;
    const t0 = performance.now();
    const frame = gen.generate(k, timestamps, 1);
    generateMs += performance.now() - t0;
    k += ticks;
    let input = frame;
    if (exact && generated + frame.size > records) {
      // Only the front of the last frame: handed over as records (the runner takes both kinds).
      const keep = records - generated;
      input = new RecordBatch([{ frame, start: 0, end: keep }], keep).records;
    }
    generated += input.length ?? input.size;
    const wait = runner.enqueue(input, true);
    if (wait) await wait;
  }
  await runner.stop(stopTimeoutS);
  return { generated, metrics: runner.metrics(), generateMs };
}

/**
 * A write request (sink contract v2) for driving a sink directly, without a runner: `frame`'s
 * readings `[start, end)` as one batch.
 */
export async function writeRequest(frame, batchId, start = 0, end = frame.size) {
  const { RecordBatch } = await import('@iotsim/core');
  const batch = new RecordBatch([{ frame, start, end }], end - start);
  return {
    batchId,
    attempt: 0,
    size: batch.size,
    get records() {
      return batch.records;
    },
    batch,
    signal: new AbortController().signal,
  };
}

/** The machine's 1-minute load average, for results taken on a shared machine. */
export function machineLoad() {
  return Math.round(loadavg()[0] * 100) / 100;
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
