import { open, type FileHandle } from 'node:fs/promises';
import type { RecordBatch, SensorRecord } from '@iotsim/core';
import type * as Arrow from 'apache-arrow';
import type * as ParquetWasm from 'parquet-wasm';
import {
  RecordBatchEncoder,
  RecordColumnBuilder,
  loadArrow,
  type ArrowModule,
  type RecordSchemaOptions,
} from './schema.js';

/** Parquet compression codecs. `lz4` writes LZ4_RAW, the codec current readers (pyarrow, Spark) expect. */
export type ParquetCompression = 'snappy' | 'zstd' | 'gzip' | 'lz4' | 'none';

/** Every codec name accepted by `compression`. */
export const PARQUET_COMPRESSIONS: readonly ParquetCompression[] = [
  'snappy',
  'zstd',
  'gzip',
  'lz4',
  'none',
];

/** Options of a Parquet record writer. */
export interface ParquetWriterOptions extends RecordSchemaOptions {
  /** Compression codec. Default `snappy`. */
  compression?: ParquetCompression;
  /** Rows per row group; a row group is written out as soon as it fills. Default 131,072. */
  rowGroupSize?: number;
}

/** What a finished Parquet file holds. */
export interface ParquetWriteResult {
  /** Rows written. */
  readonly rows: number;
  /** Bytes of the complete file, footer included. */
  readonly bytes: number;
}

/** Writes records into one Parquet file, a row group at a time. */
export interface ParquetRecordWriter {
  /** Appends records (one call at a time). Resolves once they are taken; the file lags by at most a row group. */
  write(records: readonly SensorRecord[]): Promise<void>;
  /**
   * Appends a write request's batch (`request.batch`), read straight from its frames without
   * building record objects; otherwise as `write`. Calls of `write` and `writeBatch` may be mixed.
   */
  writeBatch(batch: RecordBatch): Promise<void>;
  /** Writes the last row group and the footer, closes the output; the file is then complete. */
  close(): Promise<ParquetWriteResult>;
  /** Stops writing without completing the file (after an error); closes the output. */
  abort(reason?: unknown): Promise<void>;
  /** Rows accepted so far. */
  readonly rows: number;
  /** Bytes handed to the output so far. */
  readonly bytes: number;
}

/** Where Parquet bytes go: called in order, one chunk at a time (awaited: that is the backpressure). */
export interface ParquetByteSink {
  /** Writes one chunk completely. */
  write(chunk: Uint8Array): Promise<void>;
  /** Called once after the last chunk (also after an abort). */
  close(): Promise<void>;
}

/** The default rows per row group: bounded memory, and large enough for good compression. */
export const DEFAULT_ROW_GROUP_SIZE = 131_072;

/** Records are encoded into Arrow batches of this many rows (or a row group, if smaller). */
const ENCODE_ROWS = 8192;

type ParquetWasmModule = typeof ParquetWasm;

/**
 * Serialises a record batch as one Arrow IPC stream (schema, batch, end marker) into a buffer
 * that is reused by the next call: the result is valid until then. apache-arrow's stream writer
 * writes each piece through its `_write` (a protected method made to be overridden); here the
 * pieces are copied into the one buffer instead of queued and joined into a new one per batch.
 */
function ipcStreamSerializer(arrow: ArrowModule): (batch: Arrow.RecordBatch) => Uint8Array {
  let buf = new Uint8Array(1 << 20);
  let used = 0;
  class ReusingStreamWriter extends arrow.RecordBatchStreamWriter {
    protected override _write(chunk: unknown): this {
      if (!this._started) return this;
      if (!ArrayBuffer.isView(chunk)) throw new TypeError('Arrow IPC writer: unexpected chunk');
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (used + bytes.length > buf.length) {
        const grown = new Uint8Array(Math.max(buf.length * 2, used + bytes.length));
        grown.set(buf.subarray(0, used));
        buf = grown;
      }
      buf.set(bytes, used);
      used += bytes.length;
      this._position += bytes.length;
      return this;
    }
  }
  return (batch) => {
    used = 0;
    new ReusingStreamWriter().writeAll([batch]);
    return buf.subarray(0, used);
  };
}
let wasmModule: Promise<ParquetWasmModule> | undefined;

/**
 * Loads parquet-wasm once. Its Node build (picked by the `node` export condition) is CommonJS and
 * instantiates the WebAssembly module synchronously when loaded: there is no init function to call.
 */
export function loadParquetWasm(): Promise<ParquetWasmModule> {
  wasmModule ??= import('parquet-wasm');
  return wasmModule;
}

function codec(pw: ParquetWasmModule, compression: ParquetCompression): ParquetWasm.Compression {
  switch (compression) {
    case 'snappy':
      return pw.Compression.SNAPPY;
    case 'zstd':
      return pw.Compression.ZSTD;
    case 'gzip':
      return pw.Compression.GZIP;
    case 'lz4':
      return pw.Compression.LZ4_RAW;
    case 'none':
      return pw.Compression.UNCOMPRESSED;
  }
}

/**
 * Streams records into Parquet through `output`. Built on parquet-wasm's `transformParquetStream`
 * (arrow-rs's ArrowWriter): each row group is encoded and emitted as soon as `rowGroupSize` rows
 * have arrived, and only the footer waits for `close()`, so memory stays bounded by one row group
 * whatever the file size, and nothing is ever re-read or rewritten.
 */
export async function createParquetWriter(
  output: ParquetByteSink,
  options: ParquetWriterOptions = {},
): Promise<ParquetRecordWriter> {
  const compression = options.compression ?? 'snappy';
  if (!PARQUET_COMPRESSIONS.includes(compression)) {
    throw new TypeError(
      `compression: must be one of ${PARQUET_COMPRESSIONS.join(', ')}, got ${String(compression)}`,
    );
  }
  const rowGroupSize = options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE;
  if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) {
    throw new TypeError(`rowGroupSize: must be a whole number >= 1, got ${rowGroupSize}`);
  }
  const [arrow, pw] = await Promise.all([loadArrow(), loadParquetWasm()]);
  const encoder = new RecordBatchEncoder(arrow, options);
  const properties = new pw.WriterPropertiesBuilder()
    .setCompression(codec(pw, compression))
    .setMaxRowGroupSize(rowGroupSize)
    .setCreatedBy('iotsim (parquet-wasm)')
    .build();
  return new StreamingParquetWriter(arrow, pw, encoder, properties, output, rowGroupSize);
}

class StreamingParquetWriter implements ParquetRecordWriter {
  rows = 0;
  bytes = 0;
  private controller!: ReadableStreamDefaultController<ParquetWasm.RecordBatch>;
  /** Writes waiting for the encoder to take more (several, when writes overlap). */
  private pulled: (() => void)[] = [];
  private failure: unknown;
  private failed: Promise<never>;
  private readonly pipe: Promise<void>;
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** Rows taken but not yet handed to the Parquet encoder, as Arrow columns being filled. */
  private pending: RecordColumnBuilder;
  private readonly toIpc: (batch: Arrow.RecordBatch) => Uint8Array;

  constructor(
    arrow: ArrowModule,
    private readonly pw: ParquetWasmModule,
    encoder: RecordBatchEncoder,
    properties: ParquetWasm.WriterProperties,
    private readonly output: ParquetByteSink,
    rowGroupSize: number,
  ) {
    this.toIpc = ipcStreamSerializer(arrow);
    this.pending = new RecordColumnBuilder(
      arrow,
      encoder.columns,
      encoder.schema,
      Math.min(ENCODE_ROWS, rowGroupSize),
      // enqueue() serialises each built batch before the next append: one set of arrays serves all.
      true,
    );
    const input = new ReadableStream<ParquetWasm.RecordBatch>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          for (const wake of this.pulled.splice(0)) wake();
        },
      },
      { highWaterMark: 1 },
    );
    // The transform resolves only once the first batch has arrived (it needs the schema).
    this.pipe = pw.transformParquetStream(input, properties).then(async (bytes) => {
      const reader = bytes.getReader();
      for (;;) {
        const { done, value } = (await reader.read()) as { done: boolean; value: Uint8Array };
        if (done) return;
        await this.output.write(value);
        this.bytes += value.length;
      }
    });
    this.failed = this.pipe.then(
      () => new Promise<never>(() => {}),
      (err: unknown) => {
        this.failure = err;
        throw err;
      },
    );
    this.failed.catch(() => {});
  }

  write(records: readonly SensorRecord[]): Promise<void> {
    return this.take(records.length, (from, to) =>
      this.pending.appendRecordList(records, from, to),
    );
  }

  writeBatch(batch: RecordBatch): Promise<void> {
    return this.take(batch.size, (from, to) => this.pending.append(batch, from, to));
  }

  /**
   * Copies `n` rows into the pending columns (`append(from, to)` takes what fits) and hands each
   * full set of columns to the encoder. Rows are gathered first because each Arrow batch costs a
   * fixed IPC and WebAssembly round trip; held rows are no less durable than rows of an
   * unfinished row group.
   */
  private async take(n: number, append: (from: number, to: number) => number): Promise<void> {
    if (this.state !== 'open') throw new Error('parquet writer: write after close');
    if (this.failure !== undefined) throw this.failure;
    if (n === 0) return;
    this.rows += n;
    let full = false;
    for (let done = 0; done < n;) {
      done += append(done, n);
      if (this.pending.room === 0) {
        this.enqueue(this.pending.build());
        full = true;
      }
    }
    if (full && (this.controller.desiredSize ?? 0) <= 0) {
      const room = new Promise<void>((resolve) => this.pulled.push(resolve));
      await Promise.race([room, this.failed]);
    }
  }

  private enqueue(batch: Arrow.RecordBatch): void {
    // fromIPCStream copies the bytes into WebAssembly memory: the serialiser's buffer is free again.
    const table = this.pw.Table.fromIPCStream(this.toIpc(batch));
    try {
      for (const b of table.recordBatches()) this.controller.enqueue(b);
    } finally {
      table.free();
    }
  }

  async close(): Promise<ParquetWriteResult> {
    if (this.state !== 'open') throw new Error('parquet writer: already closed');
    this.state = 'closing';
    try {
      // A file with no rows still needs its schema: one zero-row batch.
      if (this.failure === undefined && (this.pending.length > 0 || this.rows === 0)) {
        this.enqueue(this.pending.build());
      }
      this.controller.close();
      await this.pipe;
    } catch (err) {
      this.state = 'closed';
      await this.output.close().catch(() => {});
      throw err;
    }
    this.state = 'closed';
    await this.output.close();
    return { rows: this.rows, bytes: this.bytes };
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    try {
      this.controller.error(reason ?? new Error('parquet writer aborted'));
    } catch {
      // already closed or errored
    }
    await this.pipe.catch(() => {});
    await this.output.close();
  }
}

/** Options of a Parquet file writer. */
export interface ParquetFileWriterOptions extends ParquetWriterOptions {
  /** Fail instead of replacing an existing file. Default true. */
  exclusive?: boolean;
}

/**
 * Creates a Parquet file at `path` and returns a writer that appends row groups to it as records
 * arrive. `close()` writes the footer; until then the file is incomplete.
 *
 * @example
 * const writer = await createParquetFileWriter('out/data.parquet', { compression: 'zstd' });
 * await writer.write(records);
 * const { rows, bytes } = await writer.close();
 */
export async function createParquetFileWriter(
  path: string,
  options: ParquetFileWriterOptions = {},
): Promise<ParquetRecordWriter> {
  // Load the engine before creating the file, so a missing dependency leaves no empty file behind.
  await Promise.all([loadArrow(), loadParquetWasm()]);
  const handle = await open(path, options.exclusive === false ? 'w' : 'wx');
  try {
    return await createParquetWriter(fileByteSink(handle, path), options);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** A ParquetByteSink writing to an open file; errors name the file. */
export function fileByteSink(handle: FileHandle, path: string): ParquetByteSink {
  let closed = false;
  return {
    async write(chunk) {
      try {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      } catch (err) {
        throw withPath(err, path);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await handle.close();
      } catch (err) {
        throw withPath(err, path);
      }
    },
  };
}

function withPath(err: unknown, path: string): Error {
  const e = err as NodeJS.ErrnoException;
  const error = new Error(`writing ${path}: ${e?.message ?? String(err)}`, { cause: err });
  if (e?.code) (error as NodeJS.ErrnoException).code = e.code;
  return error;
}
