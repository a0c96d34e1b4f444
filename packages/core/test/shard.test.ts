import { describe, expect, it } from '@jest/globals';
import {
  BackfillClock,
  ConfigError,
  DataGenerator,
  RecordBatch,
  backfillStream,
  inShard,
  parseShard,
  resolveShard,
  shardOfDevice,
  sinkShard,
  subShard,
} from '../src/index.js';

const key = (c: { industry: string; deviceId: string; sensorName: string }): string =>
  `${c.industry}/${c.deviceId}/${c.sensorName}`;

/** Every (channel, tick) value of a generator over `ticks` ticks, by channel key. */
function values(gen: DataGenerator, ticks: number): Map<string, number[]> {
  const table = gen.channelTable();
  const ts = Float64Array.from({ length: ticks }, (_, k) => 1_700_000_000 + k);
  const frame = gen.generate(0, ts, 1);
  const out = new Map<string, number[]>();
  table.channels.forEach((c, i) => {
    const v: number[] = [];
    for (let k = 0; k < ticks; k++) v.push(frame.values[k * table.length + i]!);
    out.set(key(c), v);
  });
  return out;
}

describe('shards', () => {
  it('parses K/N and rejects what is not a shard, naming the fix', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard(' 0 / 1 ')).toEqual({ index: 0, count: 1 });
    expect(() => parseShard('3/2', '--shard')).toThrow(/K < N.*0-based.*'3\/2'/);
    expect(() => parseShard('x', '--shard')).toThrow(/must be K\/N.*'x'/);
    expect(() => parseShard('1/0')).toThrow(/N >= 1/);
    expect(() => parseShard('-1/2')).toThrow(ConfigError);
  });

  it('takes the shard from --shard, IOTSIM_SHARD, or JOB_COMPLETION_INDEX with the count', () => {
    expect(resolveShard({ env: {} })).toBeUndefined();
    expect(resolveShard({ shard: '1/4', env: { IOTSIM_SHARD: '0/2' } })).toEqual({
      index: 1,
      count: 4,
    });
    expect(resolveShard({ env: { IOTSIM_SHARD: '0/2' } })).toEqual({ index: 0, count: 2 });
    expect(resolveShard({ shardCount: 3, env: { JOB_COMPLETION_INDEX: '2' } })).toEqual({
      index: 2,
      count: 3,
    });
    expect(resolveShard({ env: { JOB_COMPLETION_INDEX: '1', IOTSIM_SHARD_COUNT: '3' } })).toEqual({
      index: 1,
      count: 3,
    });
    // A Job index without a count is no shard (any Indexed Job sets it).
    expect(resolveShard({ env: { JOB_COMPLETION_INDEX: '1' } })).toBeUndefined();
    expect(() => resolveShard({ shardCount: 3, env: { JOB_COMPLETION_INDEX: '3' } })).toThrow(
      /JOB_COMPLETION_INDEX: must be < the shard count 3/,
    );
    expect(() => resolveShard({ shardCount: 3, env: {} })).toThrow(
      /--shard-count: needs the shard index: set JOB_COMPLETION_INDEX/,
    );
    expect(() => resolveShard({ shardCount: 0, env: {} })).toThrow(
      /--shard-count: must be a whole/,
    );
    expect(() => resolveShard({ shard: '1/2', shardCount: 3, env: {} })).toThrow(
      /says 2 shards but --shard-count says 3/,
    );
    expect(() => resolveShard({ env: { IOTSIM_SHARD: 'a/b' } })).toThrow(/IOTSIM_SHARD/);
  });

  it('assigns devices by a stable hash, spread evenly, and sub-shards split a shard exactly', () => {
    expect(shardOfDevice('mining', 7, 5)).toBe(shardOfDevice('mining', 7, 5));
    const counts = [0, 0, 0, 0];
    for (let d = 0; d < 4000; d++) counts[shardOfDevice('mining', d, 4)]!++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
    const shard = { index: 1, count: 3 };
    for (let d = 0; d < 300; d++) {
      const owners = [0, 1].filter((w) => inShard(subShard(shard, w, 2), 'oil_gas', d));
      expect(owners.length).toBe(inShard(shard, 'oil_gas', d) ? 1 : 0);
    }
  });

  it('the union of N shards is the unsharded run, value for value, with every sensor of a device together', () => {
    const options = { industries: ['mining', 'oil_gas'] as const, seed: 11, devicesPerIndustry: 9 };
    const whole = values(
      new DataGenerator({ ...options, industries: [...options.industries] }),
      50,
    );
    const union = new Map<string, number[]>();
    const devicesSeen = new Map<string, number>();
    for (let k = 0; k < 4; k++) {
      const gen = new DataGenerator({
        ...options,
        industries: [...options.industries],
        shard: { index: k, count: 4 },
      });
      for (const c of gen.channelTable().channels) {
        const dev = `${c.industry}/${c.deviceId}`;
        expect(devicesSeen.get(dev) ?? k).toBe(k); // a device lives in one shard
        devicesSeen.set(dev, k);
      }
      for (const [name, v] of values(gen, 50)) {
        expect(union.has(name)).toBe(false);
        union.set(name, v);
      }
    }
    expect(union.size).toBe(whole.size);
    for (const [name, v] of whole) expect(union.get(name)).toEqual(v);
  });

  it('gives each (shard, worker) its own id and client id, stable for a seed', () => {
    expect(sinkShard({ index: 0, count: 1 }, 42)).toMatchObject({ id: '', clientId: 'iotsim-42' });
    expect(sinkShard({ index: 2, count: 3 }, 42)).toMatchObject({
      id: 'shard2of3',
      clientId: 'iotsim-42-shard2of3',
    });
    expect(sinkShard({ index: 2, count: 3 }, 42, 1, 2)).toMatchObject({
      id: 'shard2of3-w1',
      clientId: 'iotsim-42-shard2of3-w1',
    });
    expect(sinkShard({ index: 0, count: 1 }, 42, 1, 4).id).toBe('w1');
  });
});

describe('RealTimeClock startAt', () => {
  it('two processes started apart share one tick range from the common start', async () => {
    const { RealTimeClock } = await import('../src/index.js');
    const startAt = Math.ceil(Date.now() / 100) / 10 + 0.4;
    const ranges: number[][] = [];
    const arrivals: number[] = [];
    const runClock = async (): Promise<void> => {
      const clock = new RealTimeClock({ rateHz: 10, durationS: 0.5, startAt });
      const ticks: number[] = [];
      for (;;) {
        const step = await clock.next(1);
        if (!step) break;
        if (!ticks.length) arrivals.push(Date.now() / 1000);
        ticks.push(step.tick0);
      }
      ranges.push(ticks);
    };
    const first = runClock();
    await new Promise((r) => setTimeout(r, 150));
    await Promise.all([first, runClock()]);
    expect(ranges[0]).toEqual(ranges[1]);
    expect(ranges[0]![0]).toBe(Math.round(startAt * 10));
    expect(ranges[0]!.length).toBe(5);
    for (const t of arrivals) expect(t).toBeGreaterThanOrEqual(startAt - 0.01);
  });

  it('names a backfill stream by everything that decides its readings', () => {
    const gen = new DataGenerator({ industries: ['mining'], seed: 3, devicesPerIndustry: 2 });
    const base = {
      seed: 3,
      shard: { index: 1, count: 3 },
      worker: 0,
      workers: 2,
      devicesPerIndustry: 2,
      groups: gen.sensorGroups,
      rateHz: 1,
      start: 1_700_000_000,
      end: 1_700_003_600,
    };
    const id = backfillStream(base).id;
    expect(id).toMatch(/^iotsim-3-shard1of3-w0-[0-9a-f]{16}$/);
    expect(backfillStream({ ...base, groups: structuredClone(gen.sensorGroups) }).id).toBe(id);
    const other = new DataGenerator({ industries: ['oil_gas'], seed: 3, devicesPerIndustry: 2 });
    for (const change of [
      { seed: 4 },
      { shard: { index: 2, count: 3 } },
      { worker: 1 },
      { workers: 3 },
      { devicesPerIndustry: 3 },
      { groups: other.sensorGroups },
      { rateHz: 2 },
      { start: 1_700_000_001 },
      { end: 1_700_003_601 },
    ])
      expect(backfillStream({ ...base, ...change }).id).not.toBe(id);
  });

  it("gives each reading of a batch its stream position (tick × channels + channel) and counts a batch's delivered front", async () => {
    const gen = new DataGenerator({ industries: ['mining'], seed: 3 });
    const n = gen.channelTable().length;
    const clock = new BackfillClock({ rateHz: 1, start: 0, end: 10 });
    const a = await clock.next(4); // ticks 0-3
    const b = await clock.next(4); // ticks 4-7
    const fa = gen.generate(a!.tick0, a!.timestamps, 1);
    const fb = gen.generate(b!.tick0, b!.timestamps, 1);
    // A batch from the end of one frame and the start of the next, as a runner cuts them.
    const batch = new RecordBatch(
      [
        { frame: fa, start: 4 * n - 3, end: 4 * n },
        { frame: fb, start: 0, end: 5 },
      ],
      8,
    );
    expect([0, 2, 3, 7].map((i) => batch.position(i))).toEqual([
      4 * n - 3,
      4 * n - 1,
      4 * n,
      4 * n + 4,
    ]);
    expect(batch.position(8)).toBeUndefined();
    expect(batch.countBefore(0)).toBe(0);
    expect(batch.countBefore(4 * n - 1)).toBe(2);
    expect(batch.countBefore(4 * n + 2)).toBe(5);
    expect(batch.countBefore(10 * n)).toBe(8);
    expect(batch.slice(batch.countBefore(4 * n + 2)).position(0)).toBe(4 * n + 2);
    // Records that did not come from a frame have no position.
    const loose = RecordBatch.of(fa.records().slice(0, 3));
    expect(loose.position(0)).toBeUndefined();
    expect(loose.countBefore(100)).toBe(0);
  });
});
