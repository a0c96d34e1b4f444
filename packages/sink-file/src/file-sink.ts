import { constants } from 'node:fs';
import { access, mkdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  Sink,
  SinkConnectError,
  SinkWriteError,
  THROUGHPUT_DEFAULTS,
  importSdk,
  isPermanentFsError,
  parseSinkOptions,
  type SinkCapabilities,
  type SinkContext,
  type WriteRequest,
  type WriteResult,
} from '@iotsim/core';
import type * as Parquet from '@iotsim/parquet';
import { findStop, sliceBatch, timestampAt } from './batches.js';
import { FileWriteError, openRecordFile, type RecordFileWriter } from './file-writers.js';
import {
  FILE_EXTENSIONS,
  FileSinkSchema,
  type FileSinkOptions,
  type ResolvedFileSinkOptions,
} from './options.js';

/** `sensor_data_20240131_235900`: the original's file name stem, in UTC. */
export function fileStem(epochSeconds: number): string {
  const iso = new Date(Math.floor(epochSeconds) * 1000).toISOString(); // 2024-01-31T23:59:00.000Z
  return `sensor_data_${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

interface OpenFile {
  readonly writer: RecordFileWriter;
  /** Rotation window index (`floor(timestamp / interval)`), 0 without rotation. */
  readonly window: number;
  /** `performance.now()` when it was opened (for `maxFileAge`). */
  readonly openedAt: number;
  /** Records in the file. */
  rows: number;
  /**
   * Parquet: records of earlier writes that the runner counts as held: no reader can read them
   * before the footer. Confirmed when the file completes, lost (failed) when it cannot.
   */
  held: number;
}

const settle = (): void => {};

/**
 * Writes records to CSV, JSON Lines or Parquet files in a directory, optionally starting a new file
 * every rotation interval of record time (so a backfill of a week with `rotation: '1d'` gives
 * seven daily files). Files are named `sensor_data_<YYYYmmdd_HHMMSS>.<csv|jsonl|parquet>` after
 * the start of their window (UTC), with `_1`, `_2`, ... when a name is taken; existing files are
 * never overwritten. A file is completed (Parquet footer written) before the next one starts;
 * `maxFileRows` and `maxFileAge` bound how much an open file holds.
 *
 * Text records are delivered once written. Parquet records are readable only after the file's
 * footer: until the file completes they count as held (buffered), then as delivered; a file that
 * cannot be completed (a full disk) is removed and its records count as failed, with the error.
 *
 * Writes may overlap (`maxInFlight` up to 64): the sink applies them in the order they were
 * issued, and after a failed write holds later batches back (failing them, to be retried) until
 * the failed one has been retried, so files never hold batches out of order.
 *
 * @example
 * const sink = new FileSink({ path: './data', format: 'parquet', rotation: '1h', compression: 'zstd' });
 * sim.addSink(sink, { batchSize: 5000 });
 */
export class FileSink extends Sink {
  static override readonly type = 'file';
  static override readonly schema = FileSinkSchema;
  static override readonly capabilities: SinkCapabilities = {
    ordered: true,
    maxInFlight: 64,
    defaultInFlight: 1,
    idempotentRetry: false,
    // One set of files per worker thread and shard: their names carry the shard (`_shard1of3-w0`).
    singleton: false,
  };
  /** Validated options. */
  readonly options: ResolvedFileSinkOptions;
  private parquet: typeof Parquet | undefined;
  private current: OpenFile | undefined;
  private readonly created: string[] = [];
  /** The last write not yet settled: later writes start after it, in the order they came. */
  private tail: Promise<void> | undefined;
  /** Overlapping writes: batches that failed and will be retried, with their error. */
  private readonly toRetry = new Map<number, string>();
  private overlapping = false;
  private retryCount = THROUGHPUT_DEFAULTS.retryCount;

  constructor(options: FileSinkOptions = {}) {
    super();
    this.options = parseSinkOptions(FileSinkSchema, options);
  }

  /** Paths of every file this sink has created, in order. */
  get files(): readonly string[] {
    return this.created;
  }

  override attach(context: SinkContext): void {
    super.attach(context);
    this.overlapping = context.throughput.maxInFlight > 1;
    this.retryCount = context.throughput.retryCount;
  }

  /** Set once the output folder is writable and the Parquet writer loaded. */
  private connected = false;

  async connect(): Promise<void> {
    const dir = resolve(this.options.path);
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (err) {
      throw new SinkConnectError(
        'file',
        `cannot write to output directory ${dir}: ${(err as Error).message}; choose a writable path`,
        { cause: err },
      );
    }
    if (this.options.format === 'parquet') {
      this.parquet = await importSdk(
        '@iotsim/parquet',
        async () => {
          const parquet = await import('@iotsim/parquet');
          await Promise.all([parquet.loadParquetWasm(), parquet.loadArrow()]);
          return parquet;
        },
        'file sink',
        { hint: "for format 'parquet'", alsoMissing: ['parquet-wasm', 'apache-arrow'] },
      );
    }
    this.logger.debug(`file sink: writing ${this.options.format} files to ${dir}`);
    this.connected = true;
  }

  write(request: WriteRequest): Promise<WriteResult | undefined> {
    if (!this.connected) return Promise.reject(this.notConnected());
    // Overlapping writes start one after another, in the order they came.
    const run = this.tail ? this.tail.then(() => this.put(request)) : this.put(request);
    const settled = run.then(settle, settle);
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = undefined;
    });
    return run;
  }

  /** Completes the open file: the text flushed, the Parquet footer written (its records delivered). */
  override async close(): Promise<void> {
    await this.tail;
    await this.complete();
  }

  override describe(): string {
    const rotation = this.options.rotation ? `, rotation ${this.options.rotation}` : '';
    const codec = this.options.format === 'parquet' ? ` ${this.options.compression}` : '';
    return `file (${this.options.format}${codec} → ${this.options.path}${rotation})`;
  }

  /**
   * Writes one batch, split across files where it crosses rotation windows or file bounds.
   * Parquet: the records that end in the open file are reported held.
   */
  private async put(request: WriteRequest): Promise<WriteResult | undefined> {
    const holds = this.options.format === 'parquet';
    // Records of this batch in files completed during this write (delivered), and in the open one.
    let front = 0;
    let inOpen = 0;
    try {
      this.holdBack(request);
      const batch = request.batch;
      const n = batch.size;
      const interval = this.options.rotationS;
      let i = 0;
      while (i < n) {
        const first = timestampAt(batch, i);
        const w = this.windowOf(first);
        // Records of the open file's window (or late ones) stay in it; a later window rotates.
        const target = this.current && !(w > this.current.window) ? this.current.window : w;
        let j = interval === null ? n : findStop(batch, i + 1, (t) => this.windowOf(t) > target);
        try {
          if (this.current?.window !== target || this.full(this.current)) {
            await this.complete();
            front += inOpen;
            inOpen = 0;
            await this.open(target, first);
          }
          const file = this.current!;
          if (this.options.maxFileRows !== null)
            j = Math.min(j, i + this.options.maxFileRows - file.rows);
          const pending = file.writer.write(sliceBatch(batch, i, j));
          if (pending) await pending;
          file.rows += j - i;
          inOpen += j - i;
        } catch (err) {
          await this.discard(err);
          throw this.writeError(err, holds ? front : i);
        }
        i = j;
      }
    } catch (err) {
      this.noteFailure(request, err);
      throw err;
    }
    if (!holds || inOpen === 0) return undefined;
    this.current!.held += inOpen;
    return { held: inOpen };
  }

  /**
   * With overlapping writes, a batch that failed is retried later by the runner while the writes
   * after it go on: those are failed too (to be retried after it), so they never land before it.
   */
  private holdBack(request: WriteRequest): void {
    if (this.toRetry.size === 0) return;
    this.toRetry.delete(request.batchId);
    for (const [id, error] of this.toRetry) {
      if (id < request.batchId) {
        throw new SinkWriteError(
          `file sink: held back until batch ${id} is retried (it failed: ${error})`,
          { retryable: true, delivered: 0 },
        );
      }
    }
  }

  private noteFailure(request: WriteRequest, err: unknown): void {
    if (!this.overlapping || request.attempt >= this.retryCount) return;
    if (err instanceof SinkWriteError && !err.retryable) return;
    if (!this.toRetry.has(request.batchId))
      this.toRetry.set(request.batchId, err instanceof Error ? err.message : String(err));
  }

  private windowOf(timestamp: number): number {
    const interval = this.options.rotationS;
    if (interval === null) return 0;
    if (!Number.isFinite(timestamp)) return this.current?.window ?? 0;
    return Math.floor(timestamp / interval);
  }

  /** True when the open file has reached `maxFileRows` or `maxFileAge`. */
  private full(file: OpenFile): boolean {
    const { maxFileRows, maxFileAgeS } = this.options;
    if (maxFileRows !== null && file.rows >= maxFileRows) return true;
    return maxFileAgeS !== null && performance.now() - file.openedAt >= maxFileAgeS * 1000;
  }

  /**
   * Completes the open file (Parquet: its footer), so its held records become delivered. A file
   * that cannot be completed is removed (no reader could read it) and its held records are lost.
   */
  private async complete(): Promise<void> {
    const done = this.current;
    if (!done) return;
    this.current = undefined;
    try {
      await done.writer.close();
    } catch (err) {
      await this.lose(done, err);
      throw err;
    }
    this.confirmHeld(done.held);
    this.logger.debug(`file sink: completed ${done.writer.path}`);
  }

  /** Starts the next file, for rotation window `window`. */
  private async open(window: number, firstTimestamp: number): Promise<void> {
    const interval = this.options.rotationS;
    const start =
      interval !== null
        ? window * interval
        : Number.isFinite(firstTimestamp)
          ? firstTimestamp
          : Date.now() / 1000;
    const writer = await this.openUnique(
      fileStem(start) + (this.shard?.id ? `_${this.shard.id}` : ''),
    );
    this.current = { writer, window, openedAt: performance.now(), rows: 0, held: 0 };
    this.created.push(writer.path);
    this.count('files');
    this.logger.info(`file sink: writing ${writer.path}`);
  }

  private async openUnique(stem: string): Promise<RecordFileWriter> {
    const ext = FILE_EXTENSIONS[this.options.format];
    for (let n = 0; ; n++) {
      const path = join(this.options.path, `${stem}${n === 0 ? '' : `_${n}`}.${ext}`);
      try {
        return await openRecordFile(path, this.options, this.parquet);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100_000) {
          throw err instanceof FileWriteError ? err : new FileWriteError(path, err);
        }
      }
    }
  }

  /**
   * Drops the open file after an error; the next write starts a new one. A text file keeps what
   * was delivered; a Parquet file without its footer is unreadable: removed, its records lost.
   */
  private async discard(err: unknown): Promise<void> {
    const open = this.current;
    this.current = undefined;
    if (!open) return;
    await open.writer.abort();
    if (this.options.format === 'parquet') await this.lose(open, err);
  }

  /** A Parquet file that will never be readable: removed, its held records counted failed. */
  private async lose(file: OpenFile, err: unknown): Promise<void> {
    if (this.options.format !== 'parquet') return;
    await unlink(file.writer.path).catch(() => {});
    const at = this.created.indexOf(file.writer.path);
    if (at >= 0) this.created.splice(at, 1);
    this.count('files_lost');
    const message = err instanceof Error ? err.message : String(err);
    this.loseHeld(
      file.held,
      new Error(
        `file sink: ${file.writer.path} lost (could not be completed; removed): ${message}`,
      ),
    );
  }

  private writeError(err: unknown, delivered: number): SinkWriteError {
    if (err instanceof SinkWriteError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new SinkWriteError(`file sink: ${message}`, {
      delivered,
      retryable: !isPermanentFsError(err),
      cause: err,
    });
  }
}
