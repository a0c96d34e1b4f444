// `iotsim schema` checked by an independent validator: Python's jsonschema (Draft 2020-12) accepts
// every shipped config and the original README's full YAML, and rejects what the loader rejects.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { ConfigError, Simulator } from '@iotsim/core';
import { runPython, tempDir } from '@iotsim/test-utils';
import { STARTER_CONFIG } from '../src/commands/init-config.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/** Validates each document with jsonschema; prints one list of error messages per document. */
const VALIDATE = `
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
docs = json.load(open(sys.argv[2]))
print(json.dumps([[e.message for e in v.iter_errors(d)] for d in docs]))
`;

let dir: string;
let remove: () => Promise<void>;
let schemaFile: string;

async function validate(docs: unknown[]): Promise<string[][]> {
  const file = join(dir, `docs-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(docs));
  return JSON.parse(await runPython(VALIDATE, [schemaFile, file])) as string[][];
}

/** The loader's own verdict on a document: its problems (empty when it loads). */
async function loaderProblems(doc: unknown): Promise<string[]> {
  try {
    await Simulator.fromConfig(doc as Record<string, unknown>, {}, { resolveFrom: [here('.')] });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
}

describe('iotsim schema, validated by Python jsonschema', () => {
  beforeAll(async () => {
    ({ path: dir, remove } = await tempDir('iotsim-schema-'));
    schemaFile = join(dir, 'iotsim.schema.json');
    const { stdout } = await run(process.execPath, [BIN, 'schema']);
    writeFileSync(schemaFile, stdout);
  });
  afterAll(() => remove());

  it('is a valid 2020-12 schema that accepts every shipped config and the original README YAML', async () => {
    const configs = here('../../../examples/configs');
    const files = [
      ...readdirSync(configs)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(configs, f)),
      here('./fixtures/original-readme.yaml'),
      here('./fixtures/original-console.yaml'),
    ];
    const docs = [...files.map((f) => load(readFileSync(f, 'utf8'))), load(STARTER_CONFIG)];
    expect(files.length).toBeGreaterThanOrEqual(4);
    const errors = await validate(docs);
    expect(Object.fromEntries(errors.map((e, i) => [files[i] ?? 'init-config', e]))).toEqual(
      Object.fromEntries(errors.map((_, i) => [files[i] ?? 'init-config', []])),
    );
  });

  it('rejects what the loader rejects: unknown keys at any depth, out-of-range values, wrong types', async () => {
    const bad: Record<string, unknown>[] = [
      { simulatr: {} },
      { simulator: { update_rate_hz: -1 } },
      { simulator: { update_rate_hz: 'fast' } },
      { simulator: { log_level: 'LOUD' } },
      { simulator: { devices_per_industry: 1.5 } },
      { sinks: [{ type: 'console', fmt: 'xml' }] },
      { sinks: [{ type: 'console', batch_size: 0 }] },
      { sinks: [{ type: 'console', backpressure: 'drop_all' }] },
      { sinks: [{ type: 'kafka', topik: 'x' }] },
      { sinks: [{ type: 'kafka', ssl: { reject_unauthorised: true } }] },
      { sinks: [{ type: 'kafka', compression: 'brotli' }] },
      { sinks: [{ type: 'kafak' }] },
      { sinks: [{ rate_hz: 1 }] },
      { sinks: [{ type: 'file', format: 'xlsx' }] },
      { servers: [{ type: 'http', port: 70000 }] },
      { servers: [{ type: 'opcua', prot: 4840 }] },
      {
        custom_sensors: {
          industry: 'plant',
          sensors: [{ name: 's', sensor_type: 'temperature', unit: 'C', min_value: 0 }],
        },
      },
      {
        custom_sensors: {
          industry: 'plant',
          sensors: [
            {
              name: 's',
              sensor_type: 'tempreature',
              unit: 'C',
              min_value: 0,
              max_value: 1,
              nominal_value: 0.5,
            },
          ],
        },
      },
    ];
    const errors = await validate(bad);
    for (const [i, doc] of bad.entries()) {
      const loader = await loaderProblems(doc);
      expect({ doc, loader: loader.length > 0 }).toEqual({ doc, loader: true });
      expect({ doc, schema: errors[i]!.length > 0 }).toEqual({ doc, schema: true });
    }
    // And a config both accept, with a substituted number and a nested YAML key.
    const good = {
      simulator: { update_rate_hz: '${RATE:-2}', industries: ['mining'] },
      sinks: [
        {
          type: 'kafka',
          security_protocol: 'SSL',
          ssl: { reject_unauthorized: false },
          batch_size: 500,
        },
      ],
    };
    expect(await validate([good])).toEqual([[]]);
    expect(await loaderProblems(good)).toEqual([]);
  });
});
