import { getIndustrySensors, type IndustryName } from './catalog.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import {
  checkSensorConfig,
  nameProblem,
  SensorRecord,
  type ResolvedSensorConfig,
  type SensorConfig,
} from './models.js';
import { ChannelTable, Frame } from './frame.js';
import { fleetMemoryProblem } from './memory.js';
import { RandomStream } from './random.js';
import { SensorModel, type AnomalyKind } from './sensor.js';
import { inShard, WHOLE_RUN, type ShardSpec } from './shard.js';

/** Options of a DataGenerator. */
export interface DataGeneratorOptions {
  /** Built-in industries to simulate. */
  industries?: readonly IndustryName[];
  /** Extra sensors, grouped under `customIndustry`. */
  customSensors?: readonly SensorConfig[];
  /** Industry label of `customSensors`. Default `custom`. */
  customIndustry?: string;
  /** Seed of every random stream; the same seed gives the same values. Default: random. */
  seed?: number;
  /** Devices per industry (a fleet); each device runs every sensor of its industry. Default 1. */
  devicesPerIndustry?: number;
  /** Generate only the devices of this shard (by a stable hash of industry and device index). Default: every device. */
  shard?: ShardSpec;
}

/** A group of sensors added under one industry label, in the order added (a worker replays them). */
export interface SensorGroup {
  readonly industry: string;
  readonly sensors: readonly ResolvedSensorConfig[];
}

interface Channel {
  readonly model: SensorModel;
  readonly config: ResolvedSensorConfig;
  readonly industry: string;
  readonly deviceId: string;
  readonly deviceIndex: number;
}

/**
 * Requests that change what a model produces from the next tick on, for servers and dashboards:
 * their effect shows in every sink and server alike. Channels are positions in the channel table.
 */
export interface ModelControl {
  /** Starts an anomaly of `kind` (default `offset`) on each channel, lasting `durationS` simulated seconds. */
  injectFault(channels: readonly number[], durationS: number, kind?: AnomalyKind): void;
  /** Ends the anomalies of these channels. */
  clearFault(channels: readonly number[]): void;
  /** Replaces the channels' values with `value` until it is cleared with `null`. */
  override(channels: readonly number[], value: number | null): void;
}

/**
 * What produces the readings of a run: a table of channels made once, then one frame per tick or
 * block of ticks. Today's flat sensors are one model (DataGenerator); an asset model is another.
 */
export interface Model {
  /** The seed of the model's random streams. */
  readonly seed: number;
  /** The channels, in frame order (built once, when first asked for). */
  channelTable(): ChannelTable;
  /** The readings of ticks `tick0 …` at `timestamps` (epoch seconds), `dt` seconds apart. */
  generate(tick0: number, timestamps: Float64Array, dt: number): Frame;
  /** Fault and override requests. */
  readonly control: ModelControl;
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
export class DataGenerator implements Model {
  /** The seed of this generator's random streams. */
  readonly seed: number;
  /** The shard of devices this generator produces. */
  readonly shard: ShardSpec;
  /** Devices per industry, before sharding. */
  readonly devicesPerIndustry: number;
  private readonly devices: number;
  private readonly added: SensorGroup[] = [];
  private readonly channels: Channel[] = [];
  private readonly names = new Set<string>();
  private table: ChannelTable | undefined;
  /** Fault and override requests, by channel-table position. */
  readonly control: ModelControl = {
    injectFault: (channels, durationS, kind) => {
      for (const i of channels) this.modelAt(i).injectFault(durationS, kind);
    },
    clearFault: (channels) => {
      for (const i of channels) this.modelAt(i).clearFault();
    },
    override: (channels, value) => {
      for (const i of channels) this.modelAt(i).override = value ?? undefined;
    },
  };

  constructor(options: DataGeneratorOptions = {}) {
    this.seed = options.seed ?? randomSeed();
    this.devices = options.devicesPerIndustry ?? 1;
    this.devicesPerIndustry = this.devices;
    this.shard = options.shard ?? WHOLE_RUN;
    if (!Number.isInteger(this.devices) || this.devices < 1) {
      throw new ConfigError([
        { path: 'devicesPerIndustry', message: `must be a whole number >= 1, got ${this.devices}` },
      ]);
    }
    // Refuse a fleet that cannot fit before making its channels (that alone could take minutes).
    let perDevice = options.customSensors?.length ?? 0;
    for (const industry of options.industries ?? []) {
      try {
        perDevice += getIndustrySensors(industry).length;
      } catch {
        // an unknown industry is reported below
      }
    }
    const tooBig = fleetMemoryProblem(perDevice * this.devices, 'devicesPerIndustry');
    if (tooBig) throw new ConfigError([tooBig]);
    const errors: ConfigError[] = [];
    (options.industries ?? []).forEach((industry, i) => {
      try {
        this.addResolved(getIndustrySensors(industry, `industries[${i}]`), industry);
      } catch (err) {
        if (err instanceof ConfigError) errors.push(err);
        else throw err;
      }
    });
    // One unknown industry is the UnknownIndustryError itself (as documented); several, one ConfigError.
    if (errors.length === 1) throw errors[0]!;
    if (errors.length) throw new ConfigError(errors.flatMap((e) => e.issues));
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
    const bad = nameProblem(industry);
    if (bad) issues.push({ path: 'industry', message: bad });
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
    this.table = undefined;
    this.added.push({ industry, sensors: [...sensors] });
    for (let d = 0; d < this.devices; d++) {
      if (!inShard(this.shard, industry, d)) continue;
      const dev = deviceId(industry, d);
      for (const config of sensors) {
        const rng = new RandomStream(this.seed, `${industry}\u0000${dev}\u0000${config.name}`);
        this.channels.push({
          model: new SensorModel(config, rng),
          config,
          industry,
          deviceId: dev,
          deviceIndex: d,
        });
      }
    }
    for (const k of seen) this.names.add(k);
  }

  /** Every group of sensors added so far, in order (built-in industries included). */
  get sensorGroups(): readonly SensorGroup[] {
    return this.added;
  }

  /** Number of sensor channels (sensors × devices). */
  get sensorCount(): number {
    return this.channels.length;
  }

  /** Industry labels present, in the order they were added. */
  get industries(): string[] {
    return [...new Set(this.channels.map((c) => c.industry))];
  }

  /** The channel table (rebuilt after sensors are added). */
  channelTable(): ChannelTable {
    this.table ??= ChannelTable.fromSensors(
      this.channels.map((c) => ({
        industry: c.industry,
        deviceId: c.deviceId,
        deviceIndex: c.deviceIndex,
        sensor: c.config,
      })),
    );
    return this.table;
  }

  /** One frame of `timestamps.length` ticks: every channel sampled at each timestamp. */
  generate(tick0: number, timestamps: Float64Array, dt: number): Frame {
    const table = this.channelTable();
    const frame = Frame.allocate(table, tick0, timestamps.length);
    frame.timestamps.set(timestamps);
    const { values, faults } = frame;
    const channels = this.channels;
    const n = channels.length;
    for (let k = 0, base = 0; k < timestamps.length; k++, base += n) {
      const t = timestamps[k]!;
      for (let c = 0; c < n; c++) {
        const model = channels[c]!.model;
        values[base + c] = model.sample(t, dt);
        if (model.faultActive) faults[base + c] = 1;
      }
    }
    return frame;
  }

  /** One record per channel at simulated time `t` (epoch seconds). */
  tick(t: number, dt?: number): SensorRecord[] {
    const table = this.channelTable();
    const out = new Array<SensorRecord>(this.channels.length);
    for (let i = 0; i < this.channels.length; i++) {
      const model = this.channels[i]!.model;
      const value = model.sample(t, dt);
      out[i] = SensorRecord.view(table.channels[i]!, value, t, model.faultActive);
    }
    return out;
  }

  private modelAt(index: number): SensorModel {
    const ch = this.channels[index];
    if (!ch) throw new RangeError(`no channel ${index} (the table has ${this.channels.length})`);
    return ch.model;
  }
}
