import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  ConsoleSink,
  fromYamlKeys,
  issuesToYaml,
  opt,
  parseOptions,
  toJsonSchema,
  v,
  type InputOf,
} from '../src/index.js';

const Schema = opt.resolve(
  opt.object(
    {
      topic: opt.string({ nonEmpty: true, hint: 'a topic name' }),
      batchBytes: v.nullish(opt.number({ min: 1, integer: true }), 1000),
      securityProtocol: v.nullish(opt.oneOf(['PLAINTEXT', 'SSL']), 'PLAINTEXT'),
      saslUsername: v.nullish(opt.string()),
      ssl: v.nullish(
        opt.object({
          rejectUnauthorized: v.nullish(opt.boolean(), true),
          caFile: v.nullish(opt.string()),
        }),
        {},
      ),
      headers: v.nullish(opt.stringMap(), {}),
      brokers: v.nullish(opt.stringList(), ['localhost:9092']),
    },
    { suggest: ['batchSize'] },
  ),
  (o, problem) => {
    if (o.securityProtocol === 'SSL' && !o.saslUsername)
      problem('is required with securityProtocol SSL; set %{saslUsername}', ['saslUsername']);
    return { ...o, tls: o.securityProtocol === 'SSL' };
  },
);

function problems(input: unknown, style: 'ts' | 'yaml' = 'ts'): string[] {
  try {
    parseOptions(Schema, input, { style });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
  }
  return [];
}

describe('option schemas', () => {
  it('fills defaults, coerces text from ${VAR} and resolves', () => {
    const out = parseOptions(Schema, {
      topic: 't',
      batchBytes: '500',
      ssl: { rejectUnauthorized: 'no' },
    });
    expect(out).toEqual({
      topic: 't',
      batchBytes: 500,
      securityProtocol: 'PLAINTEXT',
      saslUsername: undefined,
      ssl: { rejectUnauthorized: false, caFile: undefined },
      headers: {},
      brokers: ['localhost:9092'],
      tls: false,
    });
    const typed: InputOf<typeof Schema> = { topic: 'x', ssl: { caFile: '/ca.pem' } };
    expect(parseOptions(Schema, typed).ssl.caFile).toBe('/ca.pem');
  });

  it('reports every problem at once, each unknown key with a did-you-mean', () => {
    expect(
      problems({
        topik: 'x',
        batchbytes: 5,
        batch_size: 3,
        securityProtocol: 'SSl',
        ssl: { rejectUnauthorised: true },
        headers: { 'X-Key': {} },
      }),
    ).toEqual([
      'topic: is required: a topic name',
      `securityProtocol: must be one of 'PLAINTEXT', 'SSL', got "SSl" (did you mean 'SSL'?)`,
      "ssl.rejectUnauthorised: unknown option (did you mean 'rejectUnauthorized'?)",
      'headers.X-Key: must be a string, got a mapping',
      "topik: unknown option (did you mean 'topic'?)",
      "batchbytes: unknown option (did you mean 'batchBytes'?)",
      "batch_size: unknown option (did you mean 'batchSize'?)",
    ]);
  });

  it('maps YAML keys at every depth the schema declares, and shows YAML names in YAML messages', () => {
    const yaml = {
      topic: 't',
      batch_bytes: 0,
      ssl: { reject_unauthorized: 'maybe' },
      headers: { Content_Type: 'a' },
    };
    const converted = fromYamlKeys(Schema, yaml);
    expect(converted).toEqual({
      topic: 't',
      batchBytes: 0,
      ssl: { rejectUnauthorized: 'maybe' },
      headers: { Content_Type: 'a' },
    });
    expect(problems(converted, 'yaml')).toEqual([
      'batch_bytes: must be >= 1, got 0',
      'ssl.reject_unauthorized: must be true or false, got "maybe"',
    ]);
    // A TypeScript-style error re-rendered for YAML under the entry's path.
    let ts: ConfigError | undefined;
    try {
      parseOptions(Schema, { topic: 't', securityProtocol: 'SSL', ssl: { caFil: 'x' } });
    } catch (err) {
      ts = err as ConfigError;
    }
    expect(ts?.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "ssl.caFil: unknown option (did you mean 'caFile'?)",
    ]);
    expect(issuesToYaml(ts!.issues, 'sinks[1].').map((i) => `${i.path}: ${i.message}`)).toEqual([
      "sinks[1].ssl.caFil: unknown option (did you mean 'ca_file'?)",
    ]);
    expect(problems({ topic: 't', securityProtocol: 'SSL' }, 'yaml')).toEqual([
      'sasl_username: is required with securityProtocol SSL; set sasl_username',
    ]);
  });

  it('rejects a list where a mapping belongs, and null for a required value', () => {
    expect(problems([1])).toEqual(['must be a mapping, got a list']);
    expect(problems({ topic: null, ssl: [] })).toEqual([
      'topic: is required: a topic name',
      'ssl: must be a mapping, got a list',
    ]);
  });

  it('prints a JSON Schema with YAML keys, bounds, enums and no unknown keys', () => {
    const js = toJsonSchema(Schema);
    expect(js).toMatchObject({
      type: 'object',
      additionalProperties: false,
      required: ['topic'],
      properties: {
        topic: { type: 'string', minLength: 1 },
        batch_bytes: {
          anyOf: [
            { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string' }] },
            { type: 'null' },
          ],
          default: 1000,
        },
        security_protocol: { anyOf: [{ enum: ['PLAINTEXT', 'SSL'] }, { type: 'null' }] },
        ssl: {
          anyOf: [
            {
              type: 'object',
              additionalProperties: false,
              properties: { reject_unauthorized: {}, ca_file: {} },
            },
            { type: 'null' },
          ],
        },
      },
    });
  });

  it('a throughput key given to a sink schema from YAML is named as one, in YAML spelling', () => {
    let err: unknown;
    try {
      ConsoleSink.fromConfig({ batch_size: 10, fmt: 'xml' }, 'sinks[0].');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      "sinks[0].batch_size: is a throughput option: give it beside the sink (sim.addSink(sink, { batchSize: … })), not in the sink's options",
      "sinks[0].fmt: must be one of 'text', 'json', got \"xml\"",
    ]);
  });
});
