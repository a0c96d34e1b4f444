import { dirname, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import {
  importSdk,
  SinkConnectError,
  SinkWriteError,
  type ReadingVisitor,
  type RecordBatch,
} from '@iotsim/core';
import type { SqliteTarget, TableName } from '../options.js';
import {
  createStatements,
  SENSOR_COLUMNS,
  shapeProblems,
  sqliteInsertStatement,
  type ExistingColumn,
} from './table.js';
import { messageOf, metadataJson, type DatabaseWriter, type WriterContext } from './writer.js';

/**
 * How long SQLite itself waits for a lock, in ms. better-sqlite3 is synchronous, so this is time
 * the event loop is blocked: kept to a few ms (SQLite's default in better-sqlite3 is 5 s). A lock
 * held longer surfaces as SQLITE_BUSY and is waited out asynchronously (the runner's retry delay
 * for batches, the loop in connect for the table).
 */
export const BUSY_TIMEOUT_MS = 5;
/** Rows per multi-row INSERT (12 parameters each; SQLite allows 32,766 per statement). */
export const INSERT_ROWS = 50;
/** Pause between connect attempts on a locked database. */
const CONNECT_RETRY_MS = 100;

interface TableInfoRow {
  name: string;
  type: string;
  notnull: number;
  dflt_value: unknown;
  pk: number;
}

/**
 * Writes batches to SQLite through better-sqlite3: one prepared INSERT run for every reading inside
 * one transaction per batch, read straight from the batch's frames. Files use WAL mode.
 */
export class SqliteWriter implements DatabaseWriter {
  /** How long connect keeps trying (asynchronously) while another process locks the database. */
  static connectLockWaitMs = 10_000;
  private db: BetterSqlite3.Database | undefined;
  private insertBatch: ((batch: RecordBatch) => void) | undefined;

  constructor(
    private readonly target: SqliteTarget,
    private readonly table: TableName,
    private readonly context: WriterContext,
  ) {}

  /** The open better-sqlite3 connection (for tests of in-memory databases). */
  get database(): BetterSqlite3.Database | undefined {
    return this.db;
  }

  private get where(): string {
    return this.target.path === ':memory:'
      ? 'in-memory SQLite database'
      : `SQLite database ${resolve(this.target.path)}`;
  }

  async connect(): Promise<void> {
    const Database = (
      await importSdk('better-sqlite3', () => import('better-sqlite3'), 'database sink', {
        hint: 'SQLite needs it (version 13, as this sink depends on): npm install better-sqlite3@13',
      })
    ).default;
    const memory = this.target.path === ':memory:';
    const file = memory ? ':memory:' : resolve(this.target.path);
    if (!memory && !existsSync(dirname(file))) {
      throw new SinkConnectError(
        'database',
        `cannot open ${this.where}: directory ${dirname(file)} does not exist; create it or fix the path in connection_string`,
      );
    }
    let db: BetterSqlite3.Database;
    try {
      db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      throw new SinkConnectError('database', `cannot open ${this.where}: ${openHint(err)}`, {
        cause: err,
      });
    }
    try {
      await this.prepareWhenUnlocked(db, memory);
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.context.logger.debug(`database: writing to ${this.where}, table "${this.table.name}"`);
  }

  /**
   * Runs `prepare` (every step is idempotent), waiting out a lock held by another process with
   * async pauses, never blocking the event loop, for at most `connectLockWaitMs`.
   */
  private async prepareWhenUnlocked(db: BetterSqlite3.Database, memory: boolean): Promise<void> {
    const waitMs = SqliteWriter.connectLockWaitMs;
    const deadline = performance.now() + waitMs;
    let warned = false;
    for (;;) {
      try {
        this.prepare(db, memory);
        return;
      } catch (err) {
        const code = lockCode(err);
        if (!code) throw err;
        if (performance.now() >= deadline) {
          throw new SinkConnectError(
            'database',
            `cannot set up table "${this.table.name}": ${this.where} stayed locked by another process (${code}) for ${waitMs / 1000} s; end the other process's transaction (for example an open sqlite3 shell in BEGIN) or point connection_string at another file`,
            { cause: err },
          );
        }
        if (!warned) {
          warned = true;
          this.context.logger.warn(
            `database: ${this.where} is locked by another process (${code}); waiting up to ${waitMs / 1000} s for it to set up table "${this.table.name}"`,
          );
        }
        if (db.inTransaction) db.exec('ROLLBACK');
        await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
      }
    }
  }

  private prepare(db: BetterSqlite3.Database, memory: boolean): void {
    const ddl = createStatements(this.table, 'sqlite');
    try {
      if (!memory) {
        // WAL: readers do not block the writer; NORMAL sync is safe against corruption in WAL
        // mode and each batch stays atomic (a power loss may lose the last committed batches).
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      }
      db.exec(ddl.table);
    } catch (err) {
      throw new SinkConnectError(
        'database',
        `cannot create table "${this.table.name}" in ${this.where}: ${messageOf(err)}`,
        { cause: err },
      );
    }
    const kind = db
      .prepare<[string], { type: string }>('SELECT type FROM sqlite_master WHERE name = ?')
      .get(this.table.name);
    if (kind && kind.type !== 'table') {
      throw new SinkConnectError(
        'database',
        `"${this.table.name}" in ${this.where} is a ${kind.type}, not a table; set table to another name`,
      );
    }
    const existing: ExistingColumn[] = db
      .prepare<[string], TableInfoRow>(
        'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)',
      )
      .all(this.table.name)
      .map((c) => ({
        name: c.name,
        type: c.type,
        required: c.notnull === 1 && c.dflt_value === null && c.pk === 0,
      }));
    const { problems } = shapeProblems(existing, 'sqlite');
    if (problems.length) {
      throw new SinkConnectError(
        'database',
        `table "${this.table.name}" in ${this.where} exists with a different shape: ${problems.join('; ')}. Fix the table, or set table to a new name and iotsim creates it`,
      );
    }
    try {
      for (const statement of ddl.indexes) db.exec(statement);
    } catch (err) {
      throw new SinkConnectError(
        'database',
        `cannot create the timestamp index of "${this.table.name}" in ${this.where}: ${messageOf(err)}`,
        { cause: err },
      );
    }
    // Rows go in INSERT_ROWS at a time (one multi-row INSERT, its parameters in one reused array:
    // ~1.3x the rows/s of one INSERT per row), the rest of a batch one row at a time.
    const many = db.prepare(sqliteInsertStatement(this.table, INSERT_ROWS));
    const one = db.prepare(sqliteInsertStatement(this.table, 1));
    const params: unknown[] = new Array<unknown>(INSERT_ROWS * SENSOR_COLUMNS.length);
    const single: unknown[] = new Array<unknown>(SENSOR_COLUMNS.length);
    let filled = 0;
    // Channel fields from the reading's channel; value, timestamp and fault flag as given, in
    // SENSOR_COLUMNS order.
    const row: ReadingVisitor = (c, value, timestamp, fault) => {
      let j = filled;
      params[j++] = c.sensorName;
      params[j++] = c.industry;
      params[j++] = c.deviceId;
      params[j++] = value;
      params[j++] = c.unit;
      params[j++] = c.sensorType;
      params[j++] = timestamp;
      params[j++] = c.minValue;
      params[j++] = c.maxValue;
      params[j++] = c.nominalValue;
      params[j++] = fault ? 1 : 0;
      params[j++] = metadataJson(c.metadata);
      if (j === params.length) {
        many.run(params);
        j = 0;
      }
      filled = j;
    };
    const insertAll = (batch: RecordBatch): void => {
      filled = 0;
      batch.forEach(row);
      for (let at = 0; at < filled; at += single.length) {
        for (let k = 0; k < single.length; k++) single[k] = params[at + k];
        one.run(single);
      }
      filled = 0;
    };
    // IMMEDIATE: the write lock is taken by BEGIN, so a locked database fails before any insert.
    this.insertBatch = db.transaction(insertAll).immediate;
  }

  async write(batch: RecordBatch): Promise<void> {
    if (!this.insertBatch) {
      throw new SinkWriteError('database sink is not connected', { retryable: false });
    }
    try {
      this.insertBatch(batch);
    } catch (err) {
      // better-sqlite3 rolls back a transaction whose body or COMMIT threw; make sure of it, so a
      // batch is either all in the table or all retried.
      this.rollbackIfOpen();
      const code = lockCode(err);
      if (code) {
        throw new SinkWriteError(
          `${this.where} is locked by another process (${code}): batch of ${batch.size} records rolled back, nothing written; end the other process's transaction (an open sqlite3 shell in BEGIN, another writer), or raise retry_count / retry_delay_s to wait longer`,
          { retryable: true, cause: err },
        );
      }
      throw new SinkWriteError(
        `SQLite insert into "${this.table.name}" failed, batch rolled back: ${messageOf(err)}`,
        { retryable: retryableSqlite(err), cause: err },
      );
    }
  }

  private rollbackIfOpen(): void {
    const db = this.db;
    if (!db?.inTransaction) return;
    try {
      db.exec('ROLLBACK');
    } catch (err) {
      this.context.logger.warn(`database: rollback in ${this.where} failed: ${messageOf(err)}`);
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    this.insertBatch = undefined;
    if (db?.open) db.close();
  }
}

/** Busy, locked, I/O and full-disk errors may pass; constraint, schema and read-only errors will not. */
function retryableSqlite(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return true;
  return !/^SQLITE_(CONSTRAINT|MISMATCH|READONLY|ERROR|AUTH|PERM|NOTADB|CORRUPT|TOOBIG|RANGE)/.test(
    code,
  );
}

/** The SQLite code when `err` (or its cause) says another connection holds a lock. */
function lockCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) return code;
  }
  return undefined;
}

function openHint(err: unknown): string {
  const message = messageOf(err);
  if (/bindings|\.node|NODE_MODULE_VERSION|invalid ELF/i.test(message)) {
    return `better-sqlite3 is installed but its native module does not load (${message}); rebuild it for this Node version: npm_config_nodedir=/usr npm rebuild better-sqlite3`;
  }
  return `${message}; check the path and its permissions in connection_string`;
}
