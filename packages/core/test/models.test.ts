import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  DataGenerator,
  recordToJson,
  resolveSensorConfig,
  SENSOR_DEFAULTS,
  SENSOR_TYPES,
  SensorRecord,
  SensorType,
  Simulator,
  UnknownIndustryError,
  listIndustries,
  type BuiltInIndustry,
  type IndustryName,
  type SensorConfig,
} from '../src/index.js';

const valid: SensorConfig = {
  name: 'boiler_temp',
  sensorType: 'temperature',
  unit: '°C',
  minValue: 80,
  maxValue: 200,
  nominalValue: 150,
};

function problems(config: Partial<SensorConfig>): string[] {
  try {
    resolveSensorConfig({ ...valid, ...config } as SensorConfig);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('SensorRecord', () => {
  const record = new SensorRecord(
    'tank "A", level',
    'smart_office',
    'smart_office-001',
    12.25,
    '°C',
    'temperature',
    1_700_000_000.125,
    -40,
    125,
    21.5,
    true,
    { site: 'Zürich', asset: 42, ok: false, none: null },
  );

  it('round-trips exactly through toDict / fromDict and JSON text', () => {
    expect(SensorRecord.fromDict(record.toDict())).toEqual(record);
    expect(
      SensorRecord.fromDict(JSON.parse(record.toJsonString()) as Record<string, unknown>),
    ).toEqual(record);
    expect(JSON.parse(JSON.stringify(record))).toEqual(record.toDict());
  });

  it('serialises fields in the documented column order, identical to JSON.stringify of toDict', () => {
    expect(Object.keys(record.toDict())).toEqual([
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
    ]);
    expect(recordToJson(record)).toBe(JSON.stringify(record.toDict()));
    const plain = new SensorRecord('a', 'b', 'b-001', 1, 'm', 'flow', 2, 0, 3, 1, false);
    expect(recordToJson(plain)).toBe(JSON.stringify(plain.toDict()));
  });

  it('rejects dicts with missing or mistyped fields', () => {
    expect(() => SensorRecord.fromDict({ ...record.toDict(), value: 'high' })).toThrow(
      /value must be a number/,
    );
    expect(() => SensorRecord.fromDict({ sensor_name: 'x' })).toThrow(TypeError);
  });

  it('copies SensorConfig metadata tags into every record', () => {
    const gen = new DataGenerator({
      customSensors: [{ ...valid, metadata: { line: 'L3', asset: 7 } }],
      customIndustry: 'plant',
      seed: 1,
    });
    const [r] = gen.tick(1_700_000_000);
    expect(r!.metadata).toEqual({ line: 'L3', asset: 7 });
    expect(r!.device_id).toBe('plant-001');
    expect(r!.industry).toBe('plant');
  });
});

describe('SensorConfig', () => {
  it('has the 14 sensor types and the original defaults', () => {
    expect(SENSOR_TYPES).toHaveLength(14);
    expect(SensorType.TEMPERATURE).toBe('temperature');
    const r = resolveSensorConfig(valid);
    expect(r).toMatchObject(SENSOR_DEFAULTS);
    expect(SENSOR_DEFAULTS).toEqual({
      noiseStd: 0.01,
      driftRate: 0.0001,
      anomalyProbability: 0.001,
      anomalyMagnitude: 2.0,
      updateFrequencyHz: 1.0,
      cyclic: false,
      cyclePeriodSeconds: 60.0,
      cycleAmplitude: 0.1,
    });
  });

  it('requires min <= max', () =>
    expect(problems({ minValue: 300 })).toEqual(['minValue: must be <= maxValue (200), got 300']));
  it('requires nominal within [min, max]', () =>
    expect(problems({ nominalValue: 250 })[0]).toMatch(
      /^nominalValue: must lie within \[80, 200\]/,
    ));
  it('requires noise_std >= 0', () =>
    expect(problems({ noiseStd: -1 })).toEqual(['noiseStd: must be >= 0, got -1']));
  it('requires anomaly_probability in [0, 1]', () => {
    expect(problems({ anomalyProbability: 1.5 })).toEqual([
      'anomalyProbability: must be <= 1, got 1.5',
    ]);
    expect(problems({ anomalyProbability: -0.1 })).toEqual([
      'anomalyProbability: must be >= 0, got -0.1',
    ]);
  });
  it('requires positive periods and frequencies', () => {
    expect(problems({ cyclePeriodSeconds: 0 })).toEqual(['cyclePeriodSeconds: must be > 0, got 0']);
    expect(problems({ updateFrequencyHz: -2 })).toEqual(['updateFrequencyHz: must be > 0, got -2']);
  });
  it('requires a non-empty name', () =>
    expect(problems({ name: '  ' })).toEqual(['name: is required']));
  it('requires a known sensor type, with a hint', () =>
    expect(problems({ sensorType: 'temprature' as SensorConfig['sensorType'] })[0]).toMatch(
      /did you mean 'temperature'/,
    ));
  it('reports every problem at once', () =>
    expect(problems({ noiseStd: -1, minValue: 500, cyclePeriodSeconds: -5 })).toHaveLength(3));
  it('rejects unknown fields with a hint', () =>
    expect(problems({ noise_sd: 1 } as unknown as SensorConfig)).toEqual([
      "noise_sd: unknown option (did you mean 'noiseStd'?)",
    ]));
  it('rejects duplicate sensor names within an industry', () => {
    const gen = new DataGenerator({ seed: 1 });
    expect(() => gen.addSensors([valid, valid], 'plant')).toThrow(
      /duplicate sensor name 'boiler_temp'/,
    );
  });
});

describe('SensorModel with extreme configurations', () => {
  it('never emits NaN when the cycle overflows to Infinity and a spike multiplies it by 0', () => {
    const gen = new DataGenerator({
      seed: 0,
      customSensors: [
        {
          name: 's',
          sensorType: 'flow',
          unit: 'x',
          minValue: 1.67e32,
          maxValue: 1.67e32,
          nominalValue: 1.67e32,
          noiseStd: 0,
          driftRate: 0,
          anomalyProbability: 1,
          anomalyMagnitude: 0,
          cyclic: true,
          cyclePeriodSeconds: 0.001,
          cycleAmplitude: 1e277,
        },
      ],
    });
    for (let k = 0; k < 40; k++)
      expect(gen.tick(1_700_000_000 + k * 7.3, 7.3)[0]!.value).toBe(1.67e32);
  });
});

describe('industry names', () => {
  it('BuiltInIndustry lists exactly the catalog (editors complete what exists)', () => {
    const typed: Record<BuiltInIndustry, true> = {
      mining: true,
      utilities: true,
      manufacturing: true,
      oil_gas: true,
      aerospace: true,
      space: true,
      water_wastewater: true,
      electric_power: true,
      automotive: true,
      chemical: true,
      food_beverage: true,
      pharmaceutical: true,
      data_center: true,
      smart_building: true,
      agriculture: true,
      renewable_energy: true,
    };
    expect(Object.keys(typed).sort()).toEqual([...listIndustries()].sort());
  });

  it('an unknown industry throws UnknownIndustryError with suggestions, from the API', () => {
    const make = (): unknown => new Simulator({ industries: ['minning'] });
    expect(make).toThrow(UnknownIndustryError);
    expect(make).toThrow(/did you mean 'mining'/);
    // Any other label is allowed by the type (custom sensors); only built-in lookups check it.
    const label: IndustryName = 'my_plant';
    expect(label).toBe('my_plant');
  });
});
