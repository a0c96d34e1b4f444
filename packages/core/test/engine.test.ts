import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  BackfillClock,
  ChannelTable,
  DataGenerator,
  Frame,
  HttpServer,
  LiveState,
  RealTimeClock,
  Registry,
  registerSink,
  ServerStartError,
  Simulator,
  Sink,
  type LiveStateJson,
  type SensorRecord,
  type WriteRequest,
} from '../src/index.js';

const coreDist = pathToFileURL(fileURLToPath(new URL('../dist/index.js', import.meta.url))).href;

async function collect(clock: RealTimeClock, ticks: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < ticks) {
    const step = await clock.next(1);
    if (!step) break;
    out.push(...step.timestamps);
  }
  return out;
}

describe('clock', () => {
  it('real time is on the absolute grid: two runs started apart share timestamps', async () => {
    const a = new RealTimeClock({ rateHz: 20 });
    const first = collect(a, 8);
    await new Promise((r) => setTimeout(r, 130));
    const b = new RealTimeClock({ rateHz: 20 });
    const [ta, tb] = await Promise.all([first, collect(b, 8)]);
    for (const t of [...ta, ...tb])
      expect(Math.abs(t * 20 - Math.round(t * 20))).toBeLessThan(1e-6);
    const shared = tb.filter((t) => ta.includes(t));
    expect(shared.length).toBeGreaterThanOrEqual(4);
    a.stop();
    b.stop();
  });

  it('speed plays simulated time faster: 60x for half a second gives 30 ticks of 1 s', async () => {
    const sim = new Simulator({ industries: ['mining'], seed: 1, updateRateHz: 1, speed: 60 });
    const stamps: number[] = [];
    sim.addSink((rs) => {
      for (const r of rs) if (r.sensor_name === rs[0]!.sensor_name) stamps.push(r.timestamp);
    });
    const started = performance.now();
    const summary = await sim.run({ durationS: 0.5 });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(summary.mode).toBe('accelerated');
    expect(summary.ticks).toBe(30);
    expect(stamps.slice(1).map((t, i) => t - stamps[i]!)).toEqual(new Array(29).fill(1));
  });

  it('a wall-clock jump is logged and re-anchored: no stall, no burst', async () => {
    let wall = 1_700_000_000_000;
    let mono = 0;
    const warnings: string[] = [];
    const clock = new RealTimeClock({
      rateHz: 1,
      wallNow: () => wall,
      monoNow: () => mono,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} },
    });
    const s1 = await clock.next(100);
    expect(s1!.timestamps[0]).toBe(1_700_000_000);
    mono += 1000;
    wall += 1000;
    const s2 = await clock.next(100);
    expect([...s2!.timestamps]).toEqual([1_700_000_001]);
    // The wall clock is set forward 60 s: the next tick follows it, one tick at a time.
    mono += 1000;
    wall += 61_000;
    const s3 = await clock.next(100);
    expect([...s3!.timestamps]).toEqual([1_700_000_062]);
    expect(warnings.join()).toMatch(/jumped forward by 60.0 s/);
  });

  it('a real-time run ends at its duration whatever the rate', async () => {
    const sim = new Simulator({ industries: ['mining'], seed: 1, updateRateHz: 0.01 });
    sim.addSink(() => {});
    const started = performance.now();
    const summary = await sim.run({ durationS: 0.3 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThan(250);
    expect(took).toBeLessThan(3000);
    expect(summary.ticks).toBeLessThanOrEqual(1);
  });

  it('a rate the process cannot keep still ends at the duration, saying how many ticks were not generated', async () => {
    let mono = 0;
    const warnings: string[] = [];
    const clock = new RealTimeClock({
      rateHz: 1000,
      durationS: 1,
      monoNow: () => mono,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} },
    });
    expect(clock.totalTicks).toBe(1000);
    // Each step takes 400 ms of work: after three the second is over.
    let ticks = 0;
    for (let step = await clock.next(100); step; step = await clock.next(100)) {
      ticks += step.timestamps.length;
      mono += 400;
    }
    expect(mono).toBe(1200);
    expect(ticks).toBeLessThan(1000);
    expect(clock.missedTicks).toBe(1000 - ticks);
    expect(warnings.join()).toMatch(
      /fell behind its rate: [\d,]+ of 1,000 ticks were not generated/,
    );
  });

  it('backfill covers start..end at the rate, in blocks', async () => {
    const clock = new BackfillClock({ rateHz: 2, start: 100, end: 110 });
    const steps = [];
    for (let s = await clock.next(7); s; s = await clock.next(7)) steps.push(s);
    expect(steps.map((s) => s.timestamps.length)).toEqual([7, 7, 6]);
    expect(steps[2]!.timestamps[5]).toBe(109.5);
  });
});

describe('frames', () => {
  it('cross a worker thread by transfer and read back the same records there', async () => {
    const gen = new DataGenerator({
      industries: ['mining', 'utilities'],
      seed: 9,
      devicesPerIndustry: 2,
    });
    const table = gen.channelTable();
    const frame = gen.generate(5, Float64Array.from([1000, 1001]), 1);
    const expected = frame.records().map((r) => JSON.stringify(r));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       parentPort.once('message', async (msg) => {
         const { ChannelTable, Frame } = await import(workerData.core);
         const frame = Frame.fromMessage(msg.frame, new ChannelTable(msg.table));
         parentPort.postMessage({ lines: frame.records().map((r) => JSON.stringify(r)), tick0: frame.tick0 });
       });`,
      { eval: true, workerData: { core: coreDist } },
    );
    const reply = new Promise<{ lines: string[]; tick0: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    worker.postMessage({ table: table.toData(), frame: frame.toMessage() }, frame.transfer());
    // Transferred, not copied: the sender's buffers are detached.
    expect(frame.values.byteLength).toBe(0);
    const got = await reply;
    await worker.terminate();
    expect(got.tick0).toBe(5);
    expect(got.lines).toEqual(expected);
  });

  it('a frame is a view: records share the channel table and read the frame values', () => {
    const gen = new DataGenerator({ industries: ['mining'], seed: 2 });
    const frame = gen.generate(0, Float64Array.from([10, 11]), 1);
    const r = frame.record(gen.sensorCount + 3);
    expect(r.timestamp).toBe(11);
    expect(r.value).toBe(frame.values[gen.sensorCount + 3]);
    expect(r.channel).toBe(frame.table.channels[3]);
    expect(
      new ChannelTable(frame.table.toData()).indexOf('mining', 'mining-001', r.sensor_name),
    ).toBe(3);
    expect(
      () => new Frame(frame.table, 0, new Float64Array(1), new Float64Array(3), new Uint8Array(3)),
    ).toThrow(RangeError);
  });

  it('the same seed gives the same values through frames and through tick()', () => {
    const a = new DataGenerator({ industries: ['mining'], seed: 4 });
    const b = new DataGenerator({ industries: ['mining'], seed: 4 });
    const frame = a.generate(0, Float64Array.from([0, 1, 2]), 1);
    const rows = [...b.tick(0, 1), ...b.tick(1, 1), ...b.tick(2, 1)];
    expect(frame.records().map((r) => r.toDict())).toEqual(rows.map((r) => r.toDict()));
  });
});

describe('live state and control', () => {
  it('holds the latest frame, versioned, and tells subscribers', () => {
    const gen = new DataGenerator({ industries: ['mining'], seed: 2 });
    const state = new LiveState(gen.channelTable());
    const seen: number[] = [];
    const off = state.subscribe((s) => seen.push(s.version));
    state.publish(gen.generate(0, Float64Array.from([1, 2]), 1));
    state.publish(gen.generate(2, Float64Array.from([3]), 1));
    off();
    state.publish(gen.generate(3, Float64Array.from([4]), 1));
    expect(seen).toEqual([1, 2]);
    expect(state.latest).toMatchObject({ version: 3, tick: 3, timestamp: 4 });
    expect(state.value(0)).toBe(state.latest!.frame.values[0]);
  });

  it('an injected fault and an override show in every sink', async () => {
    const sim = new Simulator({
      industries: ['mining'],
      seed: 5,
      updateRateHz: 1,
      start: 0,
      end: 10,
    });
    const control = sim.model.control;
    control.injectFault([0], 100);
    control.override([1], 42);
    const a: SensorRecord[] = [];
    const b: SensorRecord[] = [];
    sim.addSink((rs) => void a.push(...rs)).addSink((rs) => void b.push(...rs), { batchSize: 3 });
    await sim.run();
    for (const got of [a, b]) {
      const ch0 = got.filter((r) => r.channel.index === 0);
      const ch1 = got.filter((r) => r.channel.index === 1);
      expect(ch0.every((r) => r.fault_active)).toBe(true);
      expect(ch1.every((r) => r.value === 42)).toBe(true);
    }
  });
});

describe('http server', () => {
  it('serves GET /state (latest values by industry, device and sensor) and GET /healthz', async () => {
    const server = new HttpServer({ port: 0 });
    const sim = new Simulator({ industries: ['mining'], seed: 7, updateRateHz: 20 });
    let last: SensorRecord[] = [];
    sim.addSink((rs) => void (last = [...rs])).addServer(server);
    const running = sim.run({ durationS: 1.5 });
    while (!server.address || !sim.liveState?.latest) await new Promise((r) => setTimeout(r, 20));
    const health = (await (await fetch(`${server.address}/healthz`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    const state = (await (await fetch(`${server.address}/state`)).json()) as LiveStateJson;
    const tick = state.timestamp;
    const sensors = state.industries.mining!['mining-001']!;
    expect(Object.keys(sensors)).toHaveLength(sim.sensorCount);
    const notFound = await fetch(`${server.address}/nope`);
    expect(notFound.status).toBe(404);
    const summary = await running;
    expect(summary.servers).toEqual([expect.objectContaining({ type: 'http', name: 'http' })]);
    // The value served for a sensor at a tick is the value the sink received for that tick.
    const sameTick = last.filter((r) => r.timestamp === tick);
    if (sameTick.length) {
      for (const r of sameTick) expect(sensors[r.sensor_name]!.value).toBe(r.value);
    }
    // Stopped with the run: the port is closed.
    await expect(fetch(`${server.address}/healthz`)).rejects.toThrow();
  });

  it('an occupied port is a ServerStartError naming the port', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const sim = new Simulator({ industries: ['mining'], seed: 1 });
    sim.addServer(new HttpServer({ port }));
    try {
      await expect(sim.run({ durationS: 0.2 })).rejects.toThrow(ServerStartError);
      await expect(sim.run({ durationS: 0.2 })).rejects.toThrow(
        `port ${port} on 127.0.0.1 is in use`,
      );
    } finally {
      blocker.close();
    }
  });
  it('serves GET /metrics: Prometheus text from the live state (frames, ticks, channels, faults)', async () => {
    const generator = new DataGenerator({ industries: ['mining'], devicesPerIndustry: 3, seed: 5 });
    const table = generator.channelTable();
    const state = new LiveState(table);
    const logs: string[] = [];
    const log = (m: string) => void logs.push(m);
    const context = {
      logger: { debug: log, info: log, warn: log, error: log },
      channels: table,
      control: generator.control,
      rateHz: 4,
      name: 'http',
    };
    const server = new HttpServer({ port: 0 });
    const scrape = () => scrapeMetrics(server.address!);
    await server.start(state, context);
    try {
      expect(logs.join('\n')).toContain('/metrics');
      const before = await scrape();
      expect(before.get('iotsim_frames_published_total')).toBe(0);
      expect(before.get('iotsim_ticks_published_total')).toBe(0);
      expect(before.has('iotsim_last_tick')).toBe(false); // no frame yet
      expect(before.get('iotsim_channels')).toBe(table.length);
      expect(before.get('iotsim_devices')).toBe(3);
      expect(before.get('iotsim_update_rate_hz')).toBe(4);
      // A backfill-like frame of 5 ticks, then a real-time one of 1, with faults on 2 channels.
      const k0 = 1_767_225_600 * 4;
      const times = (k: number, n: number) =>
        Float64Array.from({ length: n }, (_, i) => (k + i) / 4);
      state.publish(generator.generate(k0, times(k0, 5), 0.25));
      generator.control.injectFault([1, table.length - 1], 3600);
      const last = generator.generate(k0 + 5, times(k0 + 5, 1), 0.25);
      state.publish(last);
      const after = await scrape();
      expect(after.get('iotsim_frames_published_total')).toBe(2);
      expect(after.get('iotsim_ticks_published_total')).toBe(6);
      expect(after.get('iotsim_last_tick')).toBe(k0 + 5);
      expect(after.get('iotsim_last_tick_timestamp_seconds')).toBe((k0 + 5) / 4);
      let faults = 0;
      for (let i = 0; i < table.length; i++) faults += last.faults[i]!;
      expect(faults).toBeGreaterThanOrEqual(2);
      expect(after.get('iotsim_faults_active')).toBe(faults);
      const health = (await (await fetch(`${server.address}/healthz`)).json()) as {
        version: number;
      };
      expect(health.version).toBe(2);
    } finally {
      await server.stop();
    }
    // Stopped: the port is closed.
    await expect(fetch(`${server.address}/metrics`)).rejects.toThrow();
  });
  it("serves each sink's counters on GET /metrics during a run, labelled by sink and type", async () => {
    const server = new HttpServer({ port: 0 });
    const sim = new Simulator({ industries: ['mining'], seed: 7, updateRateHz: 20 });
    const events = new EventSink();
    sim
      .addSink(() => {}, { batchSize: 40 })
      .addSink(events)
      .addServer(server);
    const running = sim.run({ durationS: 2 });
    while (!server.address || !sim.metrics()[1]?.batches)
      await new Promise((r) => setTimeout(r, 20));
    const m = await scrapeMetrics(server.address);
    await running;
    for (const [sink, type] of [
      ['callback', 'callback'],
      ['events', 'events'],
    ]) {
      const get = (name: string, extra = '') =>
        m.get(`${name}{sink="${sink}",type="${type}"${extra}}`);
      const generated = get('iotsim_sink_records_generated_total')!;
      expect(generated).toBeGreaterThan(0);
      // one snapshot per sink: its counters add up
      expect(
        get('iotsim_sink_records_delivered_total')! +
          get('iotsim_sink_records_dropped_total', ',reason="oldest"')! +
          get('iotsim_sink_records_dropped_total', ',reason="newest"')! +
          get('iotsim_sink_records_failed_total')! +
          get('iotsim_sink_records_buffered')!,
      ).toBe(generated);
      expect(get('iotsim_sink_batches_failed_total')).toBe(0);
      expect(get('iotsim_sink_retries_total')).toBe(0);
    }
    // the sink's own counters, by event
    expect(m.get('iotsim_sink_events_total{sink="events",type="events",event="writes"}')).toBe(
      m.get('iotsim_sink_batches_total{sink="events",type="events"}'),
    );
    expect(
      m.get('iotsim_sink_write_p99_seconds{sink="events",type="events"}'),
    ).toBeGreaterThanOrEqual(0);
  });
});

/** A sink that counts its writes in its own counters. */
class EventSink extends Sink {
  static override readonly type = 'events';
  async connect(): Promise<void> {}
  async write(): Promise<void> {
    this.count('writes');
  }
}

/**
 * GET /metrics, checked line by line: every family has HELP and TYPE (counter or gauge) before its
 * samples, every other line is `name value` or `name{label="value",…} value`. Returns the samples
 * by `name` or `name{labels}`.
 */
async function scrapeMetrics(address: string): Promise<Map<string, number>> {
  const res = await fetch(`${address}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const m = /^# (HELP|TYPE) ([a-z_][a-z0-9_]*) (.+)$/.exec(line);
    if (m) {
      if (m[1] === 'TYPE') {
        expect(['counter', 'gauge']).toContain(m[3]);
        expect(typed.has(m[2]!)).toBe(false); // one TYPE per family
        typed.add(m[2]!);
      }
      continue;
    }
    const sample =
      /^([a-z_][a-z0-9_]*)(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?)$/;
    expect(line).toMatch(sample);
    const s = sample.exec(line);
    expect(typed.has(s![1]!)).toBe(true);
    samples.set(`${s![1]!}${s![2] ?? ''}`, Number(s![3]));
  }
  return samples;
}

class StatsSink extends Sink {
  static override readonly type = 'stats';
  readonly window: number;
  readonly sizes: number[] = [];
  constructor(options: { window?: number } = {}) {
    super();
    this.window = options.window ?? 10;
  }
  async connect(): Promise<void> {}
  async write(request: WriteRequest): Promise<void> {
    this.sizes.push(request.size);
  }
}

describe('sink contract v2 through the Simulator', () => {
  it('honours the throughput given with addSink for a Sink instance', async () => {
    const sim = new Simulator({ industries: ['mining'], seed: 1, start: 0, end: 20 });
    const sink = new StatsSink();
    sim.addSink(sink, { batchSize: 7 });
    const summary = await sim.run();
    expect(Math.max(...sink.sizes)).toBe(7);
    expect(summary.sinks[0]!.batches).toBe(Math.ceil((20 * 17) / 7));
  });

  it("rejects a third-party sink's unknown option keys with a did-you-mean", async () => {
    registerSink('stats', async () => ({ StatsSink }), 'StatsSink');
    await expect(
      Simulator.fromConfig({ sinks: [{ type: 'stats', windw: 5, batch_size: 10 }] }),
    ).rejects.toThrow("sinks[0].windw: unknown option (did you mean 'window'?)");
    const sim = await Simulator.fromConfig({
      sinks: [{ type: 'stats', window: 5, batch_size: 10 }],
    });
    expect((sim.listSinks()[0] as StatsSink).window).toBe(5);
    expect(sim.listThroughput()[0]!.batchSize).toBe(10);
  });

  it('a throughput key inside a first-party sink’s options says where it belongs', async () => {
    const { ConsoleSink } = await import('../src/index.js');
    expect(() => new ConsoleSink({ batchSize: 5 } as never)).toThrow(
      /batchSize: is a throughput option: give it beside the sink/,
    );
  });

  it('registries are per run: a registration in one does not reach another', async () => {
    const one = new Registry().registerSink('only_here', async () => ({ StatsSink }), 'StatsSink');
    const other = new Registry();
    expect(one.sinkTypes()).toContain('only_here');
    expect(other.sinkTypes()).not.toContain('only_here');
    await expect(
      Simulator.fromConfig({ sinks: [{ type: 'only_here' }] }, {}, { registry: other }),
    ).rejects.toThrow(/unknown sink type 'only_here'/);
    const sim = await Simulator.fromConfig(
      { sinks: [{ type: 'only_here' }] },
      {},
      { registry: one },
    );
    expect(sim.listSinks()[0]!.type).toBe('stats');
  });

  it('a first-party type whose package is not installed names the package and the install command', async () => {
    await expect(
      Simulator.fromConfig(
        { sinks: [{ type: 'kafka' }] },
        {},
        { registry: new Registry({ resolveFrom: ['/'] }) },
      ),
    ).rejects.toThrow(
      "sink type 'kafka' needs the package @iotsim/sink-kafka, which is not installed; install it with: npm install @iotsim/sink-kafka",
    );
  });

  it('every sink that cannot connect is reported at once, with its YAML path and type', async () => {
    class Down extends Sink {
      static override readonly type = 'down';
      async connect(): Promise<void> {
        throw new Error('connection refused');
      }
      async write(): Promise<void> {}
    }
    const registry = new Registry().registerSink('down', async () => ({ Down }), 'Down');
    const sim = await Simulator.fromConfig(
      {
        sinks: [
          { type: 'down' },
          { type: 'console', stream: { write: () => true } },
          { type: 'down' },
        ],
      },
      {},
      { registry },
    );
    await expect(sim.run({ durationS: 0.1 })).rejects.toThrow(
      /2 sinks or servers could not start:\n {2}sinks\[0\] \(down\): connection refused\n {2}sinks\[2\] \(down\): connection refused\nFix them, or remove them/,
    );
  });

  it("a sink's own counters and the servers appear in the run summary", async () => {
    class Counting extends Sink {
      static override readonly type = 'counting';
      async connect(): Promise<void> {}
      async write(): Promise<void> {
        this.count('requests');
      }
    }
    const sim = new Simulator({ industries: ['mining'], seed: 1, start: 0, end: 10 });
    sim.addSink(new Counting(), { batchSize: 17 });
    const summary = await sim.run();
    expect(summary.sinks[0]!.sinkMetrics).toEqual({ requests: 10 });
    expect(JSON.parse(JSON.stringify(summary))).toMatchObject({ mode: 'backfill', ticks: 10 });
  });

  it('a secret of one simulator is redacted in its summary', async () => {
    class Leaky extends Sink {
      static override readonly type = 'leaky';
      constructor() {
        super();
        this.registerSecret('hunter2-very-secret');
      }
      async connect(): Promise<void> {}
      async write(): Promise<void> {
        throw new Error('auth failed for password hunter2-very-secret');
      }
    }
    const sim = new Simulator({ industries: ['mining'], seed: 1, start: 0, end: 2 });
    sim.addSink(new Leaky(), { retryCount: 0 });
    const summary = await sim.run();
    expect(summary.sinks[0]!.lastError).toBe('auth failed for password ***');
  });
});
