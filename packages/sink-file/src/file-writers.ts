import type { WriteStream } from 'node:fs';
import { open, truncate, unlink } from 'node:fs/promises';
import { CSV_LAYOUT, JSON_LINES_LAYOUT, RecordTextEncoder, type SensorRecord } from '@iotsim/core';
import type * as Parquet from '@iotsim/parquet';
import { CSV_HEADER } from './text-format.js';
import type { ResolvedFileSinkOptions } from './options.js';

/** One open output file. */
export interface RecordFileWriter {
  /** The file's path. */
  readonly path: string;
  /** Appends records; resolves once they are written (text) or encoded (Parquet). */
  write(records: readonly SensorRecord[]): Promise<void>;
  /** Completes the file (Parquet: last row group and footer) and closes it. */
  close(): Promise<void>;
  /** Closes the file without completing it, after an error. Never throws. */
  abort(): Promise<void>;
}

/** A file error whose message names the path, keeping the errno `code`. */
export class FileWriteError extends Error {
  readonly code: string | undefined;
  constructor(path: string, err: unknown) {
    const e = err as NodeJS.ErrnoException;
    const msg = e?.message ?? String(err);
    super(msg.includes(path) ? msg : `${path}: ${msg}`, { cause: err });
    this.name = 'FileWriteError';
    this.code = e?.code;
  }
}

/**
 * CSV or JSON Lines through a Node write stream: one stream write per batch (never per record),
 * and `write` resolves when that chunk has reached the file, so at most one batch is in memory and
 * a disk error is reported for the batch it hit.
 */
class TextFileWriter implements RecordFileWriter {
  private readonly encoder: RecordTextEncoder;
  private failure: FileWriteError | undefined;
  /** Bytes of whole chunks (header, batches) that reached the file. */
  private written = 0;
  /** Records in those chunks. */
  private records = 0;

  constructor(
    readonly path: string,
    private readonly stream: WriteStream,
    format: 'csv' | 'json',
  ) {
    this.encoder = new RecordTextEncoder(format === 'csv' ? CSV_LAYOUT : JSON_LINES_LAYOUT);
    stream.on('error', (err) => {
      this.failure ??= new FileWriteError(path, err);
    });
  }

  static async create(path: string, format: 'csv' | 'json'): Promise<TextFileWriter> {
    const handle = await open(path, 'wx');
    const stream = handle.createWriteStream({ highWaterMark: 1 << 20 });
    const writer = new TextFileWriter(path, stream, format);
    if (format === 'csv') {
      try {
        await writer.put(CSV_HEADER);
      } catch (err) {
        await writer.abort();
        throw err;
      }
    }
    return writer;
  }

  async write(records: readonly SensorRecord[]): Promise<void> {
    await this.put(this.encoder.encode(records));
    this.records += records.length;
  }

  private put(text: string | Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.stream.write(text, (err) => {
        if (err) reject((this.failure ??= new FileWriteError(this.path, err)));
        else {
          this.written += Buffer.byteLength(text);
          resolve();
        }
      });
    });
  }

  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) =>
        err ? reject(new FileWriteError(this.path, err)) : resolve(),
      );
    });
    await this.closed();
  }

  /**
   * After an error the file keeps only what was delivered: cut back to the last whole batch (a
   * failed chunk may have landed in part, e.g. on ENOSPC), or removed when it holds no record.
   */
  async abort(): Promise<void> {
    this.stream.destroy();
    await this.closed().catch(() => {});
    try {
      if (this.records === 0) await unlink(this.path);
      else await truncate(this.path, this.written);
    } catch {
      // Best effort: the write error that led here is what gets reported.
    }
  }

  private closed(): Promise<void> {
    if (this.stream.closed) return Promise.resolve();
    return new Promise((resolve) => this.stream.once('close', () => resolve()));
  }
}

class ParquetFileWriter implements RecordFileWriter {
  constructor(
    readonly path: string,
    private readonly writer: Parquet.ParquetRecordWriter,
  ) {}

  async write(records: readonly SensorRecord[]): Promise<void> {
    try {
      await this.writer.write(records);
    } catch (err) {
      throw new FileWriteError(this.path, err);
    }
  }

  async close(): Promise<void> {
    try {
      await this.writer.close();
    } catch (err) {
      throw new FileWriteError(this.path, err);
    }
  }

  async abort(): Promise<void> {
    await this.writer.abort().catch(() => {});
  }
}

/** Opens a new file (exclusively: an existing file raises EEXIST) for the sink's format. */
export async function openRecordFile(
  path: string,
  options: ResolvedFileSinkOptions,
  parquet: typeof Parquet | undefined,
): Promise<RecordFileWriter> {
  if (options.format !== 'parquet') return TextFileWriter.create(path, options.format);
  const writer = await parquet!.createParquetFileWriter(path, {
    compression: options.compression,
    timestampType: options.timestampType,
    rowGroupSize: options.rowGroupSize,
  });
  return new ParquetFileWriter(path, writer);
}
