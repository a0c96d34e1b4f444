import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Server,
  SinkConnectError,
  Simulator,
  type LiveState,
  type RunSummary,
  type ServerContext,
} from '../src/index.js';

// The worker threads run the built core (dist/); the fixture sink is loaded by path in each worker.
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'iotsim-workers-'));
}

function lines(dir: string): { files: string[]; lines: string[] } {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  const out: string[] = [];
  for (const f of files)
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l) out.push(l);
  return { files, lines: out.sort() };
}

function config(
  dir: string,
  simulator: Record<string, unknown>,
  sink: Record<string, unknown> = {},
) {
  return {
    simulator: {
      industries: ['mining', 'oil_gas'],
      devices_per_industry: 6,
      seed: 5,
      update_rate_hz: 2,
      ...simulator,
    },
    sinks: [{ type: 'lines', dir, batch_size: 500, ...sink }],
  };
}

async function build(doc: Record<string, unknown>, overrides = {}): Promise<Simulator> {
  const { Registry } = await import('../src/index.js');
  const registry = new Registry({ resolveFrom: [FIXTURES] });
  registry.registerSink('lines', './lines-sink.mjs', 'LinesSink');
  return Simulator.fromConfig(doc, overrides, { registry });
}

function exact(s: RunSummary): void {
  for (const m of s.sinks) {
    expect(m.generated).toBe(m.delivered + m.dropped.total + m.failed + m.buffered);
  }
}

const BACKFILL = { start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:05:00Z' };

describe('worker threads', () => {
  it('a backfill on 2 workers writes exactly what one thread writes, record for record; a callback gets every worker', async () => {
    const one = tmp();
    const two = tmp();
    try {
      const single = await (await build(config(one, BACKFILL))).run();
      const sim = await build(config(two, { ...BACKFILL, workers: 2 }));
      expect(sim.workers).toBe(2);
      const seen: string[] = [];
      sim.addSink(
        (records) => {
          for (const r of records)
            seen.push(`${r.industry},${r.device_id},${r.sensor_name},${r.timestamp},${r.value}`);
        },
        { batchSize: 1000 },
      );
      const multi = await sim.run();
      const a = lines(one);
      const b = lines(two);
      expect(a.files).toEqual(['part.txt']);
      expect(b.files).toEqual(['partw0.txt', 'partw1.txt']);
      expect(a.lines.length).toBe(single.records);
      expect(b.lines).toEqual(a.lines);
      expect(seen.sort()).toEqual(a.lines);
      expect(multi.records).toBe(single.records);
      expect(multi.ticks).toBe(single.ticks);
      expect(multi.firstTimestamp).toBe(single.firstTimestamp);
      expect(multi.lastTimestamp).toBe(single.lastTimestamp);
      expect(multi.sinks.map((m) => [m.name, m.generated, m.delivered])).toEqual([
        ['lines', single.records, single.records],
        ['callback', single.records, single.records],
      ]);
      exact(multi);
    } finally {
      rmSync(one, { recursive: true, force: true });
      rmSync(two, { recursive: true, force: true });
    }
  });

  it('in a backfill every sink instance gets a stream id that a rerun repeats, and positions that cover its stream without a hole', async () => {
    const dirs = [tmp(), tmp(), tmp(), tmp(), tmp()];
    const read = (dir: string, name: string): string => readFileSync(join(dir, name), 'utf8');
    try {
      const [a, b, c, single, live] = dirs as [string, string, string, string, string];
      await (await build(config(a, { ...BACKFILL, workers: 2 }))).run();
      await (await build(config(b, { ...BACKFILL, workers: 2 }))).run();
      await (await build(config(c, { ...BACKFILL, workers: 2, seed: 6 }))).run();
      await (await build(config(single, BACKFILL))).run();
      const ids = (dir: string): string[] => ['streamw0', 'streamw1'].map((f) => read(dir, f));
      expect(ids(a)[0]).toMatch(/^iotsim-5-w0-[0-9a-f]{16}$/);
      expect(ids(a)[1]).toMatch(/^iotsim-5-w1-[0-9a-f]{16}$/);
      expect(ids(b)).toEqual(ids(a)); // a rerun: the same streams
      expect(ids(c)[0]).toMatch(/^iotsim-6-w0-/); // another seed: other streams
      expect(read(single, 'stream')).toMatch(/^iotsim-5-[0-9a-f]{16}$/);
      // Positions: each worker's batches tile 0 … (its readings − 1), in order.
      for (const [f, part] of [
        ['positionsw0', 'partw0.txt'],
        ['positionsw1', 'partw1.txt'],
      ] as const) {
        const ranges = read(a, f)
          .trim()
          .split('\n')
          .map((l) => l.split('-').map(Number) as [number, number]);
        let next = 0;
        for (const [first, last] of ranges) {
          expect(first).toBe(next);
          next = last + 1;
        }
        expect(next).toBe(read(a, part).trim().split('\n').length);
      }
      // Real time, and a singleton over every worker, have no stream a rerun repeats.
      await (await build(config(live, { workers: 2, update_rate_hz: 20 }))).run({ durationS: 0.3 });
      expect(ids(live)).toEqual(['none', 'none']);
      await (await build(config(c, { ...BACKFILL, workers: 2 }, { singleton: true }))).run();
      expect(read(c, 'stream')).toBe('none');
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  it('a singleton sink with a spec runs once, on the sink thread, over every worker (SQLite-like)', async () => {
    const one = tmp();
    const two = tmp();
    try {
      await (await build(config(one, BACKFILL))).run();
      const sim = await build(config(two, { ...BACKFILL, workers: 2 }, { singleton: true }));
      const s = await sim.run();
      const a = lines(one);
      const b = lines(two);
      expect(b.files).toEqual(['part.txt']);
      expect(readdirSync(two).filter((f) => f.startsWith('ran-on-'))).toEqual(['ran-on-worker']);
      expect(b.lines).toEqual(a.lines);
      expect(s.sinks[0]).toMatchObject({ generated: a.lines.length, delivered: a.lines.length });
      exact(s);
    } finally {
      rmSync(one, { recursive: true, force: true });
      rmSync(two, { recursive: true, force: true });
    }
  });

  it('real time on 2 workers: the main clock sends every tick, every record is counted', async () => {
    const dir = tmp();
    try {
      const sim = await build(config(dir, { workers: 2, update_rate_hz: 20 }));
      let got = 0;
      sim.addSink((records) => void (got += records.length));
      const s = await sim.run({ durationS: 1.2 });
      expect(s.mode).toBe('realtime');
      expect(s.ticks).toBeGreaterThanOrEqual(20);
      expect(s.records).toBe(s.ticks * sim.sensorCount);
      expect(lines(dir).lines.length).toBe(s.records);
      expect(got).toBe(s.records);
      expect(s.lagMs.p99).toBeLessThan(200);
      exact(s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() during a backfill on workers drains every worker and keeps the counters exact', async () => {
    const dir = tmp();
    try {
      const sim = await build(
        config(
          dir,
          { workers: 2, start: '2024-01-01T00:00:00Z', end: '2024-01-02T00:00:00Z' },
          {
            delay_ms: 5,
          },
        ),
      );
      setTimeout(() => sim.stop(), 700);
      const s = await sim.run();
      expect(s.interrupted).toBe(true);
      expect(s.records).toBeLessThan(86_400 * 2 * sim.sensorCount);
      expect(s.sinks[0]!.delivered).toBe(s.sinks[0]!.generated);
      expect(lines(dir).lines.length).toBe(s.sinks[0]!.delivered);
      exact(s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a sink that cannot connect in the workers is one SinkConnectError, reported once', async () => {
    const dir = tmp();
    try {
      const sim = await build(config(dir, { ...BACKFILL, workers: 2 }, { fail_connect: true }));
      const err = await sim.run().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SinkConnectError);
      expect((err as Error).message).toBe('lines sink: refused on purpose');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a bad worker count with the fix', async () => {
    expect(() => new Simulator({ workers: 0 })).toThrow(
      /workers: must be a whole number from 1 to 256/,
    );
    await expect(build(config('/tmp', { workers: 1.5 }))).rejects.toThrow(/simulator\.workers/);
  });

  it('servers on workers: one live state over every worker, and control reaches the owning worker', async () => {
    const dir = tmp();
    try {
      const sim = await build(config(dir, { workers: 2, update_rate_hz: 20 }));
      const table = sim.generator.channelTable();
      const overridden = [0, table.length - 1];
      const lastSeen = new Map<string, number>();
      let afterOverride = 0;
      let overrideAt = Infinity;
      sim.addSink((records) => {
        for (const r of records) {
          lastSeen.set(`${r.device_id}/${r.sensor_name}`, r.value);
          if (r.timestamp > overrideAt + 0.2 && r.value === 12345) afterOverride++;
        }
      });
      let state: LiveState | undefined;
      class Probe extends Server {
        static override readonly type = 'probe';
        async start(live: LiveState, context: ServerContext): Promise<void> {
          state = live;
          setTimeout(() => {
            overrideAt = Date.now() / 1000;
            context.control.override(overridden, 12345);
          }, 400);
          expect(() => context.control.override([table.length], 1)).toThrow(RangeError);
        }
        async stop(): Promise<void> {}
      }
      sim.addServer(new Probe());
      const s = await sim.run({ durationS: 1.2 });
      expect(s.servers.map((x) => x.type)).toEqual(['probe']);
      expect(state!.version).toBeGreaterThan(20);
      // The live state's latest value of every channel is the last one the sinks got.
      table.channels.forEach((c, i) => {
        expect(state!.value(i)).toBe(lastSeen.get(`${c.deviceId}/${c.sensorName}`));
      });
      expect(state!.value(overridden[0]!)).toBe(12345);
      expect(state!.value(overridden[1]!)).toBe(12345);
      expect(afterOverride).toBeGreaterThan(0);
      exact(s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
