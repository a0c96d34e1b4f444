import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import {
  ConfigError,
  DataGenerator,
  isSink,
  listIndustries,
  parseYaml,
  CSV_OPTIONAL_COLUMNS,
  CSV_REQUIRED_COLUMNS,
  Registry,
  registerSink,
  resolveSensorConfig,
  SENSOR_TYPES,
  Simulator,
  Sink,
  validateConfig,
  type SensorConfig,
  type WriteRequest,
} from '@iotsim/core';

/** Counts what it receives; registered as sink type `fuzz_memory` so configs can name it. */
class CountingSink extends Sink {
  static override readonly type = 'fuzz_memory';
  received = 0;
  async connect(): Promise<void> {}
  async write(request: WriteRequest): Promise<void> {
    this.received += request.size;
  }
}

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns = RUNS): fc.Parameters<unknown> => ({
  numRuns,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

/** Either a value or a ConfigError; any other exception fails the property with its stack. */
function configErrorOr<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: ConfigError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: err };
    throw err;
  }
}
async function configErrorOrAsync<T>(
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: ConfigError }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, error: err };
    throw err;
  }
}

// Scalars that break naive validation: NaN-ish text, huge and tiny numbers, empty strings, ...
const nasty = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    -1,
    1,
    0.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 53,
    '',
    ' ',
    'NaN',
    'Infinity',
    '-1',
    '1e3',
    '0x10',
    'true',
    'null',
    '${HOME}',
    '${IOTSIM_FUZZ_UNSET}',
    '${IOTSIM_FUZZ_UNSET:-3}',
    'mining',
    'drop_oldest',
    'block',
    '7x',
    '30s',
    'now',
    '-1d',
    '2024-01-01T00:00:00Z',
  ),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nasty,
    fc.array(tie('any'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('any'), { maxKeys: 3 }),
  ),
})).any;

// Every key a sensor takes in YAML: the CSV columns plus metadata.
const SENSOR_KEYS = [...CSV_REQUIRED_COLUMNS, ...CSV_OPTIONAL_COLUMNS, 'metadata'] as const;

const THROUGHPUT_KEYS = [
  'rate_hz',
  'batch_size',
  'max_buffer_size',
  'backpressure',
  'retry_count',
  'retry_delay_s',
  'max_in_flight',
];

/** A partial mapping over known keys (plus, sometimes, a stray key), each value `arb`. */
function someOf(
  keys: readonly string[],
  arb: (key: string) => fc.Arbitrary<unknown>,
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      fc.subarray([...keys]).chain((ks) => fc.tuple(...ks.map((k) => arb(k).map((v) => [k, v])))),
      fc.option(fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), value), { freq: 4 }),
    )
    .map(([pairs, stray]) => {
      const out = Object.fromEntries(pairs as [string, unknown][]);
      if (stray) out[stray[0]] = stray[1];
      return out;
    });
}

const plausibleNumber = fc.oneof(fc.double({ min: -1000, max: 1000, noNaN: true }), nasty);
const sensorYaml = someOf(SENSOR_KEYS, (k) =>
  k === 'sensor_type'
    ? fc.oneof(fc.constantFrom(...SENSOR_TYPES), nasty)
    : k === 'name' || k === 'unit'
      ? fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), nasty)
      : plausibleNumber,
);
const configDoc = fc.record(
  {
    simulator: fc.oneof(
      someOf(
        [
          'industries',
          'update_rate_hz',
          'duration_s',
          'log_level',
          'seed',
          'start',
          'end',
          'devices_per_industry',
          'shutdown_timeout_s',
        ],
        (k) =>
          k === 'industries'
            ? fc.oneof(fc.subarray(listIndustries(), { maxLength: 3 }), value)
            : k === 'log_level'
              ? fc.oneof(fc.constantFrom('DEBUG', 'INFO', 'warning', 'LOUD'), nasty)
              : plausibleNumber,
      ),
      value,
    ),
    custom_sensors: fc.oneof(
      fc.record({
        industry: fc.oneof(fc.constantFrom('plant', 'mining', ''), nasty),
        sensors: fc.oneof(fc.array(sensorYaml, { maxLength: 3 }), value),
      }),
      value,
    ),
    sinks: fc.oneof(
      fc.array(
        fc.oneof(
          someOf(THROUGHPUT_KEYS, (k) =>
            k === 'backpressure'
              ? fc.oneof(fc.constantFrom('drop_oldest', 'drop_newest', 'block'), nasty)
              : plausibleNumber,
          ).map((o) => ({ type: 'fuzz_memory', ...o })),
          value,
        ),
        { maxLength: 2 },
      ),
      value,
    ),
  },
  { requiredKeys: [] },
);

const T0 = 1_700_000_000;

/** A valid config must run: a short, bounded backfill into the counting sinks. */
async function runBriefly(sim: Simulator): Promise<void> {
  const summary = await sim.run();
  for (const m of summary.sinks) {
    expect(m.generated).toBe(m.delivered + m.dropped.total + m.failed);
    expect(m.buffered).toBe(0);
  }
}

beforeAll(() => {
  registerSink('fuzz_memory', async () => ({ CountingSink }), 'CountingSink');
});

describe('Fuzz: random YAML documents give a valid run or a ConfigError, never another exception', () => {
  it('random text parsed as YAML: a document or a ConfigError naming a line', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({
            unit: fc.constantFrom(...'{}[]:-,"\'\t\n #&*!|>%@`?'.split('')),
            maxLength: 40,
          }),
        ),
        (text) => {
          const r = configErrorOr(() => parseYaml(text, 'fuzz.yaml'));
          if (!r.ok) expect(r.error.issues[0]!.path).toMatch(/^fuzz\.yaml:\d+$/);
        },
      ),
      params(RUNS * 3),
    );
  });

  it('random config documents (dumped to YAML and parsed back) through validateConfig and Simulator.fromConfig; valid ones run a short backfill', async () => {
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(configDoc, async (doc) => {
        const text = dump(doc, { skipInvalid: true });
        const parsed = configErrorOr(() => parseYaml(text, 'fuzz.yaml'));
        if (!parsed.ok) return;
        configErrorOr(() => validateConfig(parsed.value));
        const built = await configErrorOrAsync(() =>
          Simulator.fromConfig(parsed.value as Record<string, unknown>, {
            start: T0,
            end: T0 + 2,
            updateRateHz: 1,
            devicesPerIndustry: 1,
            shutdownTimeoutS: 5,
          }),
        );
        if (!built.ok) {
          expect(built.error.issues.length).toBeGreaterThan(0);
          return;
        }
        valid++;
        await runBriefly(built.value);
      }),
      params(),
    );
    // The generator must reach valid documents too, or the run half proves nothing.
    expect(valid).toBeGreaterThan(0);
  });

  it('random mutations of a valid config (a key removed, a value replaced, a key added)', async () => {
    const base: Record<string, unknown> = {
      simulator: {
        industries: ['mining', 'utilities'],
        update_rate_hz: 2,
        seed: 3,
        log_level: 'INFO',
      },
      custom_sensors: {
        industry: 'plant',
        sensors: [
          {
            name: 'boiler',
            sensor_type: 'temperature',
            unit: 'C',
            min_value: 0,
            max_value: 200,
            nominal_value: 150,
            cyclic: true,
          },
          {
            name: 'steam',
            sensor_type: 'pressure',
            unit: 'bar',
            min_value: 5,
            max_value: 25,
            nominal_value: 15,
            noise_std: 0.5,
          },
        ],
      },
      sinks: [{ type: 'fuzz_memory', batch_size: 50, backpressure: 'drop_oldest', rate_hz: 5 }],
    };
    // Every path into the document, so a mutation can hit any level.
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, path: (string | number)[]): void => {
      paths.push(path);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
      else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    };
    walk(base, []);
    const mutation = fc.tuple(
      fc.constantFrom(...paths.filter((p) => p.length > 0)),
      fc.constantFrom('delete', 'replace', 'add'),
      fc.string({ minLength: 1, maxLength: 8 }),
      value,
    );
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const doc = structuredClone(base);
        for (const [path, op, key, v] of mutations) {
          let parent: unknown = doc;
          for (const seg of path.slice(0, -1)) parent = (parent as Record<string, unknown>)?.[seg];
          if (!parent || typeof parent !== 'object') continue;
          const last = path[path.length - 1]!;
          const p = parent as Record<string | number, unknown>;
          if (op === 'delete') delete p[last];
          else if (op === 'replace') p[last] = v;
          else if (p[last] && typeof p[last] === 'object' && !Array.isArray(p[last]))
            (p[last] as Record<string, unknown>)[key] = v;
        }
        const built = await configErrorOrAsync(() =>
          Simulator.fromConfig(doc, {
            start: T0,
            end: T0 + 2,
            updateRateHz: 1,
            devicesPerIndustry: 1,
            shutdownTimeoutS: 5,
          }),
        );
        if (!built.ok) return;
        valid++;
        await runBriefly(built.value);
      }),
      params(),
    );
    expect(valid).toBeGreaterThan(0);
  });

  it('random options for every first-party sink type: a sink or a ConfigError (construction only, nothing is contacted)', async () => {
    const types = [
      'console',
      'file',
      'kafka',
      'database',
      'webhook',
      'delta',
      'azure_iot',
      'aws_iot',
      'zerobus',
    ];
    const keys = [
      ...THROUGHPUT_KEYS,
      'path',
      'format',
      'rotation',
      'compression',
      'bootstrap_servers',
      'topic',
      'sasl_mechanism',
      'sasl_username',
      'sasl_password',
      'security_protocol',
      'connection_string',
      'table',
      'url',
      'headers',
      'timeout_s',
      'table_path',
      'partition_by',
      'storage_options',
      'endpoint',
      'region',
      'server_endpoint',
      'table_name',
      'client_id',
      'client_secret',
      'workspace_url',
      'fmt',
      'mode',
    ];
    // Core's first-party table resolves each package from the cwd (this package depends on all).
    const registry = new Registry();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...types),
        someOf(keys, () => value),
        async (type, options) => {
          const r = await configErrorOrAsync(() =>
            registry.createSink({ type, ...options }, 'sinks[0].'),
          );
          if (r.ok) expect(isSink(r.value.sink)).toBe(true);
          else for (const i of r.error.issues) expect(i.path).toMatch(/^sinks\[0\]\./);
        },
      ),
      params(RUNS * 2),
    );
  });
});

describe('Fuzz: random SensorConfig values resolve or throw ConfigError; resolved ones generate finite values within range', () => {
  const num = fc.oneof(
    fc.double(),
    fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    fc.constantFrom(0, -0, 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE),
  );
  const sensorConfig = fc.record(
    {
      name: fc.oneof(fc.string({ maxLength: 8 }), fc.constant(undefined)),
      sensorType: fc.oneof(fc.constantFrom(...SENSOR_TYPES), fc.string({ maxLength: 6 })),
      unit: fc.oneof(fc.string({ maxLength: 4 }), fc.integer()),
      minValue: num,
      maxValue: num,
      nominalValue: num,
      noiseStd: num,
      driftRate: num,
      anomalyProbability: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), num),
      anomalyMagnitude: num,
      updateFrequencyHz: num,
      cyclic: fc.oneof(fc.boolean(), fc.string({ maxLength: 3 })),
      cyclePeriodSeconds: num,
      cycleAmplitude: num,
      metadata: fc.oneof(
        fc.dictionary(
          fc.string({ maxLength: 4 }),
          fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(null)),
        ),
        value,
      ),
    },
    { requiredKeys: [] },
  );
  // Sensors whose range is wide enough to matter: valid ones are rare with fully random numbers.
  const validish = fc
    .tuple(
      fc.double({ min: -1e307, max: 1e307, noNaN: true }),
      fc.double({ min: 0, max: 1e307, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.record({
        noiseStd: fc.double({ min: 0, max: 1e307, noNaN: true }),
        driftRate: fc.double({ min: 0, max: 10, noNaN: true }),
        anomalyProbability: fc.constantFrom(0, 0.5, 1),
        anomalyMagnitude: fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.constant(0),
        ),
        cyclic: fc.boolean(),
        cyclePeriodSeconds: fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        cycleAmplitude: fc.double({ min: 0, max: 1e307, noNaN: true }),
      }),
    )
    .map(([min, width, at, rest]): SensorConfig => ({
      name: 's',
      sensorType: 'flow',
      unit: 'x',
      minValue: min,
      maxValue: min + width,
      nominalValue: min + width * at,
      ...rest,
    }));

  it('random SensorConfig through resolveSensorConfig and DataGenerator: every value a finite number in [min, max]', () => {
    let resolved = 0;
    fc.assert(
      fc.property(
        fc.oneof(sensorConfig, validish),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (input, seed) => {
          const r = configErrorOr(() => resolveSensorConfig(input as SensorConfig));
          if (!r.ok) return;
          resolved++;
          const gen = new DataGenerator({ customSensors: [input as SensorConfig], seed });
          for (let k = 0; k < 40; k++) {
            for (const rec of gen.tick(T0 + k * 7.3, 7.3)) {
              expect(Number.isFinite(rec.value)).toBe(true);
              expect(rec.value).toBeGreaterThanOrEqual(r.value.minValue);
              expect(rec.value).toBeLessThanOrEqual(r.value.maxValue);
            }
          }
        },
      ),
      params(RUNS * 4),
    );
    expect(resolved).toBeGreaterThan(0);
  });
});
