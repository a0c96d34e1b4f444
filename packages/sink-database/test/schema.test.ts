import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { RECORD_FIELDS, RecordBatch, SensorRecord } from '@iotsim/core';
import { makeRecords } from '@iotsim/test-utils';
import { copyText, CopyRowEncoder, encodeCopyRows } from '../src/internal/postgres-writer.js';
import {
  COLUMN_TYPES,
  createStatements,
  pgCopyStatement,
  qualifiedName,
  quoteIdentifier,
  SENSOR_COLUMNS,
  shapeProblems,
  sqliteInsertStatement,
} from '../src/internal/table.js';
import { metadataJson } from '../src/internal/writer.js';
import { makeFrame } from './helpers.js';

const plain = { schema: undefined, name: 'sensor_data' };

describe('table definition', () => {
  it('has the record columns, in record order', () => {
    expect(SENSOR_COLUMNS.map((c) => c.name)).toEqual([...RECORD_FIELDS]);
  });

  it('creates the PostgreSQL table with jsonb metadata, double precision and an index', () => {
    const ddl = createStatements({ schema: 'analytics', name: 'readings' }, 'postgresql');
    expect(ddl.table).toBe(
      'CREATE TABLE IF NOT EXISTS "analytics"."readings" ("sensor_name" text NOT NULL, "industry" text NOT NULL, ' +
        '"device_id" text NOT NULL, "value" double precision, "unit" text NOT NULL, "sensor_type" text NOT NULL, ' +
        '"timestamp" double precision NOT NULL, "min_value" double precision NOT NULL, ' +
        '"max_value" double precision NOT NULL, "nominal_value" double precision NOT NULL, ' +
        '"fault_active" boolean NOT NULL, "metadata" jsonb NOT NULL)',
    );
    expect(ddl.indexes).toEqual([
      'CREATE INDEX IF NOT EXISTS "readings_timestamp_idx" ON "analytics"."readings" ("timestamp")',
    ]);
  });

  it('creates the SQLite table with real, integer booleans and JSON text', () => {
    const ddl = createStatements(plain, 'sqlite');
    expect(ddl.table).toContain('"value" real,');
    expect(ddl.table).toContain('"fault_active" integer NOT NULL');
    expect(ddl.table).toContain('"metadata" text NOT NULL');
    expect(ddl.indexes).toEqual([
      'CREATE INDEX IF NOT EXISTS "sensor_data_timestamp_idx" ON "sensor_data" ("timestamp")',
    ]);
  });

  it('quotes every identifier in COPY and INSERT', () => {
    expect(pgCopyStatement({ schema: undefined, name: 'Readings' })).toBe(
      `COPY "Readings" (${RECORD_FIELDS.map((f) => `"${f}"`).join(', ')}) FROM STDIN`,
    );
    expect(sqliteInsertStatement(plain)).toBe(
      `INSERT INTO "sensor_data" (${RECORD_FIELDS.map((f) => `"${f}"`).join(', ')}) VALUES (${RECORD_FIELDS.map(() => '?').join(', ')})`,
    );
    const marks = `(${RECORD_FIELDS.map(() => '?').join(', ')})`;
    expect(sqliteInsertStatement(plain, 3)).toBe(
      `INSERT INTO "sensor_data" (${RECORD_FIELDS.map((f) => `"${f}"`).join(', ')}) VALUES ${marks}, ${marks}, ${marks}`,
    );
  });

  it('doubles quotes inside identifiers', () => {
    expect(quoteIdentifier('a"b')).toBe('"a""b"');
    expect(qualifiedName({ schema: 'S', name: 'T' })).toBe('"S"."T"');
  });

  it('keeps index names within 63 characters', () => {
    const ddl = createStatements({ schema: undefined, name: 'x'.repeat(63) }, 'postgresql');
    const name = /INDEX IF NOT EXISTS "([^"]+)"/.exec(ddl.indexes[0]!)![1]!;
    expect(name.length).toBeLessThanOrEqual(63);
  });
});

describe('shape check', () => {
  const full = SENSOR_COLUMNS.map((c) => ({
    name: c.name,
    type: COLUMN_TYPES[c.kind].postgresql,
    required: c.notNull,
  }));

  it('accepts the table it creates, and extra optional columns', () => {
    expect(shapeProblems(full, 'postgresql').problems).toEqual([]);
    expect(
      shapeProblems([...full, { name: 'id', type: 'bigint', required: false }], 'postgresql')
        .problems,
    ).toEqual([]);
  });

  it('names the missing columns and how to add them', () => {
    const old = full.filter((c) => c.name !== 'device_id' && c.name !== 'metadata');
    const { missing, problems } = shapeProblems(old, 'postgresql');
    expect(missing).toEqual(['device_id', 'metadata']);
    expect(problems[0]).toContain('missing columns device_id, metadata');
    expect(problems[0]).toContain('ADD COLUMN device_id text, ADD COLUMN metadata jsonb');
    expect(shapeProblems(old, 'sqlite').problems[0]).toContain(
      'ADD COLUMN device_id text, ADD COLUMN metadata text',
    );
  });

  it('reports incompatible PostgreSQL types and extra required columns', () => {
    const odd = full.map((c) =>
      c.name === 'timestamp' ? { ...c, type: 'timestamp with time zone' } : c,
    );
    const { problems } = shapeProblems(
      [...odd, { name: 'site_id', type: 'integer', required: true }],
      'postgresql',
    );
    expect(problems).toEqual([
      'column timestamp is timestamp with time zone, iotsim writes double precision',
      'extra NOT NULL columns without a default: site_id (iotsim does not fill them)',
    ]);
  });
});

describe('COPY text encoding', () => {
  it('escapes backslash, tab, newline and carriage return', () => {
    expect(copyText('a\\b\tc\nd\re')).toBe('a\\\\b\\tc\\nd\\re');
    expect(copyText('plain °C, "quoted"')).toBe('plain °C, "quoted"');
  });

  it('writes one line per record with 12 tab-separated fields', () => {
    const records = makeRecords(120, { seed: 3 });
    const lines = encodeCopyRows(records).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(120);
    for (const line of lines) expect(line.split('\t')).toHaveLength(12);
  });

  it("reads a batch of the engine's frames: the same rows as the records, field by field", () => {
    const frame = makeFrame(20);
    const n = frame.table.length;
    // Starts and ends inside ticks, across two frames.
    const batch = new RecordBatch(
      [
        { frame, start: 3, end: frame.size },
        { frame: makeFrame(2), start: 0, end: n + 1 },
      ],
      frame.size - 3 + n + 1,
    );
    // Each record's row, escaped field by field (what the sink wrote before it read frames).
    const row = (r: SensorRecord): string =>
      [
        copyText(r.sensor_name),
        copyText(r.industry),
        copyText(r.device_id),
        r.value,
        copyText(r.unit),
        copyText(r.sensor_type),
        r.timestamp,
        r.min_value,
        r.max_value,
        r.nominal_value,
        r.fault_active ? 't' : 'f',
        copyText(metadataJson(r.metadata)),
      ].join('\t') + '\n';
    const expected = batch.records.map(row).join('');
    expect(batch.records.some((r) => r.fault_active)).toBe(true);
    expect(expected).toContain('tab\\tname "q"\t');
    const encoder = new CopyRowEncoder();
    expect(encoder.encode(batch)).toBe(expected);
    expect(encoder.encode(batch)).toBe(expected); // again, from its per-channel cache
    expect(encodeCopyRows(batch.records)).toBe(expected);
  });

  it('encodes metadata JSON with its backslashes escaped, and booleans as t/f', () => {
    const r = new SensorRecord('s\t1', 'ind', 'dev', 1.5, 'u', 'temperature', 1.25, 0, 2, 1, true, {
      note: 'a "b" \\ c\nd',
    });
    const [line] = encodeCopyRows([r]).split('\n');
    const fields = line!.split('\t');
    expect(fields[0]).toBe('s\\t1');
    expect(fields[10]).toBe('t');
    expect(fields[11]).toBe(copyText(JSON.stringify({ note: 'a "b" \\ c\nd' })));
    expect(fields[11]).toContain('\\\\"b\\\\"');
  });
});

describe('postgres.js pin', () => {
  // copyIn listens on postgres.js's query internals (porsager/postgres#1173): an exact version,
  // and the installed one is that version.
  it('is an exact version, and the installed postgres.js is that version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const pin = pkg.dependencies['postgres']!;
    expect(pin).toMatch(/^\d+\.\d+\.\d+$/);
    const installed = JSON.parse(
      readFileSync(new URL('../node_modules/postgres/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(installed.version).toBe(pin);
  });
});
