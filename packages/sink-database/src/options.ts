import { field, opt, readString, redact, v, type InputOf, type OutputOf } from '@iotsim/core';

/** The original's default connection string. */
export const DEFAULT_CONNECTION_STRING = 'sqlite+aiosqlite:///sensor_data.db';
/** The original's default table. */
export const DEFAULT_TABLE = 'sensor_data';

/** Where a PostgreSQL sink connects. */
export interface PostgresTarget {
  readonly dialect: 'postgresql';
  /** The URL handed to postgres.js: the input with any `+driver` suffix removed. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `host:port` for messages; several comma-separated for a multi-host URL. */
  readonly address: string;
  readonly database: string;
  readonly user: string;
  /** The password from the URL, if any (registered as a secret of the sink). */
  readonly password: string | undefined;
}

/** Where a SQLite sink writes. */
export interface SqliteTarget {
  readonly dialect: 'sqlite';
  /** File path as given (relative paths resolve against the working directory), or `:memory:`. */
  readonly path: string;
}

/** A parsed connection string. */
export type DatabaseTarget = PostgresTarget | SqliteTarget;

/** A validated table name, split into its optional schema and its name. */
export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
}

/** The connection string forms DatabaseSink understands, for error messages. */
export const ACCEPTED_FORMS =
  'postgresql://user:password@host:5432/database (also postgres://, postgresql+asyncpg://, postgresql+psycopg://), ' +
  'sqlite:///relative/path.db, sqlite:////absolute/path.db (also sqlite+aiosqlite:///...), sqlite::memory:';

const POSTGRES_SCHEME = /^(postgres|postgresql)(\+[a-z0-9_]+)?:\/\//i;
const SQLITE_URL = /^sqlite(\+[a-z0-9_]+)?:\/\/(\/(.*))?$/i;
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/** PostgreSQL truncates identifiers to 63 bytes; SQLite has no limit, but we keep one rule. */
export const MAX_IDENTIFIER_LENGTH = 63;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a connection string into a target. Accepts the original's SQLAlchemy URLs unchanged
 * (`postgresql+asyncpg://…`, `sqlite+aiosqlite:///rel.db`, `sqlite+aiosqlite:////abs.db`) and plain
 * `postgres://`, `postgresql://`, `sqlite:///path`, `sqlite::memory:`. Returns a problem message
 * (never containing the password) when the string is not one of these.
 */
export function parseConnectionString(input: string): DatabaseTarget | { problem: string } {
  const text = input.trim();
  if (text === '') return { problem: `is empty; use one of: ${ACCEPTED_FORMS}` };
  if (/^sqlite(\+[a-z0-9_]+)?::memory:$/i.test(text))
    return { dialect: 'sqlite', path: ':memory:' };
  const sqlite = SQLITE_URL.exec(text);
  if (sqlite) {
    const rest = sqlite[3] ?? '';
    if (rest.includes('?')) {
      return {
        problem: `query parameters are not supported in SQLite URLs, got ${JSON.stringify(text)}; use sqlite:///path.db`,
      };
    }
    // SQLAlchemy: `sqlite://` and `sqlite:///:memory:` are in-memory databases.
    if (rest === '' || rest === ':memory:') return { dialect: 'sqlite', path: ':memory:' };
    return { dialect: 'sqlite', path: decodeURIComponent(rest) };
  }
  const pg = POSTGRES_SCHEME.exec(text);
  if (pg) {
    const url = `${pg[1]!.toLowerCase()}://${text.slice(pg[0].length)}`;
    // postgres.js takes several hosts (`h1:5432,h2:5433`); URL parsing takes the first.
    const authority = text.slice(pg[0].length).split(/[/?#]/)[0]!;
    const hosts = authority.slice(authority.lastIndexOf('@') + 1);
    let parsed: URL;
    try {
      parsed = new URL(hosts.includes(',') ? url.replace(hosts, hosts.split(',')[0]!) : url);
    } catch {
      return {
        problem: `is not a valid URL: ${JSON.stringify(redact(text))}; use ${ACCEPTED_FORMS}`,
      };
    }
    const password = parsed.password ? safeDecode(parsed.password) : undefined;
    const user = safeDecode(parsed.username) || process.env.PGUSER || 'postgres';
    const host = parsed.hostname || process.env.PGHOST || 'localhost';
    const port = parsed.port ? Number(parsed.port) : Number(process.env.PGPORT ?? 5432);
    return {
      dialect: 'postgresql',
      url,
      host,
      port,
      address: hosts.includes(',') ? hosts : `${host}:${port}`,
      database: safeDecode(parsed.pathname.replace(/^\//, '')) || process.env.PGDATABASE || user,
      user,
      password,
    };
  }
  const scheme = SCHEME.exec(text)?.[1];
  return {
    problem: `${scheme ? `unsupported scheme '${scheme}'` : 'is not a database URL'}; use one of: ${ACCEPTED_FORMS}`,
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Validates a table name: a plain identifier (letters, digits, underscores, not starting with a
 * digit, at most 63 characters), or `schema.table` when `allowSchema` (PostgreSQL). Returns a
 * problem message otherwise. Names are always quoted in SQL; this rule keeps them portable.
 */
export function parseTableName(
  input: string,
  allowSchema: boolean,
): TableName | { problem: string } {
  const parts = input.split('.');
  const rule = `letters, digits and underscores, not starting with a digit, at most ${MAX_IDENTIFIER_LENGTH} characters`;
  if (parts.length > 2 || (parts.length === 2 && !allowSchema)) {
    return {
      problem: `must be a table name${allowSchema ? ' or schema.table' : ''} (${rule}), got ${JSON.stringify(input)}${parts.length === 2 ? '; SQLite tables take no schema' : ''}`,
    };
  }
  for (const part of parts) {
    if (!IDENTIFIER.test(part) || part.length > MAX_IDENTIFIER_LENGTH) {
      return {
        problem: `must be a table name${allowSchema ? ' or schema.table' : ''} (${rule}), got ${JSON.stringify(input)}`,
      };
    }
  }
  return parts.length === 2
    ? { schema: parts[0], name: parts[1]! }
    : { schema: undefined, name: parts[0]! };
}

const connection = field<string, DatabaseTarget>({ type: 'string' }, (value, problem) => {
  const text = readString(value, problem);
  if (text === undefined) return { dialect: 'sqlite', path: 'sensor_data.db' };
  const parsed = parseConnectionString(text);
  if (!('problem' in parsed)) return parsed;
  problem(parsed.problem);
  return { dialect: 'sqlite', path: 'sensor_data.db' };
});

const tableName = field<string, TableName>({ type: 'string' }, (value, problem) => {
  const text = readString(value, problem);
  if (text === undefined) return { schema: undefined, name: DEFAULT_TABLE };
  const parsed = parseTableName(text, true);
  if (!('problem' in parsed)) return parsed;
  problem(parsed.problem);
  return { schema: undefined, name: DEFAULT_TABLE };
});

/** The schema of DatabaseSink's options. */
export const DatabaseOptionsSchema = opt.resolve(
  opt.object({
    /** Where to write: a PostgreSQL or SQLite URL (SQLAlchemy forms accepted). Default `sqlite+aiosqlite:///sensor_data.db`. */
    connectionString: v.nullish(connection, DEFAULT_CONNECTION_STRING),
    /** Table to write to; created on connect if missing. PostgreSQL also takes `schema.table`. Default `sensor_data`. */
    table: v.nullish(tableName, DEFAULT_TABLE),
  }),
  ({ connectionString: target, table }) => ({
    target,
    table,
    /** The credentials among the options (the PostgreSQL password), for the sink to register as secrets. */
    secrets: (target.dialect === 'postgresql' && target.password
      ? [target.password]
      : []) as readonly string[],
  }),
  ({ connectionString: target, table }, problem) => {
    const t = table as TableName | null | undefined;
    if ((target as DatabaseTarget | null)?.dialect === 'sqlite' && t?.schema !== undefined) {
      const bad = parseTableName(`${t.schema}.${t.name}`, false);
      if ('problem' in bad) problem(bad.problem, ['table']);
    }
  },
);

/** Options of DatabaseSink. Throughput (`batchSize`, `rateHz` …) is given beside the sink, not here. */
export type DatabaseSinkOptions = InputOf<typeof DatabaseOptionsSchema>;

/** Own options of DatabaseSink with defaults filled in. */
export type ResolvedDatabaseOptions = OutputOf<typeof DatabaseOptionsSchema>;
