import { randomUUID } from 'node:crypto';
import { SinkWriteError, silentLogger, type ConfigIssue, type Logger } from '@iotsim/core';
import { DeltaTableMismatchError } from '../errors.js';
import type { DeltaWriteMode } from '../options.js';
import {
  LAST_CHECKPOINT_PATH,
  checkpointActions,
  checkpointPath,
  completeCheckpoints,
  encodeCheckpoint,
  isCheckpointVersion,
  loadCheckpoint,
  parseLastCheckpoint,
  type LastCheckpoint,
} from './checkpoint.js';
import {
  SUPPORTED_WRITER_FEATURES,
  TableState,
  WRITE_PROTOCOL,
  commitPath,
  parseCommit,
  parseCommitFileName,
  parseSchema,
  schemaDifferences,
  serializeCommit,
  type Action,
  type AddAction,
  type DeltaSchema,
  type ProtocolAction,
} from './log.js';
import type { TableStorage } from './storage.js';
import { ENGINE_INFO } from './version.js';

/** Commit attempts per batch before giving up when other writers keep taking the next version. */
export const MAX_COMMIT_ATTEMPTS = 50;

/** What the table must look like for this writer, and how it commits. */
export interface DeltaLogSettings {
  /** The schema of the records written (the table's must match it). */
  readonly schema: DeltaSchema;
  /** Partition columns of a table this writer creates (an existing table's must be equal). */
  readonly partitionBy: readonly string[];
  /** `overwrite`: the first commit removes every live file; later ones append. */
  readonly mode: DeltaWriteMode;
  /** Checkpoint after every this many commits (0: never). */
  readonly checkpointInterval: number;
  /** Adds to a counter of the owner's metrics (`tables_created`, `commits`, `clashes`). */
  readonly count?: (name: string) => void;
}

/** A batch's data files, ready to commit. */
export interface PendingCommit {
  /** This writer's transaction number (its `txn` action): a commit already in the log is not made twice. */
  readonly txn: number;
  /** Records in the data files. */
  readonly rows: number;
  /** The data files' add actions. */
  readonly adds: readonly AddAction[];
}

/**
 * One writer's view of a Delta table's transaction log: it replays the log (from a checkpoint
 * when one is readable), creates the table, checks that the table can take our records, commits
 * batches as the next version with put-if-absent (catching up with other writers on a clash) and
 * writes checkpoints. It never writes data files: those are the caller's.
 *
 * Identity (the `txn` application id and transaction numbers, whether the overwrite was done)
 * lasts as long as the object, across `open`/`close`, so a retried batch is recognised after a
 * reconnect; with `useStreamId` it lasts across processes (a rerun of the same backfill).
 */
export class DeltaLog {
  /** Commits this writer has made. */
  commits = 0;
  /** Times another writer had taken the version this writer tried to commit. */
  clashes = 0;
  /** Checkpoints this writer has written. */
  checkpoints = 0;
  /** The checkpoint version the last `load` started from (undefined: a full replay). */
  replayedFromCheckpoint: number | undefined;
  /** Our application id in `txn` actions: random, or a stream's (`useStreamId`). */
  appId: string = randomUUID();
  private storage: TableStorage | undefined;
  private logger: Logger = silentLogger;
  private table = new TableState();
  private lastTxn = 0;
  private streamed = false;
  private overwritePending: boolean;
  /** The last commit failed without a clear answer (it may have landed): catch up first. */
  private uncertain = false;

  constructor(private readonly settings: DeltaLogSettings) {
    this.overwritePending = settings.mode === 'overwrite';
  }

  /** The table version after the last commit seen or made (-1: no table yet). */
  get version(): number {
    return this.table.version;
  }

  /** The replayed state (live files, metadata, transactions) the next commit builds on. */
  get state(): TableState {
    return this.table;
  }

  /** The table's partition columns: the existing table's (checked equal to ours) or ours. */
  get partitionColumns(): readonly string[] {
    return this.table.metadata?.partitionColumns ?? this.settings.partitionBy;
  }

  /**
   * Identifies this writer by a stream that a rerun repeats (set before `load`): transactions are
   * then numbered by the caller with stream positions (`prepare(adds, rows, txn)`), so a rerun of
   * the stream skips what an earlier attempt committed.
   */
  useStreamId(appId: string): void {
    this.appId = appId;
    this.streamed = true;
  }

  /** True when the caller numbers transactions by stream position (`useStreamId`). */
  get positional(): boolean {
    return this.streamed;
  }

  /** Our highest committed transaction number in the log (0: none), after catching up when the last commit's outcome was unclear. */
  async landedTxn(): Promise<number> {
    if (this.uncertain) {
      await this.refresh();
      this.uncertain = false;
    }
    return this.table.txns.get(this.appId)?.version ?? 0;
  }

  /**
   * Attaches an opened storage and replays its log. Throws DeltaTableMismatchError for a table
   * another writer created meanwhile with another layout, other errors for an unreadable log.
   */
  async load(storage: TableStorage, logger: Logger = silentLogger): Promise<void> {
    this.storage = storage;
    this.logger = logger;
    this.table = new TableState();
    this.uncertain = false;
    this.table = await this.replay(storage);
    await this.refresh(); // commits that landed while we listed
    // An earlier attempt of this stream committed: it did the overwrite.
    if (this.table.txns.has(this.appId)) this.overwritePending = false;
  }

  /**
   * Checks the loaded table, or creates it when the log is empty: version 0 holds only the
   * protocol and the metadata (schema, partition columns), as CREATE TABLE does. A writer that
   * loses the race for version 0 reads the winner's table and checks it like any existing table,
   * so two writers started together with different layouts fail here (DeltaTableMismatchError)
   * and nothing of the loser is committed. True when this writer created the table.
   */
  async ensureTable(): Promise<boolean> {
    const storage = this.requireStorage();
    this.checkTable();
    if (this.table.version >= 0) return false;
    const now = Date.now();
    const actions: Action[] = [
      {
        commitInfo: {
          timestamp: now,
          operation: 'CREATE TABLE',
          operationParameters: { partitionBy: JSON.stringify(this.settings.partitionBy) },
          isBlindAppend: true,
          engineInfo: ENGINE_INFO,
          clientVersion: ENGINE_INFO,
        },
      },
      { protocol: { ...WRITE_PROTOCOL } },
      {
        metaData: {
          id: randomUUID(),
          format: { provider: 'parquet', options: {} },
          schemaString: JSON.stringify(this.settings.schema),
          partitionColumns: [...this.settings.partitionBy],
          configuration: {},
          createdTime: now,
        },
      },
    ];
    if (await storage.putIfAbsent(commitPath(0), Buffer.from(serializeCommit(actions)))) {
      this.table.apply(0, actions);
      this.settings.count?.('tables_created');
      this.logger.info(`delta: created table ${storage.location}`);
      return true;
    }
    this.clash();
    await this.refresh();
    this.checkTable();
    this.logger.info(
      `delta: another writer created ${storage.location} at the same time; its layout matches`,
    );
    return false;
  }

  /** Detaches the storage (the caller closes it). The identity and the last state stay. */
  detach(): void {
    this.storage = undefined;
  }

  /**
   * Numbers a batch's data files as this writer's next transaction, or as `txn` (required after
   * `useStreamId`: the stream position after the batch's last reading).
   */
  prepare(adds: readonly AddAction[], rows: number, txn?: number): PendingCommit {
    if (this.streamed !== (txn !== undefined))
      throw new Error('delta log: a stream writer numbers its transactions, no other one does');
    return { txn: txn ?? ++this.lastTxn, rows, adds };
  }

  /**
   * Commits `batch` as the next version: on a clash, reads the new commits, checks the table
   * still matches (DeltaTableMismatchError if not) and tries the next version, up to
   * MAX_COMMIT_ATTEMPTS. A batch whose transaction is already in the log (a commit that landed
   * although its attempt failed) is not committed again. Returns the committed version, or
   * undefined when it had landed before.
   */
  async commit(batch: PendingCommit): Promise<number | undefined> {
    const storage = this.requireStorage();
    if (this.uncertain) await this.refresh();
    this.uncertain = true;
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      if ((this.table.txns.get(this.appId)?.version ?? 0) >= batch.txn) {
        this.uncertain = false;
        return undefined; // landed before
      }
      const version = this.table.version + 1;
      const actions = this.commitActions(batch);
      if (await storage.putIfAbsent(commitPath(version), Buffer.from(serializeCommit(actions)))) {
        this.uncertain = false;
        this.table.apply(version, actions);
        this.commits++;
        this.settings.count?.('commits');
        this.overwritePending = false;
        if (attempt > 1)
          this.logger.debug(`delta: committed version ${version} after ${attempt - 1} clash(es)`);
        if (isCheckpointVersion(version, this.settings.checkpointInterval))
          await this.checkpoint(storage, version);
        return version;
      }
      // Another writer took this version: catch up with the log, check it, try the next one.
      this.clash();
      await this.refresh();
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * attempt)));
    }
    this.uncertain = false;
    throw new SinkWriteError(
      `delta: gave up after ${MAX_COMMIT_ATTEMPTS} commit attempts on ${storage.location}: other writers took every version`,
    );
  }

  private clash(): void {
    this.clashes++;
    this.settings.count?.('clashes');
  }

  private requireStorage(): TableStorage {
    if (!this.storage) throw new Error('delta log: not loaded (connect first)');
    return this.storage;
  }

  private commitActions(batch: PendingCommit): Action[] {
    const now = Date.now();
    const overwrite = this.overwritePending;
    const actions: Action[] = [
      {
        commitInfo: {
          timestamp: now,
          operation: 'WRITE',
          operationParameters: {
            mode: overwrite ? 'Overwrite' : 'Append',
            partitionBy: JSON.stringify(this.partitionColumns),
          },
          isBlindAppend: !overwrite,
          operationMetrics: {
            numFiles: String(batch.adds.length),
            numOutputRows: String(batch.rows),
            numOutputBytes: String(batch.adds.reduce((n, a) => n + a.size, 0)),
          },
          engineInfo: ENGINE_INFO,
          clientVersion: ENGINE_INFO,
        },
      },
    ];
    if (overwrite) {
      for (const f of this.table.files.values()) {
        actions.push({
          remove: {
            path: f.path,
            deletionTimestamp: now,
            dataChange: true,
            extendedFileMetadata: true,
            partitionValues: f.partitionValues,
            size: f.size,
          },
        });
      }
    }
    actions.push({ txn: { appId: this.appId, version: batch.txn, lastUpdated: now } });
    for (const add of batch.adds) actions.push({ add });
    return actions;
  }

  /**
   * Writes a checkpoint of the table at `version` (the state right after our commit) and points
   * `_last_checkpoint` at it. The commit has landed: a failure here is only logged.
   */
  private async checkpoint(storage: TableStorage, version: number): Promise<void> {
    try {
      const actions = checkpointActions(this.table);
      const bytes = await encodeCheckpoint(actions);
      // Put-if-absent: another writer may have checkpointed this version already (same state).
      if (!(await storage.putIfAbsent(checkpointPath(version), bytes))) return;
      const last: LastCheckpoint = {
        version,
        size: actions.length,
        sizeInBytes: bytes.length,
        numOfAddFiles: this.table.files.size,
      };
      // Never move the pointer back past a newer checkpoint another writer made.
      const current = await readLastCheckpoint(storage);
      if (current && current.version > version) return;
      await storage.replace(LAST_CHECKPOINT_PATH, Buffer.from(JSON.stringify(last)));
      this.checkpoints++;
      this.logger.debug(
        `delta: checkpoint at version ${version} (${actions.length} actions, ${bytes.length} bytes)`,
      );
    } catch (err) {
      this.logger.warn(
        `delta: could not write the checkpoint of version ${version} on ${storage.location} (the commit did land; readers replay the JSON commits): ${describeError(err)}`,
      );
    }
  }

  /**
   * Rebuilds the table state: from the newest readable checkpoint (`_last_checkpoint` first, then
   * up to two older ones) plus the JSON commits after it, or by replaying every JSON commit from
   * version 0 when no checkpoint can be read.
   */
  private async replay(storage: TableStorage): Promise<TableState> {
    const names = await storage.list('_delta_log');
    const versions = names
      .map(parseCommitFileName)
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    this.replayedFromCheckpoint = undefined;
    let state: TableState | undefined;
    const checkpoints = completeCheckpoints(names);
    if (checkpoints.length) {
      const hint = await readLastCheckpoint(storage);
      const hinted = checkpoints.findIndex(
        (c) => c[0]!.version === hint?.version && c[0]!.parts === (hint.parts ?? 1),
      );
      if (hinted > 0) checkpoints.unshift(...checkpoints.splice(hinted, 1));
      for (const files of checkpoints.slice(0, 3)) {
        const version = files[0]!.version;
        try {
          state = await loadCheckpoint(
            files,
            (name) => storage.read(`_delta_log/${name}`),
            version === hint?.version && (hint.parts ?? 1) === files[0]!.parts
              ? hint.size
              : undefined,
          );
          this.replayedFromCheckpoint = version;
          break;
        } catch (err) {
          this.logger.warn(
            `delta: cannot use the checkpoint of version ${version} in ${storage.location} (${describeError(err)}); trying ${checkpoints.length > 1 ? 'an older checkpoint or ' : ''}the JSON commits`,
          );
        }
      }
    }
    state ??= new TableState();
    const pending = versions.filter((v) => v > state.version);
    if (state.version < 0 && pending.length && pending[0] !== 0) {
      throw new Error(
        `the log starts at version ${pending[0]} (older commits were cleaned up) and no checkpoint could be read`,
      );
    }
    const texts = await mapLimit(pending, 16, async (v) => {
      const bytes = await storage.read(commitPath(v));
      if (!bytes) throw new Error(`${commitPath(v)} disappeared while reading the log`);
      return Buffer.from(bytes).toString('utf8');
    });
    for (let i = 0; i < pending.length; i++) {
      const v = state.version + 1;
      if (pending[i] !== v) throw new Error(`version ${v} is missing from _delta_log/`);
      state.apply(v, parseCommit(texts[i]!, commitPath(v)));
    }
    return state;
  }

  /** Reads commits newer than the known version; throws if the table changed under us. */
  private async refresh(): Promise<void> {
    const storage = this.requireStorage();
    const before = { metadata: this.table.metadata, protocol: this.table.protocol };
    for (;;) {
      const v = this.table.version + 1;
      const bytes = await storage.read(commitPath(v));
      if (!bytes) break;
      this.table.apply(v, parseCommit(Buffer.from(bytes).toString('utf8'), commitPath(v)));
    }
    // Whatever we read last (a table another writer created or changed) is checked before we
    // commit to it.
    if (this.table.metadata !== before.metadata || this.table.protocol !== before.protocol)
      this.checkTable();
  }

  /** Checks that an existing table can take our records: protocol, format, schema, partitioning. */
  private checkTable(): void {
    const { metadata, protocol } = this.table;
    if (this.table.version < 0) return;
    const location = this.requireStorage().location;
    const issues: ConfigIssue[] = [];
    if (!metadata || !protocol) {
      issues.push({ path: 'tablePath', message: 'the log has no metaData or protocol action' });
      throw new DeltaTableMismatchError(location, issues);
    }
    const unsupported = unsupportedWriterFeatures(protocol);
    if (unsupported) issues.push({ path: 'tablePath', message: unsupported });
    if (metadata.format?.provider !== 'parquet')
      issues.push({
        path: 'tablePath',
        message: `data format is ${metadata.format?.provider}, not parquet`,
      });
    let schema: DeltaSchema | undefined;
    try {
      schema = parseSchema(metadata.schemaString);
    } catch (err) {
      issues.push({
        path: 'tablePath',
        message: `unreadable schemaString (${describeError(err)})`,
      });
    }
    if (schema) {
      // Writer version 2 requires enforcing column invariants; we refuse rather than ignore them.
      for (const f of schema.fields) {
        if (f.metadata && 'delta.invariants' in f.metadata)
          issues.push({
            path: 'tablePath',
            message: `column ${f.name} has an invariant (delta.invariants), which this sink does not enforce`,
          });
      }
      for (const d of schemaDifferences(schema, this.settings.schema)) {
        issues.push({
          path: d.startsWith('column timestamp ') ? 'timestampType' : 'tablePath',
          message: d,
        });
      }
    }
    const theirs = metadata.partitionColumns ?? [];
    const ours = this.settings.partitionBy;
    if (theirs.length !== ours.length || theirs.some((c, i) => c !== ours[i])) {
      issues.push({
        path: 'partitionBy',
        message: `the table is partitioned by [${theirs.join(', ')}] but partition_by is [${ours.join(', ')}]: use the table's partition columns or another table_path`,
      });
    }
    if (
      this.settings.mode === 'overwrite' &&
      metadata.configuration?.['delta.appendOnly'] === 'true'
    )
      issues.push({
        path: 'mode',
        message: 'the table is append-only (delta.appendOnly=true): overwrite is not allowed',
      });
    if (issues.length) throw new DeltaTableMismatchError(location, issues);
  }
}

/** `_last_checkpoint`, or undefined when it is absent or unreadable. */
async function readLastCheckpoint(storage: TableStorage): Promise<LastCheckpoint | undefined> {
  try {
    const bytes = await storage.read(LAST_CHECKPOINT_PATH);
    return bytes ? parseLastCheckpoint(Buffer.from(bytes).toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/** Why we cannot write a table with this protocol, or undefined when we can. */
function unsupportedWriterFeatures(p: ProtocolAction): string | undefined {
  if (p.minWriterVersion <= WRITE_PROTOCOL.minWriterVersion) return undefined;
  if (p.minWriterVersion === 7) {
    const missing = (p.writerFeatures ?? []).filter((f) => !SUPPORTED_WRITER_FEATURES.includes(f));
    if (missing.length === 0) return undefined;
    return `the table needs writer features this sink does not implement: ${missing.join(', ')}`;
  }
  return `the table needs Delta writer version ${p.minWriterVersion}; this sink writes version 2 (or 7 with ${SUPPORTED_WRITER_FEATURES.join(', ')})`;
}

/** An error's message with its errno code when the message lacks it. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
