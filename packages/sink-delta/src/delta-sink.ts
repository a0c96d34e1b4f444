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
  type RecordBatch,
  type SensorRecord,
  type SinkContext,
  type WriteRequest,
} from '@iotsim/core';
import type * as ParquetModule from '@iotsim/parquet';
import { DeltaTableMismatchError } from './errors.js';
import { DeltaLog, describeError, type PendingCommit } from './internal/delta-log.js';
import { recordSchema, type AddAction } from './internal/log.js';
import { groupByPartition, logPathFor } from './internal/partition.js';
import { S3Storage, s3Settings } from './internal/s3-storage.js';
import { computeStats } from './internal/stats.js';
import { LocalStorage, localTableDir, type TableStorage } from './internal/storage.js';
import {
  DeltaOptionsSchema,
  SECRET_STORAGE_KEYS,
  type DeltaSinkOptions,
  type ResolvedDeltaOptions,
} from './options.js';

const FILE_SUFFIX: Record<ResolvedDeltaOptions['compression'], string> = {
  snappy: '.snappy.parquet',
  zstd: '.zstd.parquet',
  gzip: '.gz.parquet',
  lz4: '.lz4raw.parquet',
  none: '.parquet',
};

/** The batch whose commit failed: a retry with the same batch id reuses its data files. */
interface PendingBatch {
  readonly batchId: number;
  /** Readings in the request (the commit may hold fewer: those an earlier run had not committed). */
  readonly size: number;
  readonly commit: PendingCommit;
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
  private readonly log: DeltaLog;
  private storage: TableStorage | undefined;
  private parquet: typeof ParquetModule | undefined;
  private pending: PendingBatch | undefined;
  /** Set when the table's layout changed under us: every later write fails with it. */
  private broken: SinkWriteError | undefined;
  /** Set once the skip of an earlier run's readings has been logged. */
  private skipSaid = false;

  static override readonly schema = DeltaOptionsSchema;

  constructor(options: DeltaSinkOptions = {}) {
    super();
    const own = parseSinkOptions(DeltaOptionsSchema, options);
    this.options = own;
    for (const [key, value] of Object.entries(own.storageOptions))
      if (SECRET_STORAGE_KEYS.has(key)) this.registerSecret(value);
    this.log = new DeltaLog({
      schema: recordSchema(own.timestampType),
      partitionBy: own.partitionBy,
      mode: own.mode,
      checkpointInterval: own.checkpointInterval,
      count: (name) => this.count(name),
    });
  }

  /** True for `s3://` table paths. */
  get isS3(): boolean {
    return /^s3a?:\/\//i.test(this.options.tablePath);
  }

  /** The table version after the last commit seen or made (-1: no table yet). */
  get version(): number {
    return this.log.version;
  }

  /** Commits this sink has made. */
  get commits(): number {
    return this.log.commits;
  }

  /** Times another writer had taken the version this sink tried to commit. */
  get clashes(): number {
    return this.log.clashes;
  }

  /** Checkpoints this sink has written. */
  get checkpoints(): number {
    return this.log.checkpoints;
  }

  /** The checkpoint version the last connect started its log replay from (undefined: full replay). */
  get replayedFromCheckpoint(): number | undefined {
    return this.log.replayedFromCheckpoint;
  }

  /**
   * In a backfill that a rerun repeats (`SinkContext.stream`), the `txn` app id is the stream's
   * (with the sink's name) and each commit's version is the stream position after its last
   * reading: a retried pod or rerun skips the readings an earlier attempt committed.
   */
  override attach(context: SinkContext): void {
    super.attach(context);
    if (context.stream) this.log.useStreamId(`${context.stream.id}:${context.name}`);
  }

  override describe(): string {
    const o = this.options;
    const parts = [o.tablePath, o.mode];
    if (o.partitionBy.length) parts.push(`partition_by=${o.partitionBy.join(',')}`);
    return `delta(${parts.join(', ')})`;
  }

  async connect(): Promise<void> {
    if (this.options.mode === 'overwrite' && this.shard)
      throw new ConfigError([
        {
          path: 'mode',
          message: `overwrite replaces the table's contents with a writer's first batch: with ${this.shard.count > 1 ? `${this.shard.count} shards` : `${this.shard.workers} worker threads`} each writer would remove the others' files; use append (empty the table first with a one-process run, or use a new table_path)`,
        },
      ]);
    this.parquet = await importSdk(
      '@iotsim/parquet',
      () => import('@iotsim/parquet'),
      'delta sink',
    );
    const storage = await this.openStorage();
    try {
      await this.log.load(storage, this.logger);
    } catch (err) {
      throw await this.connectFailure(storage, 'cannot read the Delta log of', err, '');
    }
    try {
      await this.log.ensureTable();
    } catch (err) {
      throw await this.connectFailure(
        storage,
        'cannot create table',
        err,
        this.isS3
          ? ' (check the bucket, its permissions and storage_options)'
          : ' (check that the path is writable)',
      );
    }
    this.storage = storage;
    const from = this.log.replayedFromCheckpoint;
    this.logger.info(
      `delta: table ${storage.location} at version ${this.log.version}, ${this.log.state.files.size} live files${from === undefined ? '' : ` (log read from the checkpoint of version ${from})`}`,
    );
  }

  /** The table's local directory or S3 prefix, opened (a local directory is created). */
  private async openStorage(): Promise<TableStorage> {
    const o = this.options;
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
      return storage;
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
  }

  /**
   * Closes the storage after a failed connect; the error to throw: DeltaTableMismatchError as it
   * is (a table another writer created while we read the log, with another layout), anything
   * else as a SinkConnectError naming the table.
   */
  private async connectFailure(
    storage: TableStorage,
    what: string,
    err: unknown,
    fix: string,
  ): Promise<Error> {
    await storage.close();
    this.log.detach();
    if (err instanceof DeltaTableMismatchError) return err;
    return new SinkConnectError(
      this.type,
      `${what} ${storage.location}: ${describeError(err)}${fix}`,
      { cause: err },
    );
  }

  async write(request: WriteRequest): Promise<void> {
    if (request.size === 0) return;
    const storage = this.storage;
    if (!storage) throw this.notConnected();
    if (this.broken) throw this.broken;
    try {
      // A retry of the batch whose commit failed (same batch id): its data files and transaction
      // number are reused, so a commit that did land (an ambiguous failure) is not made twice.
      let batch = this.pending;
      if (batch?.batchId !== request.batchId || batch.size !== request.size) {
        const rest = this.log.positional
          ? await this.notLanded(request)
          : { readings: request.batch, txn: undefined };
        if (!rest) return; // an earlier run of this stream committed all of it
        const records = rest.readings.records;
        batch = {
          batchId: request.batchId,
          size: request.size,
          commit: this.log.prepare(
            await this.writeDataFiles(storage, records),
            records.length,
            rest.txn,
          ),
        };
        this.pending = batch;
      }
      await this.log.commit(batch.commit);
      this.pending = undefined;
    } catch (err) {
      if (isPermanentFsError(err))
        throw new SinkWriteError(
          `delta: ${describeError(err)} (not retried: fix the path or its permissions)`,
          { retryable: false, cause: err },
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

  /**
   * The readings of `request` an earlier attempt at this stream has not committed, with the
   * transaction number of their commit (the stream position after the last one); undefined when
   * every reading had landed.
   */
  private async notLanded(
    request: WriteRequest,
  ): Promise<{ readings: RecordBatch; txn: number } | undefined> {
    const all = request.batch;
    const end = all.position(all.size - 1);
    const first = all.position(0);
    if (end === undefined || first === undefined)
      throw new Error('delta: a stream batch without stream positions'); // the runner's frames have them
    const landed = await this.log.landedTxn();
    const skip = all.countBefore(landed);
    if (skip) {
      // Said once: a rerun of a long backfill would otherwise log every batch it skips.
      if (!this.skipSaid)
        this.logger.info(
          `delta: stream positions up to ${landed - 1} were committed by an earlier run of this backfill (app id ${this.log.appId}): those readings are skipped (counted as rows_committed_before), from ${first}…${first + skip - 1} in this batch on`,
        );
      this.skipSaid = true;
      this.count('rows_committed_before', skip);
      if (skip === all.size) return undefined;
    }
    // A backfill's stream has no holes: readings after the last committed one mean a batch failed.
    const from = skip ? all.position(skip)! : first;
    if (from > landed)
      this.logger.warn(
        `delta: the readings at stream positions ${landed}…${from - 1} were not committed (their batch failed); a rerun of this backfill will not write them either, since Delta's txn keeps only the highest position: rerun into a new table_path to have them`,
      );
    return { readings: all.slice(skip), txn: end + 1 };
  }

  override async close(): Promise<void> {
    await this.storage?.close();
    this.storage = undefined;
    this.log.detach();
  }

  /** Writes the batch's Parquet files (one per partition, split at targetFileRows) and returns their add actions. */
  private async writeDataFiles(
    storage: TableStorage,
    records: readonly SensorRecord[],
  ): Promise<AddAction[]> {
    const o = this.options;
    const columns = this.log.partitionColumns;
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

  /** One Parquet file of `records`, without the partition columns `omit`. */
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
}
