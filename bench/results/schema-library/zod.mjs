// Run in a scratch folder: npm install zod@4 valibot@1 @valibot/to-json-schema@1; node zod.mjs
const t0 = performance.now();
const { z } = await import('zod');
const t1 = performance.now();
const num = (o = {}) => {
  let s = z.number();
  if (o.min !== undefined) s = s.min(o.min);
  if (o.int) s = s.int();
  return s;
};
const kafka = z.strictObject({
  bootstrapServers: z.union([z.string(), z.array(z.string())]).optional(),
  topic: z.string().optional(),
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).nullable().optional(),
  acks: z
    .union([z.enum(['all', '0', '1', '-1']), z.literal(-1), z.literal(0), z.literal(1)])
    .optional(),
  ssl: z
    .strictObject({ ca: z.string().optional(), rejectUnauthorized: z.boolean().optional() })
    .optional(),
  maxRequestSize: num({ min: 1, int: true }).optional(),
  saslPassword: z.string().optional(),
  clientId: z.string().optional(),
  batchSize: num({ min: 1, int: true }).optional(),
  rateHz: num({ min: 0 }).optional(),
});
const file = z.strictObject({
  type: z.literal('file'),
  path: z.string(),
  format: z.enum(['csv', 'json', 'parquet']).optional(),
  rotation: z.string().optional(),
  batchSize: num({ min: 1, int: true }).optional(),
});
const sink = z.discriminatedUnion('type', [kafka.extend({ type: z.literal('kafka') }), file]);
const sensor = z.strictObject({
  name: z.string(),
  sensorType: z.string(),
  unit: z.string(),
  minValue: z.number(),
  maxValue: z.number(),
  nominalValue: z.number(),
  noiseStd: z.number().min(0).optional(),
  driftRate: z.number().optional(),
  faultProbability: z.number().min(0).max(1).optional(),
});
const config = z.strictObject({
  simulator: z
    .strictObject({
      updateRateHz: num({ min: 0 }).optional(),
      durationSeconds: num({ min: 0 }).optional(),
      logLevel: z.enum(['debug', 'info', 'warn', 'error']).optional(),
      seed: num({ int: true }).optional(),
    })
    .optional(),
  industries: z.array(z.string()).optional(),
  devicesPerIndustry: num({ min: 1, int: true }).optional(),
  customSensors: z.strictObject({ industry: z.string(), sensors: z.array(sensor) }).optional(),
  sinks: z.array(sink).optional(),
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
for (let i = 0; i < N; i++) n += config.safeParse(good).success ? 1 : 0;
const t4 = performance.now();
let issues;
for (let i = 0; i < N; i++) issues = config.safeParse(bad).error.issues;
const t5 = performance.now();
const js = z.toJSONSchema(config, { target: 'draft-2020-12', io: 'input' });
const t6 = performance.now();
console.log(
  JSON.stringify({
    valid: n,
    lib: 'zod ' + (await import('zod/package.json', { with: { type: 'json' } })).default.version,
    importMs: +(t1 - t0).toFixed(1),
    buildMs: +(t2 - t1).toFixed(1),
    goodParseUs: +(((t4 - t3) / N) * 1000).toFixed(2),
    badParseUs: +(((t5 - t4) / N) * 1000).toFixed(2),
    jsonSchemaMs: +(t6 - t5).toFixed(1),
    jsonSchemaBytes: JSON.stringify(js).length,
    issues: issues.length,
  }),
);
console.log(issues.map((i) => i.path.join('.') + ': ' + i.code + ' ' + i.message).join('\n'));
