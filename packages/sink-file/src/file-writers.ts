import { writeSync } from 'node:fs';
import { open, truncate, unlink, type FileHandle } from 'node:fs/promises';
import {
  CSV_LAYOUT,
  IotSimError,
  JSON_LINES_LAYOUT,
  RecordTextEncoder,
  type RecordBatch,
} from '@iotsim/core';
import type * as Parquet from '@iotsim/parquet';
import { CSV_HEADER } from './text-format.js';
import type { ResolvedFileSinkOptions } from './options.js';

/** One open output file. */
export interface RecordFileWriter {
  /** The file's path. */
  readonly path: string;
  /**
   * Appends readings. Text: written before this returns (undefined), or throws. Parquet: a
   * promise that resolves once they are encoded.
   */
  write(batch: RecordBatch): Promise<void> | undefined;
  /** Completes the file (Parquet: last row group and footer) and closes it. */
  close(): Promise<void>;
  /** Closes the file without completing it, after an error. Never throws. */
  abort(): Promise<void>;
}

/**
 * A file error whose message names the path, keeping the errno `code`. Not a SinkWriteError on
 * purpose: the sink wraps it in one whose `retryable` comes from the code (EACCES no, ENOSPC yes)
 * and whose `delivered` counts what landed.
 */
export class FileWriteError extends IotSimError {
  readonly code: string | undefined;
  constructor(path: string, err: unknown) {
    const e = err as NodeJS.ErrnoException;
    const msg = e?.message ?? String(err);
    super(msg.includes(path) ? msg : `${path}: ${msg}`, { cause: err });
    this.code = e?.code;
  }
}

/**
 * CSV or JSON Lines. Each batch is encoded into one chunk straight from the batch's frames and
 * handed to the kernel with one synchronous write(2), so `write` returns once the chunk is in the
 * file (the page cache: microseconds) and the next batch follows without a thread-pool round trip
 * and an event-loop turn per batch. A disk error is reported for the batch it hit.
 */
class TextFileWriter implements RecordFileWriter {
  private readonly encoder: RecordTextEncoder;
  private failure: FileWriteError | undefined;
  /** Bytes of whole chunks (header, batches) that reached the file. */
  private written = 0;
  /** Records in those chunks. */
  private records = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    format: 'csv' | 'json',
  ) {
    // The chunk is in the file before write() returns, so one buffer serves every batch.
    this.encoder = new RecordTextEncoder(format === 'csv' ? CSV_LAYOUT : JSON_LINES_LAYOUT, {
      reuseBuffer: true,
    });
  }

  static async create(path: string, format: 'csv' | 'json'): Promise<TextFileWriter> {
    const handle = await open(path, 'wx');
    const writer = new TextFileWriter(path, handle, format);
    if (format === 'csv') {
      try {
        writer.put(Buffer.from(CSV_HEADER));
      } catch (err) {
        await writer.abort();
        throw err;
      }
    }
    return writer;
  }

  write(batch: RecordBatch): undefined {
    this.put(this.encoder.encodeBatch(batch));
    this.records += batch.size;
    return undefined;
  }

  /** Writes a chunk completely, or throws. */
  private put(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    const fd = this.handle.fd;
    try {
      for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off, chunk.length - off);
    } catch (err) {
      throw (this.failure = new FileWriteError(this.path, err));
    }
    this.written += chunk.length;
  }

  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) return;
    this.closed = true;
    try {
      await this.handle.close();
    } catch (err) {
      throw new FileWriteError(this.path, err);
    }
  }

  /**
   * After an error the file keeps only what was delivered: cut back to the last whole batch (a
   * failed chunk may have landed in part, e.g. on ENOSPC), or removed when it holds no record.
   */
  async abort(): Promise<void> {
    this.failure ??= new FileWriteError(this.path, new Error('file abandoned after an error'));
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => {});
    }
    try {
      if (this.records === 0) await unlink(this.path);
      else await truncate(this.path, this.written);
    } catch {
      // Best effort: the write error that led here is what gets reported.
    }
  }
}

/** Parquet: the batch's columns are read straight from its frames into the streaming writer. */
class ParquetFileWriter implements RecordFileWriter {
  constructor(
    readonly path: string,
    private readonly writer: Parquet.ParquetRecordWriter,
  ) {}

  async write(batch: RecordBatch): Promise<void> {
    try {
      await this.writer.writeBatch(batch);
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
