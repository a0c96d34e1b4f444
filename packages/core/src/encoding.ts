import { RecordBatch, type ReadingVisitor } from './frame.js';
import { SensorRecord, type RecordChannel } from './models.js';

/**
 * How a text format lays out one record. A record's text is
 * `head · value · middle · timestamp · tail · end(fault_active)`: everything but the value, the
 * timestamp and the fault flag is constant per sensor channel, so encoders build those bytes once.
 */
export interface RecordTextLayout {
  /** Text before the value (name, industry, device id). */
  head(r: SensorRecord): string;
  /** Text between the value and the timestamp (unit, sensor type). */
  middle(r: SensorRecord): string;
  /** Text between the timestamp and the fault flag (range, nominal). */
  tail(r: SensorRecord): string;
  /** The fault flag and everything after it, including the record separator. */
  end(r: SensorRecord, faultActive: boolean): string;
  /** A number as ASCII text (value and timestamp). */
  number(n: number): string;
}

function hasKeys(m: object): boolean {
  for (const key in m) if (Object.hasOwn(m, key)) return true;
  return false;
}

function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

/** Compact JSON (`recordToJson(record)`) with `separator` after each record. */
export function jsonLayout(separator: string): RecordTextLayout {
  return {
    head: (r) =>
      `{"sensor_name":${JSON.stringify(r.sensor_name)},"industry":${JSON.stringify(r.industry)},"device_id":${JSON.stringify(r.device_id)},"value":`,
    middle: (r) =>
      `,"unit":${JSON.stringify(r.unit)},"sensor_type":${JSON.stringify(r.sensor_type)},"timestamp":`,
    tail: (r) =>
      `,"min_value":${jsonNumber(r.min_value)},"max_value":${jsonNumber(r.max_value)},"nominal_value":${jsonNumber(r.nominal_value)},"fault_active":`,
    end: (r, fault) =>
      `${fault},"metadata":${hasKeys(r.metadata) ? JSON.stringify(r.metadata) : '{}'}}${separator}`,
    number: jsonNumber,
  };
}

/** JSON Lines: each record exactly `recordToJson(record)` followed by `\n`. */
export const JSON_LINES_LAYOUT: RecordTextLayout = jsonLayout('\n');

/** One compact JSON object per record, nothing between them: slice with `encode(records, ends)`. */
export const JSON_RECORD_LAYOUT: RecordTextLayout = jsonLayout('');

const JSON_ARRAY_ITEM_LAYOUT = jsonLayout(',');

/** A JSON array of the records (`JSON.stringify(records)`), as UTF-8 bytes; a batch is read from its frames. */
export function encodeJsonArray(
  encoder: RecordTextEncoder,
  records: readonly SensorRecord[] | RecordBatch,
): Buffer {
  const batch = records instanceof RecordBatch;
  if ((batch ? records.size : records.length) === 0) return Buffer.from('[]');
  const items = batch ? encoder.encodeBatch(records) : encoder.encode(records);
  // The items end with a comma: open the array in a new buffer and close it over that comma.
  const out = Buffer.allocUnsafe(items.length + 1);
  out[0] = 0x5b; // [
  items.copy(out, 1);
  out[out.length - 1] = 0x5d; // ]
  return out;
}

/** An encoder for `encodeJsonArray`. */
export function jsonArrayEncoder(): RecordTextEncoder {
  return new RecordTextEncoder(JSON_ARRAY_ITEM_LAYOUT);
}

const NEEDS_QUOTES = /[",\r\n]/;

/** A CSV field per RFC 4180: quoted (inner quotes doubled) only when it holds `,`, `"`, CR or LF. */
export function csvField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV rows in RECORD_FIELDS order, RFC 4180 quoting, `metadata` as a JSON string, LF line ends. */
export const CSV_LAYOUT: RecordTextLayout = {
  head: (r) => `${csvField(r.sensor_name)},${csvField(r.industry)},${csvField(r.device_id)},`,
  middle: (r) => `,${csvField(r.unit)},${csvField(r.sensor_type)},`,
  tail: (r) => `,${r.min_value},${r.max_value},${r.nominal_value},`,
  end: (r, fault) =>
    `${fault},${hasKeys(r.metadata) ? csvField(JSON.stringify(r.metadata)) : '{}'}\n`,
  number: String,
};

interface ChannelBytes {
  readonly head: Buffer;
  readonly middle: Buffer;
  readonly tail: Buffer;
  readonly endTrue: Buffer;
  readonly endFalse: Buffer;
}

/** Options of a RecordTextEncoder. */
export interface RecordTextEncoderOptions {
  /**
   * Return views of one buffer the encoder keeps and reuses: each result is valid only until the
   * next call. For callers that write the bytes out at once (a file); saves allocating and
   * collecting a buffer per batch. Default false: every result is a buffer of its own.
   */
  readonly reuseBuffer?: boolean;
}

/**
 * Encodes batches of records straight to UTF-8 bytes in a text layout (JSON Lines, CSV). The
 * constant bytes of each sensor channel are built once per channel (read from the run's channel
 * table) and copied; only the value and the timestamp are formatted per record. `encodeBatch`
 * reads a batch's frames directly and builds no record objects. A result's buffer is sized from
 * the bytes per record seen so far, so it is rarely regrown or oversized.
 *
 * @example
 * const encoder = new RecordTextEncoder(JSON_LINES_LAYOUT);
 * stream.write(encoder.encodeBatch(request.batch));
 */
export class RecordTextEncoder {
  private readonly byTable = new WeakMap<object, (ChannelBytes | undefined)[]>();
  private readonly standalone = new WeakMap<RecordChannel, ChannelBytes>();
  private lastTimestamp = NaN;
  private lastTimestampText = '';
  private buf: Buffer = EMPTY;
  private off = 0;
  private ends: number[] | undefined;
  /** The most bytes per record of any call so far (undefined before the first). */
  private perRecord: number | undefined;
  /** With reuseBuffer, `buf` is kept between calls. */
  private readonly reuse: boolean;

  constructor(
    private readonly layout: RecordTextLayout,
    options: RecordTextEncoderOptions = {},
  ) {
    this.reuse = options.reuseBuffer === true;
  }

  /** The bytes of `records`, one after another; `ends[i]`, when given, receives the end offset of record i. */
  encode(records: readonly SensorRecord[], ends?: number[]): Buffer {
    this.begin(records.length, ends);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      this.put(r.channel, r.value, r.timestamp, r.fault_active);
    }
    return this.finish(records.length);
  }

  /** The bytes of a write request's batch, read from its frames; `ends` as in `encode`. */
  encodeBatch(batch: RecordBatch, ends?: number[]): Buffer {
    this.begin(batch.size, ends);
    batch.forEach(this.visit);
    return this.finish(batch.size);
  }

  private readonly visit: ReadingVisitor = (channel, value, timestamp, fault) =>
    this.put(channel, value, timestamp, fault);

  private begin(n: number, ends: number[] | undefined): void {
    // A little over the largest bytes per record seen (a first guess before): regrowing stays rare.
    const perRecord = this.perRecord === undefined ? 320 : this.perRecord * 1.125;
    const want = Math.max(1024, Math.ceil(n * perRecord));
    if (!(this.reuse && this.buf.length >= want)) this.buf = Buffer.allocUnsafe(want);
    this.off = 0;
    this.ends = ends;
  }

  private finish(n: number): Buffer {
    if (n > 0) this.perRecord = Math.max(this.perRecord ?? 0, this.off / n);
    const out = this.buf.subarray(0, this.off);
    if (!this.reuse) this.buf = EMPTY;
    this.ends = undefined;
    return out;
  }

  private put(channel: RecordChannel, v: number, timestamp: number, fault: boolean): void {
    const number = this.layout.number;
    const c = this.bytesOf(channel);
    const value = number(v);
    if (timestamp !== this.lastTimestamp) {
      this.lastTimestamp = timestamp;
      this.lastTimestampText = number(timestamp);
    }
    const end = fault ? c.endTrue : c.endFalse;
    const need =
      c.head.length +
      c.middle.length +
      c.tail.length +
      end.length +
      3 * (value.length + this.lastTimestampText.length);
    let buf = this.buf;
    let off = this.off;
    if (off + need > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, off + need));
      buf.copy(grown, 0, 0, off);
      buf = this.buf = grown;
    }
    off += c.head.copy(buf, off);
    off += buf.write(value, off, 'latin1');
    off += c.middle.copy(buf, off);
    off += buf.write(this.lastTimestampText, off, 'latin1');
    off += c.tail.copy(buf, off);
    off += end.copy(buf, off);
    this.off = off;
    this.ends?.push(off);
  }

  private bytesOf(channel: RecordChannel): ChannelBytes {
    const table = channel.table;
    if (table !== undefined) {
      let list = this.byTable.get(table);
      if (!list) this.byTable.set(table, (list = []));
      return (list[channel.index] ??= this.make(channel));
    }
    let c = this.standalone.get(channel);
    if (!c) this.standalone.set(channel, (c = this.make(channel)));
    return c;
  }

  private make(channel: RecordChannel): ChannelBytes {
    const l = this.layout;
    const r = SensorRecord.view(channel, 0, 0, false);
    return {
      head: Buffer.from(l.head(r)),
      middle: Buffer.from(l.middle(r)),
      tail: Buffer.from(l.tail(r)),
      endTrue: Buffer.from(l.end(r, true)),
      endFalse: Buffer.from(l.end(r, false)),
    };
  }
}

const EMPTY = Buffer.allocUnsafe(0);
