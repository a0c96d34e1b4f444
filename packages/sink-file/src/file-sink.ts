import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ConfigError,
  Sink,
  SinkConnectError,
  SinkWriteError,
  isModuleMissing,
  parseSinkOptions,
  type SensorRecord,
} from '@iotsim/core';
import type * as Parquet from '@iotsim/parquet';
import { FileWriteError, openRecordFile, type RecordFileWriter } from './file-writers.js';
import {
  FILE_EXTENSIONS,
  readFileSinkOptions,
  type FileSinkOptions,
  type ResolvedFileSinkOptions,
} from './options.js';

/** Errors that no retry can fix: the batch fails at once. */
const PERMANENT_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG']);

/** `sensor_data_20240131_235900`: the original's file name stem, in UTC. */
export function fileStem(epochSeconds: number): string {
  const iso = new Date(Math.floor(epochSeconds) * 1000).toISOString(); // 2024-01-31T23:59:00.000Z
  return `sensor_data_${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

interface OpenFile {
  readonly writer: RecordFileWriter;
  /** Rotation window index (`floor(timestamp / interval)`), 0 without rotation. */
  readonly window: number;
}

/**
 * Writes records to CSV, JSON Lines or Parquet files in a directory, optionally starting a new file
 * every rotation interval of record time (so a backfill of a week with `rotation: '1d'` gives
 * seven daily files). Files are named `sensor_data_<YYYYmmdd_HHMMSS>.<csv|jsonl|parquet>` after
 * the start of their window (UTC), with `_1`, `_2`, ... when a name is taken; existing files are
 * never overwritten. A file is completed (Parquet footer written) before the next one starts.
 *
 * @example
 * const sink = new FileSink({ path: './data', format: 'parquet', rotation: '1h', compression: 'zstd' });
 * sim.addSink(sink);
 */
export class FileSink extends Sink {
  readonly type = 'file';
  /** Validated options. */
  readonly options: ResolvedFileSinkOptions;
  private parquet: typeof Parquet | undefined;
  private current: OpenFile | undefined;
  private readonly created: string[] = [];

  constructor(options: FileSinkOptions = {}) {
    const { throughput, own } = parseSinkOptions(options, readFileSinkOptions);
    if (throughput.maxInFlight > 1) {
      throw new ConfigError([
        {
          path: 'maxInFlight',
          message: `must be 1 for the file sink (it appends batches in order), got ${throughput.maxInFlight}`,
        },
      ]);
    }
    super(throughput);
    this.options = own;
  }

  /** Paths of every file this sink has created, in order. */
  get files(): readonly string[] {
    return this.created;
  }

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
      try {
        this.parquet = await import('@iotsim/parquet');
        await Promise.all([this.parquet.loadParquetWasm(), this.parquet.loadArrow()]);
      } catch (err) {
        const missing = ['@iotsim/parquet', 'parquet-wasm', 'apache-arrow'].find((p) =>
          isModuleMissing(err, p),
        );
        if (missing) {
          throw new SinkConnectError(
            'file',
            `format 'parquet' needs ${missing}, which is not installed; install it with: npm install ${missing}`,
            { cause: err },
          );
        }
        throw err;
      }
    }
    this.logger.debug(`file sink: writing ${this.options.format} files to ${dir}`);
  }

  async write(records: readonly SensorRecord[]): Promise<void> {
    const interval = this.options.rotationS;
    let i = 0;
    while (i < records.length) {
      const first = records[i]!.timestamp;
      const w = this.windowOf(first);
      // Records of the open file's window (or late ones) stay in it; a later window rotates.
      const target = this.current && !(w > this.current.window) ? this.current.window : w;
      let j = i + 1;
      if (interval === null) j = records.length;
      else while (j < records.length && !(this.windowOf(records[j]!.timestamp) > target)) j++;
      try {
        const file = await this.fileFor(target, first);
        await file.write(i === 0 && j === records.length ? records : records.slice(i, j));
      } catch (err) {
        await this.discard();
        throw this.writeError(err, i);
      }
      i = j;
    }
  }

  /** Completes the open file: the text flushed, the Parquet footer written. */
  override async close(): Promise<void> {
    const open = this.current;
    this.current = undefined;
    if (open) await open.writer.close();
  }

  override describe(): string {
    const rotation = this.options.rotation ? `, rotation ${this.options.rotation}` : '';
    const codec = this.options.format === 'parquet' ? ` ${this.options.compression}` : '';
    return `file (${this.options.format}${codec} → ${this.options.path}${rotation})`;
  }

  private windowOf(timestamp: number): number {
    const interval = this.options.rotationS;
    if (interval === null) return 0;
    if (!Number.isFinite(timestamp)) return this.current?.window ?? 0;
    return Math.floor(timestamp / interval);
  }

  private async fileFor(window: number, firstTimestamp: number): Promise<RecordFileWriter> {
    if (this.current?.window === window) return this.current.writer;
    if (this.current) {
      // Complete the previous file before starting the next: a crash can only hurt the open one.
      const done = this.current;
      this.current = undefined;
      await done.writer.close();
      this.logger.debug(`file sink: completed ${done.writer.path}`);
    }
    const interval = this.options.rotationS;
    const start =
      interval !== null
        ? window * interval
        : Number.isFinite(firstTimestamp)
          ? firstTimestamp
          : Date.now() / 1000;
    const writer = await this.openUnique(fileStem(start));
    this.current = { writer, window };
    this.created.push(writer.path);
    this.logger.info(`file sink: writing ${writer.path}`);
    return writer;
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

  /** Drops the open file after an error (it stays on disk, incomplete); the next write starts a new one. */
  private async discard(): Promise<void> {
    const open = this.current;
    this.current = undefined;
    if (open) await open.writer.abort();
  }

  private writeError(err: unknown, delivered: number): SinkWriteError {
    const code = (err as { code?: string }).code;
    const message = err instanceof Error ? err.message : String(err);
    return new SinkWriteError(`file sink: ${message}`, {
      delivered,
      retryable: !(code !== undefined && PERMANENT_CODES.has(code)),
      cause: err,
    });
  }
}
