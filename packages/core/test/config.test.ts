import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import {
  ConfigError,
  interpolateEnv,
  parseSensorCsv,
  parseYaml,
  validateConfig,
  CsvError,
} from '../src/index.js';

function issues(doc: unknown): string[] {
  try {
    validateConfig(doc);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('YAML config', () => {
  it("loads the original README's example unchanged", () => {
    const text = readFileSync(new URL('./fixtures/original-readme.yaml', import.meta.url), 'utf8');
    const cfg = validateConfig(parseYaml(text));
    expect(cfg.industries).toEqual(['mining', 'utilities']);
    expect(cfg.updateRateHz).toBe(2);
    expect(cfg.durationS).toBe(60);
    expect(cfg.logLevel).toBe('info');
    expect(cfg.customSensors[0]!.industry).toBe('smart_office');
    expect(cfg.customSensors[0]!.sensors.map((s) => s.name)).toEqual([
      'room_temperature',
      'co2_level',
    ]);
    expect(cfg.customSensors[0]!.sensors[0]!.unit).toBe('°C');
    expect(cfg.sinks.map((s) => s.type)).toEqual([
      'console',
      'kafka',
      'file',
      'database',
      'webhook',
      'delta',
      'zerobus',
    ]);
    expect(cfg.sinks[1]!.options).toMatchObject({
      bootstrap_servers: 'localhost:9092',
      batch_size: 50,
    });
  });

  it('applies defaults for an empty document', () => {
    const cfg = validateConfig({});
    expect(cfg).toMatchObject({
      industries: ['mining'],
      updateRateHz: 1,
      durationS: null,
      logLevel: 'info',
      sinks: [],
      customSensors: [],
    });
  });

  it('reads seed, start and end', () => {
    const cfg = validateConfig({
      simulator: { seed: 42, start: '2024-01-01T00:00:00Z', end: '2024-01-08T00:00:00Z' },
    });
    expect(cfg.seed).toBe(42);
    expect(cfg.end! - cfg.start!).toBe(7 * 86400);
  });

  it('reports a YAML syntax error with its line', () => {
    expect(() => parseYaml('simulator:\n  industries: [mining\n  rate: 2\n', 'bad.yaml')).toThrow(
      /bad\.yaml:\d+: YAML syntax error/,
    );
  });
  it('rejects a negative or zero rate', () => {
    expect(issues({ simulator: { update_rate_hz: 0 } })).toEqual([
      'simulator.update_rate_hz: must be > 0, got 0',
    ]);
    expect(issues({ simulator: { update_rate_hz: -1 } })).toEqual([
      'simulator.update_rate_hz: must be > 0, got -1',
    ]);
  });
  it('rejects wrong types', () =>
    expect(issues({ simulator: { update_rate_hz: 'fast' } })).toEqual([
      'simulator.update_rate_hz: must be a number, got "fast"',
    ]));
  it('rejects an unknown industry with suggestions', () =>
    expect(issues({ simulator: { industries: ['minning'] } })).toEqual([
      "simulator.industries[0]: unknown industry 'minning': did you mean 'mining'?",
    ]));
  it('rejects unknown keys with a did-you-mean', () =>
    expect(issues({ simulator: { update_rate: 2 } })).toEqual([
      "simulator.update_rate: unknown option (did you mean 'update_rate_hz'?)",
    ]));
  it('names an unknown custom sensor key by its own spelling, with a did-you-mean', () =>
    expect(
      issues({
        custom_sensors: {
          industry: 'plant',
          sensors: [
            {
              name: 'a',
              sensor_type: 'flow',
              unit: 'x',
              min_value: 0,
              max_value: 1,
              nominal_value: 0.5,
              nosie_std: 1,
            },
          ],
        },
      }),
    ).toEqual(["custom_sensors.sensors[0].nosie_std: unknown option (did you mean 'noise_std'?)"]));
  it('rejects a sparse list from the TypeScript API instead of crashing on its hole', () =>
    // eslint-disable-next-line no-sparse-arrays
    expect(issues({ simulator: { industries: ['mining', , 'utilities'] } })).toEqual([
      'simulator.industries: must be a list of strings, got a list',
    ]));
  it('rejects an unknown log level', () =>
    expect(issues({ simulator: { log_level: 'LOUD' } })[0]).toMatch(
      /^simulator.log_level: must be one of DEBUG/,
    ));
  it('rejects a custom sensor with min > max, naming its path', () => {
    const doc = {
      custom_sensors: {
        industry: 'lab',
        sensors: [
          {
            name: 'a',
            sensor_type: 'flow',
            unit: 'x',
            min_value: 10,
            max_value: 1,
            nominal_value: 5,
          },
        ],
      },
    };
    expect(issues(doc)).toEqual([
      'custom_sensors.sensors[0].min_value: must be <= max_value (1), got 10',
    ]);
  });
  it('rejects duplicate custom sensor names', () => {
    const s = {
      name: 'a',
      sensor_type: 'flow',
      unit: 'x',
      min_value: 0,
      max_value: 10,
      nominal_value: 5,
    };
    expect(issues({ custom_sensors: { industry: 'lab', sensors: [s, s] } })).toEqual([
      "custom_sensors.sensors[1].name: duplicate sensor name 'a'",
    ]);
  });
  it('requires a sink type', () =>
    expect(issues({ sinks: [{ rate_hz: 1 }] })[0]).toMatch(/^sinks\[0\].type: is required/));
  it('requires end after start', () =>
    expect(issues({ simulator: { start: '2024-01-02', end: '2024-01-01' } })).toEqual([
      'simulator.end: must be after simulator.start',
    ]));
  it('collects every problem before failing', () =>
    expect(
      issues({
        simulator: { update_rate_hz: -1, industries: ['nope'], bogus: 1 },
        sinks: 'console',
      }),
    ).toHaveLength(4));

  it('substitutes ${VAR} and ${VAR:-default}, and names a missing variable', () => {
    const found: { path: string; message: string }[] = [];
    const out = interpolateEnv(
      { a: 'x-${IOTSIM_T1}', b: ['${IOTSIM_NOPE:-dflt}'], c: '${IOTSIM_MISSING}' },
      '',
      found,
      { IOTSIM_T1: 'one' },
    );
    expect(out).toEqual({ a: 'x-one', b: ['dflt'], c: '' });
    expect(found).toEqual([
      {
        path: 'c',
        message: 'environment variable IOTSIM_MISSING is not set (referenced as ${IOTSIM_MISSING})',
      },
    ]);
  });
});

describe('CSV sensor import', () => {
  const header =
    'name,sensor_type,unit,min_value,max_value,nominal_value,noise_std,cyclic,cycle_period_seconds';
  it("reads the original README's CSV", () => {
    const text = `${header}\nboiler_temp,temperature,°C,80,200,150,2.0,true,30\nsteam_pressure,pressure,bar,5,25,15,0.5,false,\nfeed_water_flow,flow,L/m,100,500,300,10.0,false,\n`;
    const sensors = parseSensorCsv(text, 'my.csv');
    expect(sensors.map((s) => [s.name, s.cyclic, s.cyclePeriodSeconds, s.noiseStd])).toEqual([
      ['boiler_temp', true, 30, 2],
      ['steam_pressure', false, 60, 0.5],
      ['feed_water_flow', false, 60, 10],
    ]);
  });
  it('accepts a BOM, Windows line endings and quoted fields', () => {
    const text = `\uFEFF${header}\r\n"tank ""A"", level",level,"m, approx",0,10,5,0.1,false,\r\n`;
    expect(parseSensorCsv(text, 'w.csv')[0]).toMatchObject({
      name: 'tank "A", level',
      unit: 'm, approx',
    });
  });
  it('names missing columns', () =>
    expect(() => parseSensorCsv('name,unit\na,b\n', 'm.csv')).toThrow(
      /m\.csv:1: missing required column\(s\): sensor_type, min_value, max_value, nominal_value/,
    ));
  it('names the line of a bad number', () => {
    const err = (() => {
      try {
        parseSensorCsv(
          `${header}\na,flow,x,0,10,5,0.1,false,\nb,flow,x,zero,10,5,0.1,false,\n`,
          'n.csv',
        );
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CsvError);
    expect((err as CsvError).issues).toEqual([
      { path: 'n.csv:3', message: "min_value: 'zero' is not a number" },
    ]);
  });
  it('names the line where an unterminated quote opened', () =>
    expect(() =>
      parseSensorCsv(`${header}\n"a,flow,x,0,1,0.5,,,\nb,flow,x,0,1,0.5,,,\n`, 'q.csv'),
    ).toThrow('q.csv:2: unterminated quoted field'));
  it('rejects an empty file', () =>
    expect(() => parseSensorCsv('', 'e.csv')).toThrow(/e\.csv:1: the file is empty/));
  it('rejects a header without rows', () =>
    expect(() => parseSensorCsv(`${header}\n`, 'h.csv')).toThrow(/no sensor rows/));
  it('rejects rows with the wrong number of fields', () =>
    expect(() => parseSensorCsv(`${header}\na,flow,x\n`, 'f.csv')).toThrow(
      /f\.csv:2: expected 9 fields, found 3/,
    ));
  it('rejects invalid rows with every problem', () => {
    try {
      parseSensorCsv(`${header}\na,flw,x,10,0,5,-1,maybe,\n`, 'v.csv');
      throw new Error('no error');
    } catch (err) {
      expect((err as CsvError).issues.map((i) => i.message)).toEqual(
        expect.arrayContaining([
          "cyclic: 'maybe' is not true or false",
          'noise_std: must be >= 0, got -1',
        ]),
      );
      expect((err as CsvError).issues.every((i) => i.path === 'v.csv:2')).toBe(true);
    }
  });
});

describe('YAML aliases', () => {
  it('a document that shares nodes through aliases loads with the shared values', () => {
    const doc = parseYaml('base: &b {update_rate_hz: 2, seed: 7}\nsimulator: *b\n', 'c.yaml') as {
      simulator: { seed: number };
    };
    expect(doc.simulator.seed).toBe(7);
  });

  it('a document whose aliases expand past the limit is a ConfigError naming the file', () => {
    const levels = ['a: &a [x,x,x,x,x,x,x,x,x,x]'];
    for (const [i, x] of [...'bcdefg'].entries())
      levels.push(`${x}: &${x} [${Array(10).fill(`*${'abcdefg'[i]}`).join(',')}]`);
    expect(() => parseYaml(levels.join('\n'), 'bomb.yaml')).toThrow(ConfigError);
    expect(() => parseYaml(levels.join('\n'), 'bomb.yaml')).toThrow(
      /bomb\.yaml: the YAML document expands to more than 1,000,000 values/,
    );
  });
});
