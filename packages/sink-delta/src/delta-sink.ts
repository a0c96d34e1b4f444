import { randomUUID } from 'node:crypto';
import {
  ConfigError,
  Sink,
  SinkConnectError,
  SinkWriteError,
  isPermanentFsError,
  importSdk,
  isModuleMissing,
  parseSinkOptions,
  type ConfigIssue,
  type SensorRecord,
  type WriteRequest,
} from '@iotsim/core';
import type * as ParquetModule from '@iotsim/parquet';
import {
  WRITE_PROTOCOL,
  SUPPORTED_WRITER_FEATURES,
  TableState,
  commitPath,
  parseCommit,
  parseCommitFileName,
  parseSchema,
  recordSchema,
  schemaDifferences,
  serializeCommit,
  type Action,
  type AddAction,
  type DeltaSchema,
  type ProtocolAction,
} from './log.js';
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
  DeltaOptionsSchema,
  SECRET_STORAGE_KEYS,
  type DeltaSinkOptions,
  type ResolvedDeltaOptions,
} from './options.js';
import { groupByPartition, logPathFor } from './partition.js';
import { S3Storage, s3Settings } from './s3-storage.js';
import { computeStats } from './stats.js';
import { LocalStorage, localTableDir, type TableStorage } from './storage.js';

/** Commit attempts per batch before giving up when other writers keep taking the next version. */
export const MAX_COMMIT_ATTEMPTS = 50;

const ENGINE = 'iotsim-sink-delta/0.1.0';

const FILE_SUFFIX: Record<ResolvedDeltaOptions['compression'], string> = {
  snappy: '.snappy.parquet',
  zstd: '.zstd.parquet',
  gzip: '.gz.parquet',
  lz4: '.lz4raw.parquet',
  none: '.parquet',
};

/** An existing table does not match what this sink writes (schema, partitioning, protocol). */
export class DeltaTableMismatchError extends ConfigError {
  constructor(location: string, issues: readonly ConfigIssue[]) {
    super(issues.map((i) => ({ path: i.path, message: `Delta table ${location}: ${i.message}` })));
  }
}

/** What the pending (not yet committed) batch already has on storage, for retries. */
interface PendingBatch {
  /** The runner's batch id: its retries carry the same one. */
  readonly batchId: number;
  readonly length: number;
  readonly seq: number;
  readonly adds: AddAction[];
}

/**
 * Writes records to a Delta Lake table: each batch becomes Parquet data files (one per partition)
 * and one commit in `_delta_log/`, which Spark, delta-rs, DuckDB and Databricks read. Local
 * directories and `s3://` prefixes; commits are put-if-absent, so several writers can append to
 * one table.
 *
 * @example
 * const sink = new DeltaSink({ tablePath: '/data/delta/sensors', partitionBy: ['industry'], batchSize: 10_000 });
 */
export class DeltaSink extends Sink {
  static override readonly type = 'delta';
  /** The validated options. */
  readonly options: ResolvedDeltaOptions;
  /** Commits this sink has made. */
  commits = 0;
  /** Times another writer had taken the version this sink tried to commit. */
  clashes = 0;
  /** Checkpoints this sink has written. */
  checkpoints = 0;
  /** The checkpoint version the last connect started its log replay from (undefined: full replay). */
  replayedFromCheckpoint: number | undefined;
  private storage: TableStorage | undefined;
  private parquet: typeof ParquetModule | undefined;
  private state = new TableState();
  private readonly schema: DeltaSchema;
  /** Our application id in `txn` actions: a retried batch is recognised if it did land. */
  private readonly appId = randomUUID();
  private seq = 0;
  private overwritePending: boolean;
  private pending: PendingBatch | undefined;
  /** Set when the table's layout changed under us: every later write fails with it. */
  private broken: SinkWriteError | undefined;

  static override readonly schema = DeltaOptionsSchema;

  constructor(options: DeltaSinkOptions = {}) {
    super();
    const own = parseSinkOptions(DeltaOptionsSchema, options);
    this.options = own;
    for (const [key, value] of Object.entries(own.storageOptions))
      if (SECRET_STORAGE_KEYS.has(key)) this.registerSecret(value);
    this.schema = recordSchema(own.timestampType);
    this.overwritePending = own.mode === 'overwrite';
  }

  /** True for `s3://` table paths. */
  get isS3(): boolean {
    return /^s3a?:\/\//i.test(this.options.tablePath);
  }

  /** The table version after the last commit seen or made (-1: no table yet). */
  get version(): number {
    return this.state.version;
  }

  override describe(): string {
    const o = this.options;
    const parts = [o.tablePath, o.mode];
    if (o.partitionBy.length) parts.push(`partition_by=${o.partitionBy.join(',')}`);
    return `delta(${parts.join(', ')})`;
  }

  async connect(): Promise<void> {
    const o = this.options;
    this.parquet = await importSdk(
      '@iotsim/parquet',
      () => import('@iotsim/parquet'),
      'delta sink',
    );
    let storage: TableStorage;
    if (this.isS3) {
      storage = new S3Storage(o.tablePath, s3Settings(o.storageOptions));
    } else {
      if (Object.keys(o.storageOptions).length)
        this.logger.warn(`delta: storage_options are ignored for the local table ${o.tablePath}`);
      storage = new LocalStorage(localTableDir(o.tablePath));
    }
    try {
      await storage.open();
    } catch (err) {
      if (isModuleMissing(err, '@aws-sdk/client-s3'))
        throw new SinkConnectError(
          this.type,
          's3:// tables need @aws-sdk/client-s3: npm install @aws-sdk/client-s3',
          { cause: err },
        );
      throw new SinkConnectError(
        this.type,
        `cannot open table ${storage.location}: ${describeError(err)}${this.isS3 ? ' (check the bucket name, AWS_ENDPOINT_URL and credentials in storage_options)' : ' (check that the path is writable)'}`,
        { cause: err },
      );
    }
    this.storage = storage;
    try {
      this.state = await this.replay();
    } catch (err) {
      await storage.close();
      this.storage = undefined;
      // A table another writer created while we read the log, with another layout.
      if (err instanceof DeltaTableMismatchError) throw err;
      throw new SinkConnectError(
        this.type,
        `cannot read the Delta log of ${storage.location}: ${describeError(err)}`,
        { cause: err },
      );
    }
    try {
      this.checkTable();
      if (this.state.version < 0) await this.createTable(storage);
    } catch (err) {
      await storage.close();
      this.storage = undefined;
      if (err instanceof DeltaTableMismatchError) throw err;
      throw new SinkConnectError(
        this.type,
        `cannot create table ${storage.location}: ${describeError(err)}${this.isS3 ? ' (check the bucket, its permissions and storage_options)' : ' (check that the path is writable)'}`,
        { cause: err },
      );
    }
    this.logger.info(
      `delta: table ${storage.location} at version ${this.state.version}, ${this.state.files.size} live files${this.replayedFromCheckpoint === undefined ? '' : ` (log read from the checkpoint of version ${this.replayedFromCheckpoint})`}`,
    );
  }

  /**
   * Creates the table at connect, before any data: version 0 holds only the protocol and the
   * metadata (schema, partition columns), as CREATE TABLE does. A writer that loses the race for
   * version 0 reads the winner's table and checks it like any existing table, so two writers
   * started together with different layouts fail at start (DeltaTableMismatchError, exit 2)
   * and nothing of the loser is committed.
   */
  private async createTable(storage: TableStorage): Promise<void> {
    const now = Date.now();
    const actions: Action[] = [
      {
        commitInfo: {
          timestamp: now,
          operation: 'CREATE TABLE',
          operationParameters: {
            partitionBy: JSON.stringify(this.options.partitionBy),
          },
          isBlindAppend: true,
          engineInfo: ENGINE,
          clientVersion: ENGINE,
        },
      },
      { protocol: { ...WRITE_PROTOCOL } },
      {
        metaData: {
          id: randomUUID(),
          format: { provider: 'parquet', options: {} },
          schemaString: JSON.stringify(this.schema),
          partitionColumns: [...this.options.partitionBy],
          configuration: {},
          createdTime: now,
        },
      },
    ];
    if (await storage.putIfAbsent(commitPath(0), Buffer.from(serializeCommit(actions)))) {
      this.state.apply(0, actions);
      this.count('tables_created');
      this.logger.info(`delta: created table ${storage.location}`);
      return;
    }
    this.clashes++;
    this.count('clashes');
    await this.refresh();
    this.checkTable();
    this.logger.info(
      `delta: another writer created ${storage.location} at the same time; its layout matches`,
    );
  }

  async write(request: WriteRequest): Promise<void> {
    if (request.size === 0) return;
    const storage = this.requireStorage();
    if (this.broken) throw this.broken;
    try {
      await this.writeBatch(storage, request);
    } catch (err) {
      if (isPermanentFsError(err))
        throw new SinkWriteError(
          `delta: ${describeError(err)} (not retried: fix the path or its permissions)`,
          {
            retryable: false,
            cause: err,
          },
        );
      if (!(err instanceof DeltaTableMismatchError)) throw err;
      // Another writer changed the table's layout: nothing more of ours may be committed to it.
      this.broken = new SinkWriteError(
        `delta: the table changed while writing: ${describeError(err)}`,
        { retryable: false, cause: err },
      );
      throw this.broken;
    }
  }

  private async writeBatch(storage: TableStorage, request: WriteRequest): Promise<void> {
    // A retry of the batch whose commit failed (same batch id): reuse its data files and
    // transaction number, so that a commit which did land (an ambiguous failure) is recognised
    // and not made twice.
    let batch = this.pending;
    if (batch && (batch.batchId !== request.batchId || batch.length !== request.size))
      batch = undefined;
    if (batch) await this.refresh();
    else {
      const records = request.records;
      const adds = await this.writeDataFiles(storage, records);
      batch = { batchId: request.batchId, length: records.length, seq: ++this.seq, adds };
      this.pending = batch;
    }
    await this.commit(storage, batch);
    this.pending = undefined;
  }

  override async close(): Promise<void> {
    await this.storage?.close();
    this.storage = undefined;
  }

  private requireStorage(): TableStorage {
    if (!this.storage)
      throw new SinkWriteError('delta sink: write before connect', { retryable: false });
    return this.storage;
  }

  /** Writes the batch's Parquet files (one per partition, split at targetFileRows) and returns their add actions. */
  private async writeDataFiles(
    storage: TableStorage,
    records: readonly SensorRecord[],
  ): Promise<AddAction[]> {
    const o = this.options;
    const columns = this.partitionColumns();
    const adds: AddAction[] = [];
    const uploads: Promise<void>[] = [];
    let index = 0;
    for (const group of groupByPartition(records, columns)) {
      const limit = o.targetFileRows ?? group.records.length;
      for (let start = 0; start < group.records.length; start += limit) {
        const chunk =
          start === 0 && limit >= group.records.length
            ? group.records
            : group.records.slice(start, start + limit);
        const bytes = await this.encode(chunk, columns);
        const name = `part-${String(index++).padStart(5, '0')}-${randomUUID()}-c000${FILE_SUFFIX[o.compression]}`;
        const relative = group.dir + name;
        uploads.push(storage.put(relative, bytes));
        adds.push({
          path: logPathFor(relative),
          partitionValues: group.values,
          size: bytes.length,
          modificationTime: Date.now(),
          dataChange: true,
          stats: JSON.stringify(computeStats(chunk, columns, o.timestampType)),
        });
        if (uploads.length >= 8) await Promise.all(uploads.splice(0));
      }
    }
    await Promise.all(uploads);
    return adds;
  }

  private async encode(
    records: readonly SensorRecord[],
    omit: readonly string[],
  ): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const writer = await this.parquet!.createParquetWriter(
      {
        async write(chunk) {
          chunks.push(chunk);
          total += chunk.length;
        },
        async close() {},
      },
      {
        compression: this.options.compression,
        timestampType: this.options.timestampType,
        omitColumns: omit,
      },
    );
    await writer.write(records);
    await writer.close();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  }

  /** The table's partition columns (ours, or the existing table's, which checkTable made equal). */
  private partitionColumns(): readonly string[] {
    return this.state.metadata?.partitionColumns ?? this.options.partitionBy;
  }

  /** Commits `batch` as the next version, re-reading the log and retrying on a clash. */
  private async commit(storage: TableStorage, batch: PendingBatch): Promise<void> {
    for (let attempt = 1; attempt <= MAX_COMMIT_ATTEMPTS; attempt++) {
      if ((this.state.txns.get(this.appId)?.version ?? 0) >= batch.seq) return; // landed before
      const version = this.state.version + 1;
      const actions = this.commitActions(batch);
      if (await storage.putIfAbsent(commitPath(version), Buffer.from(serializeCommit(actions)))) {
        this.state.apply(version, actions);
        this.commits++;
        this.count('commits');
        this.overwritePending = false;
        if (attempt > 1)
          this.logger.debug(`delta: committed version ${version} after ${attempt - 1} clash(es)`);
        if (isCheckpointVersion(version, this.options.checkpointInterval))
          await this.checkpoint(storage, version);
        return;
      }
      // Another writer took this version: catch up with the log, check it, try the next one.
      this.clashes++;
      this.count('clashes');
      await this.refresh();
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * attempt)));
    }
    throw new SinkWriteError(
      `delta: gave up after ${MAX_COMMIT_ATTEMPTS} commit attempts on ${storage.location}: other writers took every version`,
    );
  }

  private commitActions(batch: PendingBatch): Action[] {
    const now = Date.now();
    const overwrite = this.overwritePending;
    const rows = batch.length;
    const bytes = batch.adds.reduce((n, a) => n + a.size, 0);
    const actions: Action[] = [
      {
        commitInfo: {
          timestamp: now,
          operation: 'WRITE',
          operationParameters: {
            mode: overwrite ? 'Overwrite' : 'Append',
            partitionBy: JSON.stringify(this.partitionColumns()),
          },
          isBlindAppend: !overwrite,
          operationMetrics: {
            numFiles: String(batch.adds.length),
            numOutputRows: String(rows),
            numOutputBytes: String(bytes),
          },
          engineInfo: ENGINE,
          clientVersion: ENGINE,
        },
      },
    ];
    if (overwrite) {
      for (const f of this.state.files.values()) {
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
    actions.push({ txn: { appId: this.appId, version: batch.seq, lastUpdated: now } });
    for (const add of batch.adds) actions.push({ add });
    return actions;
  }

  /**
   * Writes a checkpoint of the table at `version` (the state right after our commit) and points
   * `_last_checkpoint` at it. The commit has landed: a failure here is only logged.
   */
  private async checkpoint(storage: TableStorage, version: number): Promise<void> {
    try {
      const actions = checkpointActions(this.state);
      const bytes = await encodeCheckpoint(actions);
      // Put-if-absent: another writer may have checkpointed this version already (same state).
      if (!(await storage.putIfAbsent(checkpointPath(version), bytes))) return;
      const last: LastCheckpoint = {
        version,
        size: actions.length,
        sizeInBytes: bytes.length,
        numOfAddFiles: this.state.files.size,
      };
      // Never move the pointer back past a newer checkpoint another writer made.
      const current = await this.readLastCheckpoint(storage);
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

  /** `_last_checkpoint`, or undefined when it is absent or unreadable. */
  private async readLastCheckpoint(storage: TableStorage): Promise<LastCheckpoint | undefined> {
    try {
      const bytes = await storage.read(LAST_CHECKPOINT_PATH);
      return bytes ? parseLastCheckpoint(Buffer.from(bytes).toString('utf8')) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Rebuilds the table state: from the newest readable checkpoint (`_last_checkpoint` first) plus
   * the JSON commits after it, or by replaying every JSON commit from version 0 when no
   * checkpoint can be read.
   */
  private async replay(): Promise<TableState> {
    const storage = this.requireStorage();
    const names = await storage.list('_delta_log');
    const versions = names
      .map(parseCommitFileName)
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    this.replayedFromCheckpoint = undefined;
    let state: TableState | undefined;
    const checkpoints = completeCheckpoints(names);
    if (checkpoints.length) {
      const hint = await this.readLastCheckpoint(storage);
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
    this.state = state;
    await this.refresh(); // commits that landed while we listed
    return this.state;
  }

  /** Reads commits newer than the known version; stops the run if the table changed under us. */
  private async refresh(): Promise<void> {
    const storage = this.requireStorage();
    const before = { metadata: this.state.metadata, protocol: this.state.protocol };
    for (;;) {
      const v = this.state.version + 1;
      const bytes = await storage.read(commitPath(v));
      if (!bytes) break;
      this.state.apply(v, parseCommit(Buffer.from(bytes).toString('utf8'), commitPath(v)));
    }
    // Whatever we read last (a table another writer created or changed) is checked before we
    // commit to it.
    if (this.state.metadata !== before.metadata || this.state.protocol !== before.protocol)
      this.checkTable();
  }

  /** Checks that an existing table can take our records: protocol, format, schema, partitioning. */
  private checkTable(): void {
    const { metadata, protocol } = this.state;
    if (this.state.version < 0) return;
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
      for (const d of schemaDifferences(schema, this.schema)) {
        issues.push({
          path: d.startsWith('column timestamp ') ? 'timestampType' : 'tablePath',
          message: d,
        });
      }
    }
    const theirs = metadata.partitionColumns ?? [];
    const ours = this.options.partitionBy;
    if (theirs.length !== ours.length || theirs.some((c, i) => c !== ours[i])) {
      issues.push({
        path: 'partitionBy',
        message: `the table is partitioned by [${theirs.join(', ')}] but partition_by is [${ours.join(', ')}]: use the table's partition columns or another table_path`,
      });
    }
    if (
      this.options.mode === 'overwrite' &&
      metadata.configuration?.['delta.appendOnly'] === 'true'
    )
      issues.push({
        path: 'mode',
        message: 'the table is append-only (delta.appendOnly=true): overwrite is not allowed',
      });
    if (issues.length) throw new DeltaTableMismatchError(location, issues);
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

function describeError(err: unknown): string {
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
