import { sql, type SQL } from 'drizzle-orm';
import {
  boolean,
  doublePrecision,
  getTableConfig as getPgTableConfig,
  index as pgIndex,
  jsonb,
  PgDialect,
  pgSchema,
  pgTable,
  text as pgText,
  type PgColumnBuilderBase,
} from 'drizzle-orm/pg-core';
import {
  getTableConfig as getSqliteTableConfig,
  index as sqliteIndex,
  integer,
  real,
  SQLiteSyncDialect,
  sqliteTable,
  text as sqliteText,
  type SQLiteColumnBuilderBase,
} from 'drizzle-orm/sqlite-core';
import { SENSOR_COLUMNS, timestampIndexName, type ColumnKind, type ColumnSpec } from './columns.js';
import type { TableName } from './options.js';

// The sensor table is defined once per dialect from SENSOR_COLUMNS with drizzle-orm; the DDL is
// built from drizzle's table config with its sql builder, identifiers always quoted by drizzle.

function pgColumn(c: ColumnSpec): PgColumnBuilderBase {
  const b =
    c.kind === 'text'
      ? pgText(c.name)
      : c.kind === 'float'
        ? doublePrecision(c.name)
        : c.kind === 'boolean'
          ? boolean(c.name)
          : jsonb(c.name);
  return c.notNull ? b.notNull() : b;
}

function sqliteColumn(c: ColumnSpec): SQLiteColumnBuilderBase {
  const b =
    c.kind === 'text'
      ? sqliteText(c.name)
      : c.kind === 'float'
        ? real(c.name)
        : c.kind === 'boolean'
          ? integer(c.name, { mode: 'boolean' })
          : sqliteText(c.name, { mode: 'json' });
  return c.notNull ? b.notNull() : b;
}

/** A table's columns and index as drizzle describes them, reduced to what the DDL needs. */
interface TableShape {
  readonly columns: readonly { name: string; type: string; notNull: boolean }[];
  readonly indexes: readonly { name: string; columns: readonly string[] }[];
}

/** The drizzle definition of the sensor table in PostgreSQL. */
export function pgSensorTable(table: TableName) {
  const columns = Object.fromEntries(SENSOR_COLUMNS.map((c) => [c.name, pgColumn(c)]));
  const indexName = timestampIndexName(table.name);
  return table.schema && table.schema !== 'public'
    ? pgSchema(table.schema).table(table.name, columns, (t) => [
        pgIndex(indexName).on(t['timestamp']!),
      ])
    : pgTable(table.name, columns, (t) => [pgIndex(indexName).on(t['timestamp']!)]);
}

/** The drizzle definition of the sensor table in SQLite. */
export function sqliteSensorTable(table: TableName) {
  const columns = Object.fromEntries(SENSOR_COLUMNS.map((c) => [c.name, sqliteColumn(c)]));
  return sqliteTable(table.name, columns, (t) => [
    sqliteIndex(timestampIndexName(table.name)).on(t['timestamp']!),
  ]);
}

function pgShape(table: TableName): TableShape {
  const config = getPgTableConfig(pgSensorTable(table));
  return {
    columns: config.columns.map((c) => ({
      name: c.name,
      type: c.getSQLType(),
      notNull: c.notNull,
    })),
    indexes: config.indexes.map((i) => ({
      name: i.config.name!,
      columns: i.config.columns.map((c) => ('name' in c ? String(c.name) : '')),
    })),
  };
}

function sqliteShape(table: TableName): TableShape {
  const config = getSqliteTableConfig(sqliteSensorTable(table));
  return {
    columns: config.columns.map((c) => ({
      name: c.name,
      type: c.getSQLType(),
      notNull: c.notNull,
    })),
    indexes: config.indexes.map((i) => ({
      name: i.config.name,
      columns: i.config.columns.map((c) => ('name' in c ? String(c.name) : '')),
    })),
  };
}

/** The quoted, optionally schema-qualified table name. */
export function qualifiedName(table: TableName): SQL {
  return table.schema
    ? sql`${sql.identifier(table.schema)}.${sql.identifier(table.name)}`
    : sql`${sql.identifier(table.name)}`;
}

const columnList = (): SQL =>
  sql.join(
    SENSOR_COLUMNS.map((c) => sql.identifier(c.name)),
    sql`, `,
  );

/** DDL of the sensor table: the table first, then (after the shape check) its indexes. */
export interface CreateStatements<T> {
  readonly table: T;
  readonly indexes: readonly T[];
}

function ddl(table: TableName, shape: TableShape): CreateStatements<SQL> {
  const q = qualifiedName(table);
  const columns = sql.join(
    shape.columns.map(
      (c) => sql`${sql.identifier(c.name)} ${sql.raw(c.type)}${c.notNull ? sql` NOT NULL` : sql``}`,
    ),
    sql`, `,
  );
  return {
    table: sql`CREATE TABLE IF NOT EXISTS ${q} (${columns})`,
    indexes: shape.indexes.map(
      (i) =>
        sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(i.name)} ON ${q} (${sql.join(
          i.columns.map((c) => sql.identifier(c)),
          sql`, `,
        )})`,
    ),
  };
}

const pgDialect = new PgDialect();
const sqliteDialect = new SQLiteSyncDialect();

/** SQL text (no parameters) of a statement, rendered by drizzle's PostgreSQL dialect. */
export function pgSqlText(statement: SQL): string {
  return pgDialect.sqlToQuery(statement).sql;
}

/** PostgreSQL statements: create the table and its index if they do not exist. */
export function pgCreateStatements(table: TableName): CreateStatements<SQL> {
  return ddl(table, pgShape(table));
}

/** SQLite statements: create the table and its index if they do not exist. */
export function sqliteCreateStatements(table: TableName): CreateStatements<string> {
  const { table: create, indexes } = ddl(table, sqliteShape(table));
  const text = (s: SQL): string => sqliteDialect.sqlToQuery(s).sql;
  return { table: text(create), indexes: indexes.map(text) };
}

/** `COPY <table> (<columns>) FROM STDIN` (text format), for postgres.js. */
export function pgCopyStatement(table: TableName): string {
  return pgSqlText(sql`COPY ${qualifiedName(table)} (${columnList()}) FROM STDIN`);
}

/** The quoted qualified name as text, to pass as a parameter to `to_regclass`. */
export function pgQualifiedText(table: TableName): string {
  return pgSqlText(qualifiedName(table));
}

/** `INSERT INTO <table> (<columns>) VALUES (?, …)`, prepared once by better-sqlite3. */
export function sqliteInsertStatement(table: TableName): string {
  const marks = sql.raw(SENSOR_COLUMNS.map(() => '?').join(', '));
  return sqliteDialect.sqlToQuery(
    sql`INSERT INTO ${qualifiedName(table)} (${columnList()}) VALUES (${marks})`,
  ).sql;
}

/** A column of an existing table, as the database reports it. */
export interface ExistingColumn {
  readonly name: string;
  /** Declared type, lower case (`double precision`, `jsonb`, `text`, `REAL` in SQLite). */
  readonly type: string;
  /** NOT NULL without a default, identity or generated value: an insert that omits it fails. */
  readonly required: boolean;
}

const PG_COMPATIBLE: Readonly<Record<ColumnKind, RegExp>> = {
  text: /^(text|character varying|character|citext)\b/,
  float: /^(double precision|real|numeric)\b/,
  boolean: /^boolean$/,
  json: /^(jsonb|json|text|character varying)\b/,
};

const PG_TYPE: Readonly<Record<ColumnKind, string>> = {
  text: 'text',
  float: 'double precision',
  boolean: 'boolean',
  json: 'jsonb',
};

/**
 * Compares an existing table with the columns iotsim writes. Returns what is wrong (missing
 * columns; in PostgreSQL, columns of an incompatible type; extra columns an insert cannot omit),
 * or an empty list when the table can be used.
 */
export function shapeProblems(
  existing: readonly ExistingColumn[],
  dialect: 'postgresql' | 'sqlite',
): { missing: string[]; problems: string[] } {
  const byName = new Map(existing.map((c) => [c.name, c]));
  const missing = SENSOR_COLUMNS.filter((c) => !byName.has(c.name)).map((c) => c.name);
  const problems: string[] = [];
  if (missing.length) {
    const add = SENSOR_COLUMNS.filter((c) => missing.includes(c.name))
      .map(
        (c) =>
          `ADD COLUMN ${c.name} ${dialect === 'postgresql' ? PG_TYPE[c.kind] : c.kind === 'float' ? 'real' : c.kind === 'boolean' ? 'integer' : 'text'}`,
      )
      .join(', ');
    problems.push(`missing columns ${missing.join(', ')} (ALTER TABLE … ${add})`);
  }
  if (dialect === 'postgresql') {
    for (const c of SENSOR_COLUMNS) {
      const found = byName.get(c.name);
      if (found && !PG_COMPATIBLE[c.kind].test(found.type.toLowerCase())) {
        problems.push(`column ${c.name} is ${found.type}, iotsim writes ${PG_TYPE[c.kind]}`);
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
