import type { SensorRecord } from '../models.js';
import { JSON_LINES_LAYOUT, RecordTextEncoder } from '../encoding.js';
import { SinkWriteError } from '../errors.js';
import { opt, v, type InputOf } from '../schema.js';
import { parseSinkOptions, Sink, type WriteRequest } from '../sink.js';

/** Something text can be written to: `process.stdout`, a file stream, or an object with `write`. */
export interface TextStream {
  write(chunk: string | Uint8Array): unknown;
  once?(event: 'drain' | 'error' | 'close', listener: (err?: Error) => void): unknown;
  on?(event: 'error', listener: (err?: Error) => void): unknown;
  removeListener?(event: 'drain' | 'error' | 'close', listener: (err?: Error) => void): unknown;
  /** Node streams set this once they cannot be written any more. */
  readonly destroyed?: boolean;
}

const ConsoleSinkSchema = opt.object({
  /** `text` (one aligned line per record) or `json` (one JSON object per line). Default `text`. */
  fmt: v.nullish(opt.oneOf(['text', 'json']), 'text'),
  /** Where to write. Default `process.stdout`. */
  stream: v.optional(
    opt.code<TextStream>(
      'a stream with write()',
      (s) => typeof (s as { write?: unknown } | null)?.write === 'function',
    ),
  ),
});

/** Options of ConsoleSink. */
export type ConsoleSinkOptions = InputOf<typeof ConsoleSinkSchema>;

/** Formats a record like the original's console output. */
export function formatRecordText(r: SensorRecord): string {
  const fault = r.fault_active ? '  FAULT' : '';
  return `[${r.industry}/${r.sensor_name}] ${r.value.toFixed(3).padStart(12)} ${r.unit.padEnd(8)} (type=${r.sensor_type})${fault}`;
}

/**
 * Prints records to stdout or another stream, as aligned text or JSON lines. Honours the stream's
 * backpressure (waits for `drain`).
 *
 * @example
 * sim.addSink(new ConsoleSink({ fmt: 'json', rateHz: 1 }));
 */
export class ConsoleSink extends Sink {
  static override readonly type = 'console';
  static override readonly schema = ConsoleSinkSchema;
  static override readonly capabilities = {
    ordered: true,
    maxInFlight: 1,
    defaultInFlight: 1,
    idempotentRetry: false,
    singleton: true,
  };
  readonly fmt: 'text' | 'json';
  private readonly stream: TextStream;
  private encoder: RecordTextEncoder | undefined;
  /** Set when the reader closed the stream (`iotsim … | head`): nothing more can be written. */
  private closedBy: Error | undefined;
  private readonly onStreamError = (err?: Error): void => this.closedByReader(err);

  constructor(options: ConsoleSinkOptions = {}) {
    super();
    const own = parseSinkOptions(ConsoleSinkSchema, options);
    this.fmt = own.fmt;
    this.stream = own.stream ?? process.stdout;
  }

  async connect(): Promise<void> {
    // A closed pipe is reported as an 'error' event after the write; keep it for the next write.
    this.stream.on?.('error', this.onStreamError);
  }

  override async close(): Promise<void> {
    this.stream.removeListener?.('error', this.onStreamError);
  }

  private closedByReader(err: Error | undefined): void {
    if (this.closedBy) return;
    this.closedBy = err ?? new Error('closed');
    this.count('output_closed');
  }

  /** True once the reader closed the output (EPIPE): the sink has ended, the run goes on. */
  get outputClosed(): boolean {
    return this.closedBy !== undefined || this.stream.destroyed === true;
  }

  async write(request: WriteRequest): Promise<void> {
    if (this.outputClosed) {
      this.closedByReader(undefined);
      const why = (this.closedBy as NodeJS.ErrnoException | undefined)?.code ?? 'closed';
      throw new SinkWriteError(
        `console: the reader closed the output (${why}); nothing more is written to it`,
        { endsSink: true },
      );
    }
    let text: string | Buffer;
    if (this.fmt === 'json') {
      text = (this.encoder ??= new RecordTextEncoder(JSON_LINES_LAYOUT)).encodeBatch(request.batch);
    } else {
      text = '';
      for (const r of request.records) text += formatRecordText(r) + '\n';
    }
    const stream = this.stream;
    const ok = stream.write(text);
    if (ok === false && stream.once) {
      // Wait for room, but give up when the stream fails or closes (e.g. `iotsim | head`).
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          for (const e of ['drain', 'error', 'close'] as const) stream.removeListener?.(e, done);
          if (err || stream.destroyed) {
            this.closedByReader(err);
            reject(
              new SinkWriteError(`console: output stream failed: ${err?.message ?? 'closed'}`, {
                endsSink: true,
              }),
            );
          } else resolve();
        };
        stream.once!('drain', done);
        stream.once!('error', done);
        stream.once!('close', done);
      });
    }
  }

  override describe(): string {
    return `console (${this.fmt})`;
  }
}
