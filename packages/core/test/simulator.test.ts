import { describe, expect, it } from '@jest/globals';
import {
  CallbackSink,
  ConfigError,
  registerSink,
  Simulator,
  Sink,
  type SensorRecord,
  type ThroughputOptions,
  type WriteRequest,
} from '../src/index.js';

class SlowSink extends Sink {
  static override readonly type = 'slow';
  received = 0;
  constructor(private readonly delayMs: number) {
    super();
  }
  async connect(): Promise<void> {}
  async write(request: WriteRequest): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    this.received += request.size;
  }
}

describe('Simulator', () => {
  it('backfills a simulated range losslessly, timestamps on the tick grid', async () => {
    const sim = new Simulator({
      industries: ['mining'],
      seed: 3,
      updateRateHz: 2,
      start: '2024-01-01T00:00:00Z',
      end: '2024-01-01T01:00:00Z',
    });
    const got: SensorRecord[] = [];
    sim.addSink(
      (batch) => {
        got.push(...batch);
      },
      { batchSize: 1000 },
    );
    const summary = await sim.run();
    expect(summary.mode).toBe('backfill');
    expect(summary.ticks).toBe(7200);
    expect(summary.records).toBe(7200 * 17);
    expect(got).toHaveLength(7200 * 17);
    expect(summary.sinks[0]).toMatchObject({
      generated: 122400,
      delivered: 122400,
      failed: 0,
      buffered: 0,
    });
    const t0 = Date.parse('2024-01-01T00:00:00Z') / 1000;
    expect(got[0]!.timestamp).toBe(t0);
    expect(got[got.length - 1]!.timestamp).toBe(t0 + 3599.5);
    expect(new Set(got.map((r) => r.device_id))).toEqual(new Set(['mining-001']));
  });

  it('never drops in a backfill, even with a slow sink and a small buffer', async () => {
    const sim = new Simulator({
      industries: ['mining'],
      seed: 3,
      updateRateHz: 1,
      start: 0,
      end: 200,
    });
    const slow = new SlowSink(2);
    sim.addSink(slow, { batchSize: 50, maxBufferSize: 60, backpressure: 'drop-oldest' });
    const summary = await sim.run();
    expect(summary.sinks[0]).toMatchObject({
      generated: 3400,
      delivered: 3400,
      dropped: { total: 0 },
    });
    expect(slow.received).toBe(3400);
  });

  it('runs in real time for the duration, ticks at start + k / rate, and reports lag', async () => {
    const sim = new Simulator({ industries: ['mining'], seed: 3, updateRateHz: 20 });
    const stamps: number[] = [];
    sim.addSink((batch) => {
      stamps.push(batch[0]!.timestamp);
    });
    const summary = await sim.run({ durationS: 0.5 });
    expect(summary.mode).toBe('realtime');
    expect(summary.ticks).toBe(10);
    const steps = stamps.slice(1).map((t, i) => Math.round((t - stamps[i]!) * 1000));
    expect(steps.every((s) => s === 50)).toBe(true);
    expect(summary.lagMs.p99).toBeGreaterThanOrEqual(0);
  });

  it('does not slow a fast sink when another is slow (drop policies)', async () => {
    const sim = new Simulator({ industries: ['mining'], seed: 3, updateRateHz: 40 });
    const slow = new SlowSink(150);
    let fast = 0;
    sim
      .addSink(slow, { batchSize: 10, maxBufferSize: 20, backpressure: 'drop-oldest' })
      .addSink(new CallbackSink((b) => void (fast += b.length)), { batchSize: 17 });
    const summary = await sim.run({ durationS: 1 });
    const [s, f] = summary.sinks;
    expect(f).toMatchObject({ generated: 680, delivered: 680, dropped: { total: 0 } });
    expect(fast).toBe(680);
    expect(s!.dropped.oldest).toBeGreaterThan(0);
    expect(s!.generated).toBe(s!.delivered + s!.dropped.total + s!.failed + s!.buffered);
    // Not a speed test: held back by the slow sink (150 ms per 10 records), the generator would lag
    // by seconds; 1 s keeps the check robust on a loaded machine.
    expect(summary.lagMs.p99).toBeLessThan(1000);
  });

  it('stop() ends a run early, draining every sink', async () => {
    const sim = new Simulator({
      industries: ['mining'],
      seed: 3,
      updateRateHz: 10,
      start: 0,
      end: 10_000_000,
    });
    let n = 0;
    sim.addSink((b) => void (n += b.length), { batchSize: 500 });
    setTimeout(() => sim.stop(), 100);
    const summary = await sim.run();
    expect(summary.interrupted).toBe(true);
    expect(summary.sinks[0]!.delivered).toBe(summary.records);
    expect(n).toBe(summary.records);
  });

  it('gives every sink the same records, and the same values whatever the sinks', async () => {
    const collect = async (sinks: number) => {
      const sim = new Simulator({ industries: ['mining', 'space'], seed: 9, start: 0, end: 30 });
      const all: SensorRecord[][] = Array.from({ length: sinks }, () => []);
      all.forEach((bucket) => sim.addSink((b) => void bucket.push(...b)));
      await sim.run();
      return all;
    };
    const [a, b] = await collect(2);
    expect(a).toEqual(b);
    const [alone] = await collect(1);
    expect(alone!.map((r) => r.value)).toEqual(a!.map((r) => r.value));
  });

  it('simulates a fleet: every device runs every sensor of its industry, each with its own values', async () => {
    const sim = new Simulator({
      industries: ['mining'],
      seed: 2,
      devicesPerIndustry: 3,
      start: 0,
      end: 5,
    });
    const got: SensorRecord[] = [];
    sim.addSink((b) => void got.push(...b));
    await sim.run();
    expect(sim.sensorCount).toBe(51);
    expect([...new Set(got.map((r) => r.device_id))]).toEqual([
      'mining-001',
      'mining-002',
      'mining-003',
    ]);
    const of = (d: string) =>
      got
        .filter((r) => r.device_id === d && r.sensor_name === 'crusher_1_motor_power')
        .map((r) => r.value);
    expect(of('mining-001')).toHaveLength(5);
    expect(of('mining-001')).not.toEqual(of('mining-002'));
  });

  it('reports every configuration problem at once', () => {
    expect(() => new Simulator({ industries: ['minning', 'spaec'], updateRateHz: -1 })).toThrow(
      ConfigError,
    );
    try {
      new Simulator({ industries: ['minning', 'spaec'], updateRateHz: -1 });
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual([
        'updateRateHz',
        'industries[0]',
        'industries[1]',
      ]);
    }
  });

  it('loads the starter of a YAML document with fromConfig, creating sinks through the registry', async () => {
    const sim = await Simulator.fromConfig({
      simulator: { industries: ['mining'], update_rate_hz: 5, seed: 1, start: 0, end: 2 },
      custom_sensors: {
        industry: 'lab',
        sensors: [
          {
            name: 'x',
            sensor_type: 'flow',
            unit: 'L',
            min_value: 0,
            max_value: 2,
            nominal_value: 1,
          },
        ],
      },
      sinks: [{ type: 'console', fmt: 'json', stream: { write: () => true } }],
    });
    expect(sim.sensorCount).toBe(18);
    await expect(
      Simulator.fromConfig({ sinks: [{ type: 'console', fmt: 'xml', rate_hz: -2 }] }),
    ).rejects.toThrow(
      /sinks\[0\]\.rate_hz: must be > 0, got -2[\s\S]*sinks\[0\]\.fmt: must be one of 'text', 'json'/,
    );
    await expect(Simulator.fromConfig({ sinks: [{ type: 'kafak' }] })).rejects.toThrow(
      /unknown sink type 'kafak'; known types: console/,
    );
  });

  it('suggests the YAML spelling of a misspelt sink option', async () => {
    await expect(
      Simulator.fromConfig({ sinks: [{ type: 'console', batchsize: 10 }] }),
    ).rejects.toThrow("sinks[0].batchsize: unknown option (did you mean 'batch_size'?)");
  });

  it('names an unknown option of a sink with a schema as the YAML has it', async () => {
    await expect(
      Simulator.fromConfig({ sinks: [{ type: 'console', fmt_x: 'json' }] }),
    ).rejects.toThrow("sinks[0].fmt_x: unknown option (did you mean 'fmt'?)");
  });
});

class NeverSink extends Sink {
  static override readonly type = 'never';
  async connect(): Promise<void> {}
  write(): Promise<void> {
    return new Promise(() => {});
  }
}

describe('Simulator.stop while the generator waits for room', () => {
  const cases: [string, ConstructorParameters<typeof Simulator>[0], ThroughputOptions][] = [
    ['a backfill', { start: 1_700_000_000, end: 1_700_100_000 }, {}],
    ['real time with policy block', { updateRateHz: 200 }, { backpressure: 'block' }],
  ];
  for (const [what, options, throughput] of cases) {
    it(`${what}: ends within the shutdown timeout, the waiting records counted failed`, async () => {
      const sim = new Simulator({
        industries: ['mining'],
        seed: 1,
        shutdownTimeoutS: 0.3,
        ...options,
      });
      sim.addSink(new NeverSink(), { maxBufferSize: 40, batchSize: 20, ...throughput });
      const running = sim.run();
      await new Promise((r) => setTimeout(r, 100));
      sim.stop();
      const outcome = await Promise.race([
        running,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 3000)),
      ]);
      expect(outcome).not.toBe('hung');
      const m = (outcome as Awaited<typeof running>).sinks[0]!;
      expect(m.buffered).toBe(0);
      expect(m.failed).toBe(m.generated);
      expect(m.generated).toBeGreaterThan(40);
    });
  }
});

class CheckedAtConnectSink extends Sink {
  static override readonly type = 'checked_at_connect';
  async connect(): Promise<void> {
    throw new ConfigError([{ path: 'workspaceUrl', message: 'no workspace_url found' }]);
  }
  async write(): Promise<void> {}
}

describe('Simulator.fromConfig, a problem found at connect', () => {
  it('is named with the YAML path of its sink', async () => {
    registerSink(
      'checked_at_connect',
      async () => ({ CheckedAtConnectSink }),
      'CheckedAtConnectSink',
    );
    const sim = await Simulator.fromConfig({
      sinks: [{ type: 'console', stream: { write: () => true } }, { type: 'checked_at_connect' }],
    });
    await expect(sim.run({ durationS: 0.1 })).rejects.toThrow(
      'sinks[1].workspace_url: no workspace_url found',
    );
  });
});
