import { describe, expect, it } from '@jest/globals';
import {
  catalogSensorCount,
  DataGenerator,
  getIndustrySensors,
  listIndustries,
  RandomStream,
  SensorModel,
  type ResolvedSensorConfig,
} from '../src/index.js';

const TICKS = 10_000;
const T0 = 1_700_000_000;

function series(c: ResolvedSensorConfig, dt: number, key: string): number[] {
  const model = new SensorModel(c, new RandomStream(99, key));
  const out = new Array<number>(TICKS);
  for (let k = 0; k < TICKS; k++) out[k] = model.sample(T0 + k * dt, dt);
  return out;
}

const all = listIndustries().flatMap((industry) =>
  getIndustrySensors(industry).map((c) => ({ industry, config: { ...c, anomalyProbability: 0 } })),
);
const onBound = (c: ResolvedSensorConfig): boolean =>
  c.nominalValue <= c.minValue || c.nominalValue >= c.maxValue;
const headroom = (c: ResolvedSensorConfig): number =>
  Math.min(c.maxValue - c.nominalValue, c.nominalValue - c.minValue);

describe('catalog', () => {
  it('holds the 16 industries and 379 sensors of the original, with its per-industry counts', () => {
    const expected: Record<string, number> = {
      mining: 17,
      utilities: 18,
      manufacturing: 19,
      oil_gas: 26,
      aerospace: 25,
      space: 20,
      water_wastewater: 22,
      electric_power: 24,
      automotive: 28,
      chemical: 26,
      food_beverage: 25,
      pharmaceutical: 30,
      data_center: 22,
      smart_building: 25,
      agriculture: 20,
      renewable_energy: 32,
    };
    expect(
      Object.fromEntries(listIndustries().map((i) => [i, getIndustrySensors(i).length])),
    ).toEqual(expected);
    expect(catalogSensorCount()).toBe(379);
  });

  it('keeps every cyclic sensor cycle (plus 3 sigma of noise) inside its range', () => {
    for (const { config: c } of all.filter((s) => s.config.cyclic)) {
      expect(c.cycleAmplitude * Math.abs(c.nominalValue) + 3 * c.noiseStd).toBeLessThanOrEqual(
        headroom(c),
      );
    }
  });
});

describe('realism over the whole catalog (anomalies off, 10,000 ticks per sensor)', () => {
  it('puts fewer than 1 % of samples on a clamp bound (sensors whose nominal sits on a bound left out)', () => {
    let total = 0;
    let clamped = 0;
    for (const { industry, config: c } of all) {
      if (onBound(c)) continue;
      for (const v of series(c, 1, `${industry}/${c.name}`)) {
        total++;
        if (v <= c.minValue || v >= c.maxValue) clamped++;
      }
    }
    expect(total).toBeGreaterThan(3_000_000);
    expect(clamped / total).toBeLessThan(0.01);
  });

  // Noise is measured at 10 Hz (1,000 s of simulated time), where the bounded drift walk has not yet
  // spread; sensors whose drift over that window would rival their noise, or that have no noise,
  // cannot show their noise apart from drift and are left out (listed by the test when it fails).
  it('gives each non-cyclic sensor a standard deviation within 25 % of noise_std', () => {
    const dt = 0.1;
    const bad: string[] = [];
    let checked = 0;
    for (const { industry, config: c } of all) {
      if (c.cyclic || onBound(c) || c.noiseStd === 0 || 3 * c.noiseStd > headroom(c)) continue;
      const walk = c.driftRate * dt * Math.sqrt(TICKS) * Math.abs(c.nominalValue);
      if (walk > 0.5 * c.noiseStd) continue;
      checked++;
      const v = series(c, dt, `${industry}/${c.name}`);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
      if (Math.abs(sd - c.noiseStd) > 0.25 * c.noiseStd)
        bad.push(`${industry}/${c.name}: sd ${sd} vs ${c.noiseStd}`);
    }
    expect(checked).toBeGreaterThan(200);
    expect(bad).toEqual([]);
  });

  it('keeps each non-cyclic sensor mean within 6 % of nominal at 1 Hz (drift is bounded at 5 %)', () => {
    const bad: string[] = [];
    for (const { industry, config: c } of all) {
      if (c.cyclic || onBound(c) || 3 * c.noiseStd > headroom(c)) continue;
      const v = series(c, 1, `${industry}/${c.name}`);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const tolerance = 0.06 * Math.abs(c.nominalValue) + (5 * c.noiseStd) / Math.sqrt(TICKS);
      if (Math.abs(mean - c.nominalValue) > tolerance)
        bad.push(`${industry}/${c.name}: mean ${mean} vs ${c.nominalValue}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('anomalies', () => {
  const base: ResolvedSensorConfig = {
    ...getIndustrySensors('mining')[1]!,
    anomalyProbability: 0.01,
    driftRate: 0,
  };

  it('start at anomaly_probability per tick, last 5-30 s, keep one kind, and set fault_active exactly then', () => {
    const model = new SensorModel(base, new RandomStream(5, 'anomaly'));
    const N = 400_000;
    let idleTicks = 0;
    const spans = new Map<number, { first: number; last: number; kinds: Set<string> }>();
    let kindWithoutFault = 0;
    for (let k = 0; k < N; k++) {
      // Starts are Bernoulli(p) on the ticks that begin outside an anomaly.
      if (!model.faultActive) idleTicks++;
      const t = T0 + k;
      model.sample(t, 1);
      if (model.faultActive) {
        const id = model.anomalyCount;
        const span = spans.get(id) ?? { first: t, last: t, kinds: new Set<string>() };
        span.last = t;
        span.kinds.add(model.anomaly!);
        spans.set(id, span);
      } else if (model.anomaly !== undefined) {
        kindWithoutFault++;
      }
    }
    expect(kindWithoutFault).toBe(0);
    expect(spans.size).toBe(model.anomalyCount);
    const p = model.anomalyCount / idleTicks;
    const sigma = Math.sqrt((0.01 * 0.99) / idleTicks);
    expect(Math.abs(p - 0.01)).toBeLessThan(4 * sigma + 0.0015);
    const complete = [...spans.values()].slice(0, -1);
    expect(complete.length).toBeGreaterThan(100);
    for (const span of complete) {
      expect(span.kinds.size).toBe(1);
      expect(span.last - span.first + 1).toBeGreaterThanOrEqual(5);
      expect(span.last - span.first + 1).toBeLessThanOrEqual(30);
    }
  });

  it('mark the records of a faulty sensor fault_active', () => {
    const gen = new DataGenerator({
      customSensors: [
        {
          name: 'x',
          sensorType: 'flow',
          unit: 'L/m',
          minValue: 0,
          maxValue: 100,
          nominalValue: 50,
          anomalyProbability: 1,
        },
        {
          name: 'y',
          sensorType: 'flow',
          unit: 'L/m',
          minValue: 0,
          maxValue: 100,
          nominalValue: 50,
          anomalyProbability: 0,
        },
      ],
      seed: 1,
    });
    const [x, y] = gen.tick(T0);
    expect(x!.fault_active).toBe(true);
    expect(y!.fault_active).toBe(false);
  });
});

describe('determinism', () => {
  const values = (gen: DataGenerator, industry: string, sensor: string): number[] => {
    const out: number[] = [];
    for (let k = 0; k < 200; k++) {
      const r = gen.tick(T0 + k).find((x) => x.industry === industry && x.sensor_name === sensor)!;
      out.push(r.value);
    }
    return out;
  };

  it('gives identical values for the same seed and different ones for another seed', () => {
    const a = values(
      new DataGenerator({ industries: ['mining'], seed: 42 }),
      'mining',
      'crusher_1_motor_power',
    );
    const b = values(
      new DataGenerator({ industries: ['mining'], seed: 42 }),
      'mining',
      'crusher_1_motor_power',
    );
    const c = values(
      new DataGenerator({ industries: ['mining'], seed: 43 }),
      'mining',
      'crusher_1_motor_power',
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it("does not change a sensor's values when other industries or sensors are added", () => {
    const alone = values(
      new DataGenerator({ industries: ['mining'], seed: 42 }),
      'mining',
      'crusher_1_motor_power',
    );
    const crowded = new DataGenerator({
      industries: ['aerospace', 'mining', 'utilities'],
      seed: 42,
    });
    crowded.addSensors(
      [
        {
          name: 'extra',
          sensorType: 'flow',
          unit: 'L/m',
          minValue: 0,
          maxValue: 10,
          nominalValue: 5,
        },
      ],
      'lab',
    );
    expect(values(crowded, 'mining', 'crusher_1_motor_power')).toEqual(alone);
  });
});
