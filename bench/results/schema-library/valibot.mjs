// Run in a scratch folder: npm install zod@4 valibot@1 @valibot/to-json-schema@1; node valibot.mjs
const t0 = performance.now();
const v = await import('valibot');
const t1 = performance.now();
const { toJsonSchema } = await import('@valibot/to-json-schema');
const num = (o = {}) => {
  const p = [v.number()];
  if (o.min !== undefined) p.push(v.minValue(o.min));
  if (o.int) p.push(v.integer());
  return p.length > 1 ? v.pipe(...p) : p[0];
};
const kafkaEntries = {
  bootstrapServers: v.optional(v.union([v.string(), v.array(v.string())])),
  topic: v.optional(v.string()),
  compression: v.optional(v.nullable(v.picklist(['none', 'gzip', 'snappy', 'lz4', 'zstd']))),
  acks: v.optional(
    v.union([v.picklist(['all', '0', '1', '-1']), v.literal(-1), v.literal(0), v.literal(1)]),
  ),
  ssl: v.optional(
    v.strictObject({ ca: v.optional(v.string()), rejectUnauthorized: v.optional(v.boolean()) }),
  ),
  maxRequestSize: v.optional(num({ min: 1, int: true })),
  saslPassword: v.optional(v.string()),
  clientId: v.optional(v.string()),
  batchSize: v.optional(num({ min: 1, int: true })),
  rateHz: v.optional(num({ min: 0 })),
};
const file = v.strictObject({
  type: v.literal('file'),
  path: v.string(),
  format: v.optional(v.picklist(['csv', 'json', 'parquet'])),
  rotation: v.optional(v.string()),
  batchSize: v.optional(num({ min: 1, int: true })),
});
const sink = v.variant('type', [
  v.strictObject({ ...kafkaEntries, type: v.literal('kafka') }),
  file,
]);
const sensor = v.strictObject({
  name: v.string(),
  sensorType: v.string(),
  unit: v.string(),
  minValue: v.number(),
  maxValue: v.number(),
  nominalValue: v.number(),
  noiseStd: v.optional(v.pipe(v.number(), v.minValue(0))),
  driftRate: v.optional(v.number()),
  faultProbability: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
});
const config = v.strictObject({
  simulator: v.optional(
    v.strictObject({
      updateRateHz: v.optional(num({ min: 0 })),
      durationSeconds: v.optional(num({ min: 0 })),
      logLevel: v.optional(v.picklist(['debug', 'info', 'warn', 'error'])),
      seed: v.optional(num({ int: true })),
    }),
  ),
  industries: v.optional(v.array(v.string())),
  devicesPerIndustry: v.optional(num({ min: 1, int: true })),
  customSensors: v.optional(v.strictObject({ industry: v.string(), sensors: v.array(sensor) })),
  sinks: v.optional(v.array(sink)),
});
const t2 = performance.now();
const good = {
  simulator: { updateRateHz: 10, durationSeconds: 60, logLevel: 'info', seed: 42 },
  industries: ['mining', 'utilities'],
  devicesPerIndustry: 3,
  customSensors: {
    industry: 'plant',
    sensors: Array.from({ length: 20 }, (_, i) => ({
      name: 's' + i,
      sensorType: 'temperature',
      unit: 'C',
      minValue: 0,
      maxValue: 10,
      nominalValue: 5,
      noiseStd: 0.1,
    })),
  },
  sinks: [
    {
      type: 'kafka',
      bootstrapServers: 'localhost:9092',
      topic: 't',
      compression: 'lz4',
      ssl: { ca: '/x', rejectUnauthorized: false },
      batchSize: 1000,
    },
    { type: 'file', path: 'out', format: 'csv' },
  ],
};
const bad = {
  simulator: { updateRateHz: 'fast', logLevel: 'loud', sede: 1 },
  devicesPerIndustry: 0.5,
  sinks: [{ type: 'kafka', topik: 'x', ssl: { rejectUnauthorised: true } }, { type: 'file' }],
};
let n = 0;
const N = 20000;
const t3 = performance.now();
for (let i = 0; i < N; i++) n += v.safeParse(config, good).success ? 1 : 0;
const t4 = performance.now();
let issues;
for (let i = 0; i < N; i++) issues = v.safeParse(config, bad).issues;
const t5 = performance.now();
let js;
try {
  js = toJsonSchema(config, { target: 'draft-2020-12' });
} catch (e) {
  js = { error: String(e) };
}
const t6 = performance.now();
console.log(
  JSON.stringify({
    valid: n,
    lib:
      'valibot ' +
      (
        await import('valibot/package.json', { with: { type: 'json' } }).catch(() => ({
          default: { version: '?' },
        }))
      ).default.version,
    importMs: +(t1 - t0).toFixed(1),
    buildMs: +(t2 - t1).toFixed(1),
    goodParseUs: +(((t4 - t3) / N) * 1000).toFixed(2),
    badParseUs: +(((t5 - t4) / N) * 1000).toFixed(2),
    jsonSchemaMs: +(t6 - t5).toFixed(1),
    jsonSchemaBytes: JSON.stringify(js).length,
    schemaTag: js.$schema,
    issues: issues.length,
  }),
);
console.log(
  issues
    .map(
      (i) =>
        (i.path ?? []).map((p) => p.key).join('.') + ': ' + i.kind + '/' + i.type + ' ' + i.message,
    )
    .join('\n'),
);
