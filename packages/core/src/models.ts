import { ConfigError, type ConfigIssue } from './errors.js';
import {
  describe,
  field,
  fromYamlKeys,
  opt,
  parseOptions,
  recordKey,
  v,
  type InputOf,
  type OutputOf,
} from './schema.js';

/** The 14 sensor categories of the original. */
export const SENSOR_TYPES = [
  'temperature',
  'pressure',
  'flow',
  'vibration',
  'level',
  'speed',
  'power',
  'current',
  'voltage',
  'humidity',
  'ph',
  'conductivity',
  'position',
  'status',
] as const;

/** A sensor category such as `temperature` or `pressure`. */
export type SensorType = (typeof SENSOR_TYPES)[number];

/** Sensor categories by upper-case name, as the original's enum (`SensorType.TEMPERATURE`). */
export const SensorType = Object.freeze(
  Object.fromEntries(SENSOR_TYPES.map((t) => [t.toUpperCase(), t])) as {
    readonly [K in SensorType as Uppercase<K>]: K;
  },
);

/** Tag values a sensor may carry into its records' `metadata`. */
export type MetadataValue = string | number | boolean | null;

/** The schema of one sensor (TypeScript API camelCase; YAML and CSV use the snake_case keys). */
export const SensorConfigSchema = opt.resolve(
  opt.object({
    /** Sensor identifier, unique within its industry. */
    name: field<string>({ type: 'string', minLength: 1 }, (value, problem) => {
      const text = typeof value === 'number' ? String(value) : value;
      if (typeof text !== 'string') {
        problem(`must be a string, got ${describe(value)}`);
        return '';
      }
      const bad = text.trim() === '' ? 'is required' : nameProblem(text);
      if (bad) problem(bad);
      return text;
    }),
    /** Category. */
    sensorType: opt.oneOf(SENSOR_TYPES),
    /** Engineering unit, e.g. `°C`. */
    unit: opt.string(),
    /** Physical minimum; values are clamped to it. */
    minValue: opt.number(),
    /** Physical maximum; values are clamped to it. */
    maxValue: opt.number(),
    /** Expected steady-state value. */
    nominalValue: opt.number(),
    /** Standard deviation of Gaussian noise, in the sensor's unit. Default 0.01. */
    noiseStd: v.nullish(opt.number({ min: 0 }), 0.01),
    /** Drift random-walk step per second (fraction of value). Default 0.0001. */
    driftRate: v.nullish(opt.number({ min: 0 }), 0.0001),
    /** Probability of an anomaly starting on a tick. Default 0.001. */
    anomalyProbability: v.nullish(opt.number({ min: 0, max: 1 }), 0.001),
    /** Multiplier applied by spike anomalies. Default 2.0. */
    anomalyMagnitude: v.nullish(opt.number(), 2.0),
    /** Nominal updates per second (informational, as in the original). Default 1.0. */
    updateFrequencyHz: v.nullish(opt.number({ above: 0 }), 1.0),
    /** Adds a sinusoidal cycle. Default false. */
    cyclic: v.nullish(opt.boolean(), false),
    /** Period of the cycle in seconds. Default 60. */
    cyclePeriodSeconds: v.nullish(opt.number({ above: 0 }), 60.0),
    /** Cycle amplitude as a fraction of the nominal value. Default 0.1. */
    cycleAmplitude: v.nullish(opt.number({ min: 0 }), 0.1),
    /** Tags copied into every record's `metadata`. */
    metadata: v.nullish(
      field<Readonly<Record<string, MetadataValue>>>(
        { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
        (value, problem) => {
          if (typeof value !== 'object' || Array.isArray(value)) {
            problem('must be a mapping of tag names to values');
            return {};
          }
          const out: Record<string, MetadataValue> = {};
          for (const [k, x] of Object.entries(value as object)) {
            if (x === null || ['string', 'number', 'boolean'].includes(typeof x))
              out[k] = x as MetadataValue;
            else problem('must be a string, number, boolean or null', [recordKey(k)]);
          }
          return out;
        },
      ),
      {},
    ),
  }),
  (c) => Object.freeze({ ...c, metadata: Object.freeze({ ...c.metadata }) }),
  ({ minValue: min, maxValue: max, nominalValue: nominal }, problem) => {
    if (typeof min !== 'number' || typeof max !== 'number') return;
    if (min > max) problem(`must be <= %{maxValue} (${max}), got ${min}`, ['minValue']);
    else if (typeof nominal === 'number' && (nominal < min || nominal > max))
      problem(`must lie within [${min}, ${max}], got ${nominal}`, ['nominalValue']);
  },
);

/** Everything about one sensor (TypeScript API, camelCase). */
export type SensorConfig = InputOf<typeof SensorConfigSchema>;

/** A SensorConfig with every default filled in. */
export type ResolvedSensorConfig = OutputOf<typeof SensorConfigSchema>;

/** A sensor as written in YAML, CSV or the catalog: the original's snake_case keys. */
export interface SensorConfigInput {
  name: string;
  sensor_type: string;
  unit: string;
  min_value: number;
  max_value: number;
  nominal_value: number;
  noise_std?: number;
  drift_rate?: number;
  anomaly_probability?: number;
  anomaly_magnitude?: number;
  update_frequency_hz?: number;
  cyclic?: boolean;
  cycle_period_seconds?: number;
  cycle_amplitude?: number;
  metadata?: Record<string, MetadataValue>;
}

/** The original's defaults for optional SensorConfig fields. */
export const SENSOR_DEFAULTS = Object.freeze({
  noiseStd: 0.01,
  driftRate: 0.0001,
  anomalyProbability: 0.001,
  anomalyMagnitude: 2.0,
  updateFrequencyHz: 1.0,
  cyclic: false,
  cyclePeriodSeconds: 60.0,
  cycleAmplitude: 0.1,
});

/**
 * Why a sensor or industry name cannot be used, or undefined. Names end up in file names, Delta
 * partition directories, topics and node ids: they must be non-empty, free of NUL (which no path,
 * C string or protocol string can hold) and at most 255 bytes of UTF-8, the limit of one path
 * component. Other awkward characters (quotes, tabs, `/`) are escaped where they are used.
 */
export function nameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'must not be empty';
  const nul = name.indexOf('\u0000');
  if (nul >= 0)
    return `must not contain a NUL character (U+0000 at position ${nul}): names are used in file and partition paths`;
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > 255)
    return `is ${bytes} bytes long; names are used in file and partition paths, which allow at most 255 bytes: shorten it`;
  return undefined;
}

/**
 * Validates a sensor and fills its defaults. Collects every problem.
 * @param path prefix for issue paths, e.g. `custom_sensors.sensors[3].`
 * @param snake report field names as the original's snake_case keys (YAML/CSV input)
 */
export function checkSensorConfig(
  config: SensorConfig,
  path = '',
  snake = false,
): { config: ResolvedSensorConfig | undefined; issues: ConfigIssue[] } {
  try {
    const resolved = parseOptions(SensorConfigSchema, config, {
      style: snake ? 'yaml' : 'ts',
      prefix: path,
    });
    return { config: resolved, issues: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { config: undefined, issues: [...err.issues] };
    throw err;
  }
}

/** Validates a sensor and fills its defaults; throws ConfigError listing every problem. */
export function resolveSensorConfig(config: SensorConfig, path = ''): ResolvedSensorConfig {
  const { config: resolved, issues } = checkSensorConfig(config, path);
  if (!resolved) throw new ConfigError(issues);
  return resolved;
}

/** Converts the original's snake_case sensor fields to a SensorConfig (no validation). */
export function sensorConfigFromInput(input: Readonly<Record<string, unknown>>): SensorConfig {
  return fromYamlKeys(SensorConfigSchema, input) as SensorConfig;
}

/** The plain-object form of a record: the wire format, identical to the original's plus `device_id`. */
export interface SensorRecordDict {
  sensor_name: string;
  industry: string;
  device_id: string;
  value: number;
  unit: string;
  sensor_type: string;
  timestamp: number;
  min_value: number;
  max_value: number;
  nominal_value: number;
  fault_active: boolean;
  metadata: Record<string, MetadataValue>;
}

/** Column names of a record in the order every destination writes them. */
export const RECORD_FIELDS = [
  'sensor_name',
  'industry',
  'device_id',
  'value',
  'unit',
  'sensor_type',
  'timestamp',
  'min_value',
  'max_value',
  'nominal_value',
  'fault_active',
  'metadata',
] as const satisfies readonly (keyof SensorRecordDict)[];

const EMPTY_METADATA: Readonly<Record<string, MetadataValue>> = Object.freeze({});

/**
 * The constant identity of one sensor channel (industry, device, sensor): what every record of the
 * channel shares. Channels of a run live in its `ChannelTable` (`table` and `index` set); a record
 * built on its own gets a channel of its own.
 */
export interface RecordChannel {
  readonly sensorName: string;
  readonly industry: string;
  readonly deviceId: string;
  readonly unit: string;
  readonly sensorType: string;
  readonly minValue: number;
  readonly maxValue: number;
  readonly nominalValue: number;
  readonly metadata: Readonly<Record<string, MetadataValue>>;
  /** The table this channel belongs to, when it is part of a run's channel table. */
  readonly table: object | undefined;
  /** Position in that table (-1 for a channel of its own). */
  readonly index: number;
}

/** A channel that belongs to no table (for records built one by one). */
export function standaloneChannel(
  sensorName: string,
  industry: string,
  deviceId: string,
  unit: string,
  sensorType: string,
  minValue: number,
  maxValue: number,
  nominalValue: number,
  metadata: Readonly<Record<string, MetadataValue>> = EMPTY_METADATA,
): RecordChannel {
  return {
    sensorName,
    industry,
    deviceId,
    unit,
    sensorType,
    minValue,
    maxValue,
    nominalValue,
    metadata,
    table: undefined,
    index: -1,
  };
}

// Set by `SensorRecord.view` for the constructor call it makes: one class, one object shape.
let pendingChannel: RecordChannel | undefined;

/**
 * One sensor reading. Field names are the column names in every destination.
 * `timestamp` is epoch seconds (float). Records are immutable: a record is a view of its
 * channel's constant fields (shared by every record of the channel) plus the value, the
 * timestamp and the fault flag. The channel fields are accessors, so `{ ...record }` copies
 * only the latter three: use `record.toDict()` for a plain object.
 */
export class SensorRecord {
  /** The channel's constant fields, shared with every other record of the channel. */
  readonly channel: RecordChannel;
  readonly value: number;
  readonly timestamp: number;
  readonly fault_active: boolean;

  constructor(
    sensor_name: string,
    industry: string,
    device_id: string,
    value: number,
    unit: string,
    sensor_type: string,
    timestamp: number,
    min_value: number,
    max_value: number,
    nominal_value: number,
    fault_active: boolean,
    metadata: Readonly<Record<string, MetadataValue>> = EMPTY_METADATA,
  ) {
    const channel = pendingChannel;
    if (channel !== undefined) {
      pendingChannel = undefined;
      this.channel = channel;
    } else {
      this.channel = standaloneChannel(
        sensor_name,
        industry,
        device_id,
        unit,
        sensor_type,
        min_value,
        max_value,
        nominal_value,
        metadata,
      );
    }
    this.value = value;
    this.timestamp = timestamp;
    this.fault_active = fault_active;
  }

  /** A record of `channel` (no copy of the channel's fields). */
  static view(
    channel: RecordChannel,
    value: number,
    timestamp: number,
    faultActive: boolean,
  ): SensorRecord {
    pendingChannel = channel;
    return new SensorRecord('', '', '', value, '', '', timestamp, 0, 0, 0, faultActive);
  }

  get sensor_name(): string {
    return this.channel.sensorName;
  }
  get industry(): string {
    return this.channel.industry;
  }
  get device_id(): string {
    return this.channel.deviceId;
  }
  get unit(): string {
    return this.channel.unit;
  }
  get sensor_type(): string {
    return this.channel.sensorType;
  }
  get min_value(): number {
    return this.channel.minValue;
  }
  get max_value(): number {
    return this.channel.maxValue;
  }
  get nominal_value(): number {
    return this.channel.nominalValue;
  }
  get metadata(): Readonly<Record<string, MetadataValue>> {
    return this.channel.metadata;
  }

  /** A plain object with every field (metadata copied). */
  toDict(): SensorRecordDict {
    const c = this.channel;
    return {
      sensor_name: c.sensorName,
      industry: c.industry,
      device_id: c.deviceId,
      value: this.value,
      unit: c.unit,
      sensor_type: c.sensorType,
      timestamp: this.timestamp,
      min_value: c.minValue,
      max_value: c.maxValue,
      nominal_value: c.nominalValue,
      fault_active: this.fault_active,
      metadata: { ...c.metadata },
    };
  }

  /** Same as `toDict()`; lets `JSON.stringify(record)` produce the wire format. */
  toJSON(): SensorRecordDict {
    return this.toDict();
  }

  /** Compact JSON text of the record (the original's `to_json()`). */
  toJsonString(): string {
    return recordToJson(this);
  }

  /** Rebuilds a record from `toDict()` output (or a parsed JSON line); checks every field. */
  static fromDict(dict: SensorRecordDict | Readonly<Record<string, unknown>>): SensorRecord {
    const d = dict as Readonly<Record<string, unknown>>;
    const problems: string[] = [];
    const str = (k: string, fallback?: string): string => {
      const v = d[k] ?? fallback;
      if (typeof v !== 'string') problems.push(`${k} must be a string`);
      return v as string;
    };
    const num = (k: string): number => {
      const v = d[k];
      if (typeof v !== 'number') problems.push(`${k} must be a number`);
      return v as number;
    };
    const meta = d.metadata ?? {};
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
      problems.push('metadata must be a mapping');
    const rec = new SensorRecord(
      str('sensor_name'),
      str('industry'),
      str('device_id', ''),
      num('value'),
      str('unit'),
      str('sensor_type'),
      num('timestamp'),
      num('min_value'),
      num('max_value'),
      num('nominal_value'),
      d.fault_active === true,
      Object.freeze({ ...(meta as Record<string, MetadataValue>) }),
    );
    if (d.fault_active !== undefined && typeof d.fault_active !== 'boolean')
      problems.push('fault_active must be a boolean');
    if (problems.length) throw new TypeError(`SensorRecord.fromDict: ${problems.join('; ')}`);
    return rec;
  }
}

/** Fast compact JSON of a record, fields in RECORD_FIELDS order (equal to `JSON.stringify(r.toDict())`). */
export function recordToJson(r: SensorRecord): string {
  const m = r.metadata;
  let meta = '{}';
  for (const key in m) {
    if (Object.hasOwn(m, key)) {
      meta = JSON.stringify(m);
      break;
    }
  }
  return (
    `{"sensor_name":${JSON.stringify(r.sensor_name)},"industry":${JSON.stringify(r.industry)},` +
    `"device_id":${JSON.stringify(r.device_id)},"value":${num(r.value)},"unit":${JSON.stringify(r.unit)},` +
    `"sensor_type":${JSON.stringify(r.sensor_type)},"timestamp":${num(r.timestamp)},` +
    `"min_value":${num(r.min_value)},"max_value":${num(r.max_value)},` +
    `"nominal_value":${num(r.nominal_value)},"fault_active":${r.fault_active},"metadata":${meta}}`
  );
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
