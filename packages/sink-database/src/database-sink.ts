import {
  parseSinkOptions,
  Redactor,
  Sink,
  type SinkCapabilities,
  type WriteRequest,
} from '@iotsim/core';
import {
  DatabaseOptionsSchema,
  type DatabaseSinkOptions,
  type ResolvedDatabaseOptions,
} from './options.js';
import type { DatabaseWriter } from './internal/writer.js';

/**
 * Writes sensor records to a PostgreSQL or SQLite table, one transaction per batch. The table
 * (the record's columns, `metadata` as jsonb / JSON text, an index on `timestamp`) is created on
 * connect if it does not exist; an existing table must have those columns. PostgreSQL batches go
 * through `COPY … FROM STDIN` (postgres.js), SQLite batches through a prepared multi-row insert
 * (better-sqlite3).
 *
 * One batch at a time, in order (the default capabilities).
 *
 * @example
 * const sink = new DatabaseSink({
 *   connectionString: 'postgresql://iotsim:secret@db.example.com:5432/iotsim',
 *   table: 'sensor_data',
 * });
 * sim.addSink(sink, { batchSize: 5000 });
 */
export class DatabaseSink extends Sink {
  static override readonly type = 'database';

  /** SQLite takes one writer per file: with worker threads one instance runs on the sink thread. */
  override get capabilities(): SinkCapabilities {
    return { ...super.capabilities, singleton: this.options.target.dialect === 'sqlite' };
  }
  /** Validated options: the parsed connection target and table name. */
  static override readonly schema = DatabaseOptionsSchema;
  readonly options: ResolvedDatabaseOptions;
  /** The dialect's writer while connected. */
  protected writer: DatabaseWriter | undefined;
  /** This sink's secrets (and core's patterns) out of every message it makes. */
  private readonly redactor = new Redactor();

  constructor(options: DatabaseSinkOptions = {}) {
    super();
    this.options = parseSinkOptions(DatabaseOptionsSchema, options);
    for (const secret of this.options.secrets) this.registerSecret(secret);
    this.redactor.add(...this.secrets);
  }

  async connect(): Promise<void> {
    const { target, table } = this.options;
    const context = { logger: this.logger, redact: (text: string) => this.redactor.redact(text) };
    let writer: DatabaseWriter;
    if (target.dialect === 'postgresql') {
      const { PostgresWriter } = await import('./internal/postgres-writer.js');
      writer = new PostgresWriter(target, table, context);
    } else {
      const { SqliteWriter } = await import('./internal/sqlite-writer.js');
      writer = new SqliteWriter(target, table, context);
    }
    await writer.connect();
    this.writer = writer;
  }

  async write(request: WriteRequest): Promise<void> {
    if (!this.writer) throw this.notConnected();
    await this.writer.write(request.batch);
  }

  override async close(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    await writer?.close();
  }

  override describe(): string {
    const { target, table } = this.options;
    const name = table.schema ? `${table.schema}.${table.name}` : table.name;
    const where =
      target.dialect === 'postgresql'
        ? `postgresql ${target.user}@${target.host}:${target.port}/${target.database}`
        : `sqlite ${target.path}`;
    return `database (${where}, table ${name})`;
  }
}
