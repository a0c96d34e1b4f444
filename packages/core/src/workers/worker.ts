/**
 * The body of one worker thread of a run (`workers: N`): it owns a sub-shard of the devices end to
 * end (its own generator, sinks and their connections, built here from their specs), and talks to
 * the main thread only through the messages of `protocol.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { BackfillClock } from '../clock.js';
import { ConfigError, SinkConnectError } from '../errors.js';
import { ChannelTable, Frame } from '../frame.js';
import { DataGenerator } from '../generator.js';
import type { Logger } from '../logger.js';
import { Registry } from '../registry.js';
import { SinkRunner } from '../runner.js';
import { Redactor } from '../secrets.js';
import { backfillStream, sinkShard, subShard } from '../shard.js';
import type { FromWorker, ToWorker, WireError, WorkerSetup } from './protocol.js';

/** Readings per frame in a backfill, as the main loop. */
const FRAME_READINGS = 8192;
/** Frames sent to the main thread and not yet taken by its sinks before the worker waits. */
const MAX_UNACKED = 4;

const port = parentPort!;
const setup = workerData as WorkerSetup;
const redactor = new Redactor().add(...setup.secrets);
const who = setup.role === 'sinks' ? 'sink thread' : `worker ${setup.worker}`;
const post = (message: FromWorker, transfer?: ArrayBuffer[]): void =>
  port.postMessage(message, transfer);
const log =
  (level: 'debug' | 'info' | 'warn' | 'error') =>
  (message: string): void =>
    post({ kind: 'log', level, message: `${who}: ${redactor.redact(message)}` });
const logger: Logger = {
  debug: log('debug'),
  info: log('info'),
  warn: log('warn'),
  error: log('error'),
};

function wire(err: unknown): WireError {
  if (err instanceof ConfigError)
    return { name: 'ConfigError', message: redactor.redact(err.message), issues: err.issues };
  if (err instanceof SinkConnectError)
    return {
      name: 'SinkConnectError',
      message: redactor.redact(err.message),
      sinkType: err.sinkType,
    };
  if (err instanceof Error) return { name: err.name, message: redactor.redact(err.message) };
  return { name: 'Error', message: redactor.redact(String(err)) };
}

const sinkThread = setup.role === 'sinks';
const generator = new DataGenerator({
  seed: setup.seed,
  devicesPerIndustry: setup.devicesPerIndustry,
  shard: subShard(setup.shard, setup.worker, setup.workers),
});
if (!sinkThread) for (const g of setup.groups) generator.addResolved(g.sensors, g.industry);
const table = generator.channelTable();
// The sink thread's sinks are one per process: they carry the shard only, as on the main thread.
const shard = sinkThread
  ? sinkShard(setup.shard, setup.seed)
  : sinkShard(setup.shard, setup.seed, setup.worker, setup.workers);
// A generator worker's sinks see its readings only: in a backfill a rerun hands them the same ones.
const stream =
  !sinkThread && setup.backfill
    ? backfillStream({
        seed: setup.seed,
        shard: setup.shard,
        worker: setup.worker,
        workers: setup.workers,
        devicesPerIndustry: setup.devicesPerIndustry,
        groups: setup.groups,
        rateHz: setup.rateHz,
        start: setup.backfill.start,
        end: setup.backfill.end,
      })
    : undefined;
/** Sink thread: the table of each generator worker, by worker index. */
const tables: ChannelTable[] = [];
/** Sink thread: acks go back in the order the frames came. */
let ackChain: Promise<unknown> = Promise.resolve();

let runners: SinkRunner[] = [];
let stopRequested = false;
let aborted = false;
let wakeStop: (() => void) | undefined;
const stopped = new Promise<void>((resolve) => (wakeStop = resolve));
let ticks = 0;
let first: number | undefined;
let last: number | undefined;
let unacked = 0;
const ackWaiters: (() => void)[] = [];
let go: (() => void) | undefined;
const started = new Promise<void>((resolve) => (go = resolve));
/** Real time: ticks from the main thread, handled one after another. */
let chain: Promise<void> = Promise.resolve();

function metrics() {
  return runners.map((r) => r.metrics());
}

/** Hands a frame to this worker's sinks and, when main-thread sinks need it, to the main thread. */
function fanOut(frame: Frame, wait: boolean): Promise<unknown> | undefined {
  let waits: Promise<unknown>[] | undefined;
  if (setup.forward && frame.size > 0) {
    // Transferred, not cloned; a copy when this worker's own sinks still hold the frame.
    const sent = runners.length
      ? new Frame(
          table,
          frame.tick0,
          frame.timestamps.slice(),
          frame.values.slice(),
          frame.faults.slice(),
        )
      : frame;
    unacked++;
    post({ kind: 'frame', frame: sent.toMessage() }, sent.transfer());
    if (unacked >= MAX_UNACKED)
      (waits ??= []).push(new Promise<void>((resolve) => ackWaiters.push(resolve)));
  }
  for (const r of runners) {
    const w = r.enqueue(frame, wait);
    if (w) (waits ??= []).push(w);
  }
  return waits ? Promise.all(waits) : undefined;
}

async function handle(tick0: number, timestamps: Float64Array, wait: boolean): Promise<void> {
  const frame = generator.generate(tick0, timestamps, 1 / setup.rateHz);
  first ??= frame.timestamps[0];
  last = frame.timestamps[frame.ticks - 1];
  ticks += frame.ticks;
  // A frame sent to the main thread is detached here: take what is needed first.
  const w = fanOut(frame, wait);
  if (w) await Promise.race([w, stopped]);
}

async function backfill(range: { start: number; end: number }): Promise<void> {
  const clock = new BackfillClock({ rateHz: setup.rateHz, start: range.start, end: range.end });
  const maxTicks = Math.max(1, Math.floor(FRAME_READINGS / Math.max(1, table.length)));
  let lastYield = performance.now();
  let lastReport = lastYield;
  for (;;) {
    if (stopRequested) break;
    const step = await clock.next(maxTicks);
    if (!step || stopRequested) break;
    await handle(step.tick0, step.timestamps, true);
    const now = performance.now();
    if (now - lastYield > 20) {
      lastYield = now;
      await yieldToLoop();
      if (now - lastReport > 500) {
        lastReport = now;
        post({ kind: 'progress', ticks, last, metrics: metrics() });
      }
    }
  }
}

async function finish(): Promise<void> {
  await chain;
  await ackChain;
  if (!aborted) await Promise.all(runners.map((r) => r.stop(setup.shutdownTimeoutS)));
  post({ kind: 'done', ticks, first, last, metrics: metrics() });
}

let reporter: NodeJS.Timeout | undefined;

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'go':
      go?.();
      break;
    case 'table':
      tables[message.worker] = new ChannelTable(message.table);
      break;
    case 'frame': {
      // Sink thread: a generator worker's frame, relayed by the main thread.
      const frame = Frame.fromMessage(message.frame, tables[message.worker]!);
      let waits: Promise<unknown>[] | undefined;
      for (const r of runners) {
        const w = r.enqueue(frame, setup.backfill !== undefined);
        if (w) (waits ??= []).push(w);
      }
      const ready = waits ? Promise.race([Promise.all(waits), stopped]) : undefined;
      ackChain = ackChain.then(() => ready).then(() => post({ kind: 'ack' }));
      break;
    }
    case 'tick':
      // Every tick sent before a stop is generated: the run's record count is exact.
      chain = chain.then(() => handle(message.tick0, message.timestamps, false));
      break;
    case 'ack':
      unacked--;
      if (unacked < MAX_UNACKED) for (const wake of ackWaiters.splice(0)) wake();
      break;
    case 'control':
      if (message.op === 'inject')
        generator.control.injectFault(message.channels, message.durationS ?? 0, message.anomaly);
      else if (message.op === 'clear') generator.control.clearFault(message.channels);
      else generator.control.override(message.channels, message.value ?? null);
      break;
    case 'stop':
      stopRequested = true;
      wakeStop?.();
      go?.();
      break;
    case 'abort':
      aborted = true;
      stopRequested = true;
      for (const r of runners) r.abort(message.reason);
      wakeStop?.();
      go?.();
      for (const wake of ackWaiters.splice(0)) wake();
      break;
  }
});

async function main(): Promise<void> {
  const registry = new Registry({ resolveFrom: setup.resolveFrom });
  const errors: WireError[] = [];
  for (const { spec } of setup.sinks)
    if (spec.module)
      registry.registerSink(
        spec.type,
        spec.module.specifier,
        spec.module.exportName,
        spec.module.packageName,
      );
  for (const { spec, name } of setup.sinks) {
    try {
      const made = await registry.createSink({ type: spec.type, ...spec.options }, spec.path);
      redactor.watch(made.sink);
      runners.push(
        new SinkRunner(made.sink, {
          name,
          logger,
          throughput: made.throughput,
          redact: (t) => redactor.redact(t),
          shard,
          ...(stream ? { stream } : {}),
        }),
      );
    } catch (err) {
      errors.push(wire(err));
    }
  }
  if (!errors.length) {
    const results = await Promise.allSettled(runners.map((r) => r.start()));
    for (const r of results) if (r.status === 'rejected') errors.push(wire(r.reason));
    if (errors.length)
      await Promise.allSettled(
        runners.filter((_, i) => results[i]!.status === 'fulfilled').map((r) => r.sink.close()),
      );
  }
  if (errors.length) {
    runners = [];
    post({ kind: 'failed', errors });
    return;
  }
  post({ kind: 'started', table: table.toData() });
  reporter = setInterval(() => post({ kind: 'progress', ticks, last, metrics: metrics() }), 500);
  await started;
  if (setup.backfill && !sinkThread && !stopRequested) await backfill(setup.backfill);
  else await stopped;
  clearInterval(reporter);
  await finish();
}

main().catch((err: unknown) => {
  clearInterval(reporter);
  post({ kind: 'failed', errors: [wire(err)] });
});
