import { connect as netConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type postgresJs from 'postgres';
import type { Sql } from 'postgres';
import {
  importSdk,
  RecordBatch,
  SinkConnectError,
  SinkWriteError,
  type RecordChannel,
  type SensorRecord,
} from '@iotsim/core';
import type { PostgresTarget, TableName } from '../options.js';
import {
  createStatements,
  pgCopyStatement,
  qualifiedName,
  shapeProblems,
  type ExistingColumn,
} from './table.js';
import { messageOf, metadataJson, type DatabaseWriter, type WriterContext } from './writer.js';

interface AttributeRow {
  name: string;
  type: string;
  required: boolean;
  relkind: string;
}

/**
 * Writes batches to PostgreSQL through postgres.js: one `COPY … FROM STDIN` (text format) per
 * batch, which is one implicit transaction. One connection; postgres.js reconnects on the next
 * query after the server went away.
 */
export class PostgresWriter implements DatabaseWriter {
  private client: Sql | undefined;
  private readonly copyStatement: string;
  private readonly rows = new CopyRowEncoder();

  constructor(
    private readonly target: PostgresTarget,
    private readonly table: TableName,
    private readonly context: WriterContext,
  ) {
    this.copyStatement = pgCopyStatement(table);
  }

  /** host:port/database, for messages (never the password). */
  private get where(): string {
    return `${this.target.address}/${this.target.database}`;
  }

  private get tableLabel(): string {
    return this.table.schema ? `${this.table.schema}.${this.table.name}` : this.table.name;
  }

  async connect(): Promise<void> {
    const postgres: typeof postgresJs = (
      await importSdk('postgres', () => import('postgres'), 'database sink', {
        hint: 'PostgreSQL needs postgres.js, the version this sink pins: npm install postgres@3.4.9',
      })
    ).default;
    const logger = this.context.logger;
    const client = postgres(this.target.url, {
      max: 1,
      connect_timeout: 10,
      fetch_types: false,
      onnotice: (notice: { message?: string }) =>
        logger.debug(`database: PostgreSQL notice: ${notice.message}`),
      connection: { application_name: 'iotsim' },
      // Multi-host URLs keep postgres.js's own sockets (it picks the host).
      ...(this.target.address.includes(',') ? {} : { socket: noDelaySocket }),
    });
    try {
      await client`select 1`;
    } catch (err) {
      await client.end({ timeout: 0 }).catch(() => {});
      throw this.connectError(err);
    }
    try {
      await this.prepareTable(client);
    } catch (err) {
      await client.end({ timeout: 0 }).catch(() => {});
      throw err;
    }
    this.client = client;
    logger.debug(`database: writing to PostgreSQL ${this.where}, table "${this.tableLabel}"`);
  }

  private async prepareTable(client: Sql): Promise<void> {
    const ddl = createStatements(this.table, 'postgresql');
    const step = async (
      what: string,
      run: () => Promise<unknown>,
      statement: string,
    ): Promise<void> => {
      try {
        await run();
      } catch (err) {
        const hint =
          sqlState(err) === '42501'
            ? `; grant the user CREATE on the schema, or create the table beforehand: ${statement}`
            : '';
        throw new SinkConnectError(
          'database',
          `cannot ${what} "${this.tableLabel}" in ${this.where}: ${this.context.redact(messageOf(err))}${hint}`,
          { cause: err },
        );
      }
    };
    if (this.table.schema) {
      const schema = this.table.schema;
      const found = await client`select 1 from pg_namespace where nspname = ${schema}`;
      if (found.length === 0) {
        throw new SinkConnectError(
          'database',
          `schema "${schema}" does not exist in ${this.where}: create it (CREATE SCHEMA ${schema}) or drop the schema from table`,
        );
      }
    }
    await step('create table', () => client.unsafe(ddl.table), ddl.table);
    const rows = await client<AttributeRow[]>`
      select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
             (a.attnotnull and not a.atthasdef and a.attidentity = '' and a.attgenerated = '') as required,
             c.relkind::text as relkind
      from pg_class c join pg_attribute a on a.attrelid = c.oid
      where c.oid = to_regclass(${qualifiedName(this.table)}) and a.attnum > 0 and not a.attisdropped`;
    const relkind = rows[0]?.relkind;
    if (relkind !== undefined && relkind !== 'r' && relkind !== 'p') {
      throw new SinkConnectError(
        'database',
        `"${this.tableLabel}" in ${this.where} is not a table (relkind ${relkind}); set table to another name`,
      );
    }
    const existing: ExistingColumn[] = rows.map((r) => ({
      name: r.name,
      type: r.type,
      required: r.required,
    }));
    const { problems } = shapeProblems(existing, 'postgresql');
    if (problems.length) {
      throw new SinkConnectError(
        'database',
        `table "${this.tableLabel}" in ${this.where} exists with a different shape: ${problems.join('; ')}. Fix the table, or set table to a new name and iotsim creates it`,
      );
    }
    for (const index of ddl.indexes) {
      await step('create the timestamp index of', () => client.unsafe(index), index);
    }
  }

  async write(batch: RecordBatch): Promise<void> {
    const client = this.client;
    if (!client) throw new SinkWriteError('database sink is not connected', { retryable: false });
    try {
      await copyIn(client, this.copyStatement, this.rows.encode(batch));
    } catch (err) {
      throw new SinkWriteError(
        `PostgreSQL COPY into "${this.tableLabel}" at ${this.where} failed, batch rolled back: ${describePgError(err, this.context.redact)}`,
        { retryable: retryablePg(err), cause: err },
      );
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.end({ timeout: 5 });
  }

  private connectError(err: unknown): SinkConnectError {
    const { address, host, database, user } = this.target;
    const code = (err as { code?: unknown }).code;
    const where = this.where;
    let message: string;
    switch (code) {
      case 'ECONNREFUSED':
        message = `cannot connect to PostgreSQL at ${where}: connection refused; is the server running and listening on ${address}? Check host and port in connection_string`;
        break;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        message = `cannot connect to PostgreSQL at ${where}: host ${host} not found; check the host in connection_string`;
        break;
      case 'CONNECT_TIMEOUT':
      case 'ETIMEDOUT':
        message = `cannot connect to PostgreSQL at ${where}: timed out; check host, port and firewall`;
        break;
      case 'EACCES':
      case 'ENOENT':
        message = `cannot connect to PostgreSQL at ${where}: ${describePgError(err, this.context.redact)}; check the host in connection_string`;
        break;
      case '28P01':
        message = `password authentication failed for user "${user}" at ${where}; check the user and password in connection_string`;
        break;
      case '28000':
        message = `PostgreSQL at ${where} rejected user "${user}": ${this.context.redact(messageOf(err))}; check the user name and pg_hba.conf`;
        break;
      case '3D000':
        message = `database "${database}" does not exist on ${address}; create it (createdb ${database}) or fix the database in connection_string`;
        break;
      default:
        message = `cannot connect to PostgreSQL at ${where}: ${describePgError(err, this.context.redact)}`;
    }
    return new SinkConnectError('database', message, { cause: err });
  }
}

/**
 * Opens the connection with TCP_NODELAY. postgres.js leaves Nagle's algorithm on, so the small
 * CopyDone message after a batch waits for the server's delayed ACK: ~85 ms per COPY whatever its
 * size (measured here: 500-row batches at 5,600 rows/s). postgres.js takes the socket from
 * `options.socket` and does the startup, TLS, timeouts and error handling itself. The socket is
 * returned while still connecting (writes queue until it connects) so that a refused connection
 * reaches postgres.js as the socket's `error` and `close` events, exactly as on its own sockets;
 * a rejected promise here would leave its single pool connection stuck in "connecting".
 */
function noDelaySocket(options: { host: string[]; port: number[]; path?: string | false }): Socket {
  const socket = options.path
    ? netConnect({ path: options.path })
    : netConnect({ host: options.host[0] ?? 'localhost', port: options.port[0] ?? 5432 });
  socket.setNoDelay(true);
  return socket;
}

/** A postgres.js query: a promise whose settle functions postgres.js calls (see copyIn). */
interface SettlingQuery {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  writable(): Promise<Writable>;
}

/**
 * Runs `COPY … FROM STDIN` with `payload` and resolves when the server committed it.
 *
 * postgres.js 3.4 resolves the query's promise with the stream, and when the server rejects the
 * COPY (or the connection drops) after the stream ended, the stream never finishes and the error
 * surfaces nowhere (porsager/postgres#1173). postgres.js does report the outcome to the query's
 * own `resolve`/`reject` (the result at ReadyForQuery, the error on failure): we listen there.
 * Those are internals, so package.json pins postgres exactly (3.4.9); before raising the pin, run
 * the services test "a rejected row rolls back its batch", which fails if this stops working.
 */
export async function copyIn(client: Sql, statement: string, payload: string): Promise<void> {
  const query = client.unsafe(statement) as unknown as SettlingQuery;
  if (typeof query.resolve !== 'function' || typeof query.reject !== 'function') {
    throw new Error(
      'postgres.js internals changed (a query has no own resolve/reject): the database sink needs postgres 3.4.9, the version it pins',
    );
  }
  const done = new Promise<void>((resolve, reject) => {
    const settle = query.resolve;
    const fail = query.reject;
    query.resolve = (value) => {
      settle(value);
      if (!(value instanceof Writable)) resolve();
    };
    query.reject = (error) => {
      fail(error);
      reject(error);
    };
  });
  done.catch(() => {});
  const stream = await query.writable();
  // Errors reach us through `done`; without a listener a destroyed stream would throw globally.
  stream.on('error', () => {});
  stream.end(payload);
  await done;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/** A text value in COPY text format: backslash, tab, newline and carriage return escaped. */
export function copyText(s: string): string {
  return COPY_SPECIAL.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : s;
}

/** The constant text of one channel's COPY rows, around its value and timestamp. */
interface ChannelRow {
  /** `sensor_name⇥industry⇥device_id⇥` */
  readonly head: string;
  /** `⇥unit⇥sensor_type⇥` */
  readonly middle: string;
  /** `⇥min⇥max⇥nominal⇥t⇥metadata\n`, and the same with `f`. */
  readonly endTrue: string;
  readonly endFalse: string;
}

function channelRow(c: RecordChannel): ChannelRow {
  const tail = `\t${c.minValue}\t${c.maxValue}\t${c.nominalValue}\t`;
  const metadata = `\t${copyText(metadataJson(c.metadata))}\n`;
  return {
    head: `${copyText(c.sensorName)}\t${copyText(c.industry)}\t${copyText(c.deviceId)}\t`,
    middle: `\t${copyText(c.unit)}\t${copyText(c.sensorType)}\t`,
    endTrue: `${tail}t${metadata}`,
    endFalse: `${tail}f${metadata}`,
  };
}

/**
 * Builds COPY text-format rows from a batch's frames (`batch.forEach`): each channel's constant
 * text is escaped once (per channel of the run's table) and reused for every reading of it.
 */
export class CopyRowEncoder {
  private readonly byTable = new WeakMap<object, (ChannelRow | undefined)[]>();
  private readonly standalone = new WeakMap<RecordChannel, ChannelRow>();

  /** The rows of `batch`, columns in SENSOR_COLUMNS order. */
  encode(batch: RecordBatch): string {
    let out = '';
    batch.forEach((c, value, timestamp, fault) => {
      const row = this.rowOf(c);
      out += `${row.head}${value}${row.middle}${timestamp}${fault ? row.endTrue : row.endFalse}`;
    });
    return out;
  }

  private rowOf(c: RecordChannel): ChannelRow {
    if (c.table !== undefined) {
      let list = this.byTable.get(c.table);
      if (!list) this.byTable.set(c.table, (list = []));
      return (list[c.index] ??= channelRow(c));
    }
    let row = this.standalone.get(c);
    if (!row) this.standalone.set(c, (row = channelRow(c)));
    return row;
  }
}

/** Records (or a batch) as COPY text-format rows, columns in SENSOR_COLUMNS order. */
export function encodeCopyRows(records: RecordBatch | readonly SensorRecord[]): string {
  const batch = Array.isArray(records)
    ? RecordBatch.of(records as readonly SensorRecord[])
    : (records as RecordBatch);
  return new CopyRowEncoder().encode(batch);
}

/** SQLSTATE classes where retrying the same batch cannot help. */
const PERMANENT_CLASSES = new Set(['0A', '22', '23', '2B', '42', '44', 'P0']);

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown; name?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Data, constraint, schema and privilege errors are permanent; connection losses are not. */
function retryablePg(err: unknown): boolean {
  const state = sqlState(err);
  return state === undefined || !PERMANENT_CLASSES.has(state.slice(0, 2));
}

function describePgError(err: unknown, redact: (text: string) => string): string {
  const state = sqlState(err);
  const code = (err as { code?: unknown }).code;
  const detail = state ? ` (SQLSTATE ${state})` : typeof code === 'string' ? ` (${code})` : '';
  return `${redact(messageOf(err))}${detail}`;
}
