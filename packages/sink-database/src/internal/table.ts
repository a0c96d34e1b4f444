import { RECORD_FIELDS } from '@iotsim/core';
import type { TableName } from '../options.js';

// The sensor table is declared once, in SENSOR_COLUMNS: every statement the sink runs (CREATE
// TABLE, CREATE INDEX, COPY, INSERT, the ALTER TABLE hint) and the shape check of an existing table
// are derived from it here. Identifiers are always quoted.

/** The two dialects the sink writes. */
export type Dialect = 'postgresql' | 'sqlite';

/** How a record field is stored: each kind has one column type per dialect (COLUMN_TYPES). */
export type ColumnKind = 'text' | 'float' | 'boolean' | 'json';

/**
 * The column type iotsim creates for each kind: text → `text`; float → `double precision` /
 * `real` (8-byte in both); boolean → `boolean` / `integer` 0/1; json → `jsonb` / JSON text.
 */
export const COLUMN_TYPES: Readonly<Record<ColumnKind, Readonly<Record<Dialect, string>>>> = {
  text: { postgresql: 'text', sqlite: 'text' },
  float: { postgresql: 'double precision', sqlite: 'real' },
  boolean: { postgresql: 'boolean', sqlite: 'integer' },
  json: { postgresql: 'jsonb', sqlite: 'text' },
};

/** PostgreSQL types an existing table may have for a kind (iotsim's value converts to them). */
const PG_COMPATIBLE: Readonly<Record<ColumnKind, RegExp>> = {
  text: /^(text|character varying|character|citext)\b/,
  float: /^(double precision|real|numeric)\b/,
  boolean: /^boolean$/,
  json: /^(jsonb|json|text|character varying)\b/,
};

/** One column of the sensor table. */
export interface ColumnSpec {
  /** Column name: the record field name. */
  readonly name: (typeof RECORD_FIELDS)[number];
  readonly kind: ColumnKind;
  /** False only for `value`: SQLite stores NaN as NULL. */
  readonly notNull: boolean;
}

const KINDS: Readonly<Record<(typeof RECORD_FIELDS)[number], ColumnKind>> = {
  sensor_name: 'text',
  industry: 'text',
  device_id: 'text',
  value: 'float',
  unit: 'text',
  sensor_type: 'text',
  timestamp: 'float',
  min_value: 'float',
  max_value: 'float',
  nominal_value: 'float',
  fault_active: 'boolean',
  metadata: 'json',
};

/**
 * The sensor table's columns, in record field order (the order of COPY fields and INSERT
 * parameters). `timestamp` is epoch seconds, as in the original. The table has one index, on
 * `timestamp`.
 */
export const SENSOR_COLUMNS: readonly ColumnSpec[] = RECORD_FIELDS.map((name) => ({
  name,
  kind: KINDS[name],
  notNull: name !== 'value',
}));

/** The column the table's one index is on. */
const INDEXED_COLUMN = 'timestamp';

/** A quoted SQL identifier (both dialects): `"name"`, inner quotes doubled. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The quoted, optionally schema-qualified table name. */
export function qualifiedName(table: TableName): string {
  return table.schema
    ? `${quoteIdentifier(table.schema)}.${quoteIdentifier(table.name)}`
    : quoteIdentifier(table.name);
}

/** Name of the index on `timestamp` for a table (kept within PostgreSQL's 63-byte limit). */
export function timestampIndexName(table: string): string {
  return `${table.slice(0, 63 - '_timestamp_idx'.length)}_timestamp_idx`;
}

const COLUMN_LIST = SENSOR_COLUMNS.map((c) => quoteIdentifier(c.name)).join(', ');

/** DDL of the sensor table: the table first, then (after the shape check) its index. */
export interface CreateStatements {
  readonly table: string;
  readonly indexes: readonly string[];
}

/** `CREATE TABLE IF NOT EXISTS` and `CREATE INDEX IF NOT EXISTS` for a dialect. */
export function createStatements(table: TableName, dialect: Dialect): CreateStatements {
  const q = qualifiedName(table);
  const columns = SENSOR_COLUMNS.map(
    (c) =>
      `${quoteIdentifier(c.name)} ${COLUMN_TYPES[c.kind][dialect]}${c.notNull ? ' NOT NULL' : ''}`,
  ).join(', ');
  const index = quoteIdentifier(timestampIndexName(table.name));
  return {
    table: `CREATE TABLE IF NOT EXISTS ${q} (${columns})`,
    indexes: [`CREATE INDEX IF NOT EXISTS ${index} ON ${q} (${quoteIdentifier(INDEXED_COLUMN)})`],
  };
}

/** `COPY <table> (<columns>) FROM STDIN` (text format), for postgres.js. */
export function pgCopyStatement(table: TableName): string {
  return `COPY ${qualifiedName(table)} (${COLUMN_LIST}) FROM STDIN`;
}

/** `INSERT INTO <table> (<columns>) VALUES (?, …), …` for `rows` rows, prepared once by better-sqlite3. */
export function sqliteInsertStatement(table: TableName, rows = 1): string {
  const marks = `(${SENSOR_COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO ${qualifiedName(table)} (${COLUMN_LIST}) VALUES ${Array<string>(rows).fill(marks).join(', ')}`;
}

/** A column of an existing table, as the database reports it. */
export interface ExistingColumn {
  readonly name: string;
  /** Declared type, lower case (`double precision`, `jsonb`, `text`, `REAL` in SQLite). */
  readonly type: string;
  /** NOT NULL without a default, identity or generated value: an insert that omits it fails. */
  readonly required: boolean;
}

/**
 * Compares an existing table with the columns iotsim writes. Returns what is wrong (missing
 * columns; in PostgreSQL, columns of an incompatible type; extra columns an insert cannot omit),
 * or an empty list when the table can be used.
 */
export function shapeProblems(
  existing: readonly ExistingColumn[],
  dialect: Dialect,
): { missing: string[]; problems: string[] } {
  const byName = new Map(existing.map((c) => [c.name, c]));
  const absent = SENSOR_COLUMNS.filter((c) => !byName.has(c.name));
  const missing = absent.map((c) => c.name);
  const problems: string[] = [];
  if (absent.length) {
    const add = absent.map((c) => `ADD COLUMN ${c.name} ${COLUMN_TYPES[c.kind][dialect]}`);
    problems.push(`missing columns ${missing.join(', ')} (ALTER TABLE … ${add.join(', ')})`);
  }
  if (dialect === 'postgresql') {
    for (const c of SENSOR_COLUMNS) {
      const found = byName.get(c.name);
      if (found && !PG_COMPATIBLE[c.kind].test(found.type.toLowerCase())) {
        problems.push(
          `column ${c.name} is ${found.type}, iotsim writes ${COLUMN_TYPES[c.kind].postgresql}`,
        );
      }
    }
  }
  const known = new Set<string>(SENSOR_COLUMNS.map((c) => c.name));
  const required = existing.filter((c) => c.required && !known.has(c.name)).map((c) => c.name);
  if (required.length) {
    problems.push(
      `extra NOT NULL columns without a default: ${required.join(', ')} (iotsim does not fill them)`,
    );
  }
  return { missing, problems };
}
