import { getIndustrySensors } from './catalog.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import {
  checkSensorConfig,
  SensorRecord,
  type ResolvedSensorConfig,
  type SensorConfig,
} from './models.js';
import { RandomStream } from './random.js';
import { SensorModel } from './sensor.js';

/** Options of a DataGenerator. */
export interface DataGeneratorOptions {
  /** Built-in industries to simulate. */
  industries?: readonly string[];
  /** Extra sensors, grouped under `customIndustry`. */
  customSensors?: readonly SensorConfig[];
  /** Industry label of `customSensors`. Default `custom`. */
  customIndustry?: string;
  /** Seed of every random stream; the same seed gives the same values. Default: random. */
  seed?: number;
  /** Devices per industry (a fleet); each device runs every sensor of its industry. Default 1. */
  devicesPerIndustry?: number;
}

interface Channel {
  readonly model: SensorModel;
  readonly config: ResolvedSensorConfig;
  readonly industry: string;
  readonly deviceId: string;
}

/** The device id of device `index` (0-based) of an industry: `<industry>-001`, `<industry>-002`, … */
export function deviceId(industry: string, index = 0): string {
  return `${industry}-${String(index + 1).padStart(3, '0')}`;
}

/** A fresh random seed, for runs that do not set one. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

/**
 * Produces one batch of records per tick, one record per (device, sensor). Each sensor draws from
 * its own random stream keyed by (seed, industry, device, sensor).
 *
 * @example
 * const gen = new DataGenerator({ industries: ['mining'], seed: 42 });
 * const records = gen.tick(Date.now() / 1000);
 */
export class DataGenerator {
  /** The seed of this generator's random streams. */
  readonly seed: number;
  private readonly devices: number;
  private readonly channels: Channel[] = [];
  private readonly names = new Set<string>();

  constructor(options: DataGeneratorOptions = {}) {
    this.seed = options.seed ?? randomSeed();
    this.devices = options.devicesPerIndustry ?? 1;
    if (!Number.isInteger(this.devices) || this.devices < 1) {
      throw new ConfigError([
        { path: 'devicesPerIndustry', message: `must be a whole number >= 1, got ${this.devices}` },
      ]);
    }
    const issues: ConfigIssue[] = [];
    (options.industries ?? []).forEach((industry, i) => {
      try {
        this.addResolved(getIndustrySensors(industry, `industries[${i}]`), industry);
      } catch (err) {
        if (err instanceof ConfigError) issues.push(...err.issues);
        else throw err;
      }
    });
    if (issues.length) throw new ConfigError(issues);
    if (options.customSensors?.length)
      this.addSensors(options.customSensors, options.customIndustry ?? 'custom');
  }

  /** Adds sensors under an industry label; validates every one (all problems reported at once). */
  addSensors(sensors: readonly SensorConfig[], industry = 'custom'): void {
    const issues: ConfigIssue[] = [];
    const resolved: ResolvedSensorConfig[] = [];
    sensors.forEach((s, i) => {
      const { config, issues: found } = checkSensorConfig(s, `sensors[${i}].`);
      if (config) resolved.push(config);
      issues.push(...found);
    });
    if (!industry.trim()) issues.push({ path: 'industry', message: 'must be a non-empty label' });
    if (issues.length) throw new ConfigError(issues);
    this.addResolved(resolved, industry);
  }

  /** Adds already-validated sensors. */
  addResolved(sensors: readonly ResolvedSensorConfig[], industry: string): void {
    const issues: ConfigIssue[] = [];
    const seen = new Set<string>();
    for (const s of sensors) {
      const key = `${industry}/${s.name}`;
      if (this.names.has(key) || seen.has(key)) {
        issues.push({
          path: key,
          message: `duplicate sensor name '${s.name}' in industry '${industry}'`,
        });
      }
      seen.add(key);
    }
    if (issues.length) throw new ConfigError(issues);
    for (let d = 0; d < this.devices; d++) {
      const dev = deviceId(industry, d);
      for (const config of sensors) {
        const rng = new RandomStream(this.seed, `${industry}\u0000${dev}\u0000${config.name}`);
        this.channels.push({
          model: new SensorModel(config, rng),
          config,
          industry,
          deviceId: dev,
        });
      }
    }
    for (const k of seen) this.names.add(k);
  }

  /** Number of sensor channels (sensors × devices). */
  get sensorCount(): number {
    return this.channels.length;
  }

  /** Industry labels present, in the order they were added. */
  get industries(): string[] {
    return [...new Set(this.channels.map((c) => c.industry))];
  }

  /** One record per channel at simulated time `t` (epoch seconds). */
  tick(t: number, dt?: number): SensorRecord[] {
    const out = new Array<SensorRecord>(this.channels.length);
    for (let i = 0; i < this.channels.length; i++) {
      const ch = this.channels[i]!;
      const c = ch.config;
      const value = ch.model.sample(t, dt);
      out[i] = new SensorRecord(
        c.name,
        ch.industry,
        ch.deviceId,
        value,
        c.unit,
        c.sensorType,
        t,
        c.minValue,
        c.maxValue,
        c.nominalValue,
        ch.model.faultActive,
        c.metadata,
      );
    }
    return out;
  }
}
