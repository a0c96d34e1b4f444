import type { SensorRecord } from './models.js';

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

/** A JSON array of the records (`JSON.stringify(records)`), as UTF-8 bytes. */
export function encodeJsonArray(
  encoder: RecordTextEncoder,
  records: readonly SensorRecord[],
): Buffer {
  if (records.length === 0) return Buffer.from('[]');
  const items = encoder.encode(records);
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
  readonly industry: string;
  readonly unit: string;
  readonly sensorType: string;
  readonly min: number;
  readonly max: number;
  readonly nominal: number;
  readonly metadata: object;
  readonly head: Buffer;
  readonly middle: Buffer;
  readonly tail: Buffer;
  readonly endTrue: Buffer;
  readonly endFalse: Buffer;
}

const MAX_CHANNELS = 100_000;

/**
 * Encodes batches of records straight to UTF-8 bytes in a text layout (JSON Lines, CSV). The
 * constant bytes of each sensor channel are built once and copied; only the value and the
 * timestamp are formatted per record. About 2.5× faster than building the text as a string.
 *
 * @example
 * const encoder = new RecordTextEncoder(JSON_LINES_LAYOUT);
 * stream.write(encoder.encode(records));
 */
export class RecordTextEncoder {
  private channels = new Map<string, Map<string, ChannelBytes>>();
  private size = 0;
  private lastTimestamp = NaN;
  private lastTimestampText = '';

  constructor(private readonly layout: RecordTextLayout) {}

  /** The bytes of `records`, one after another; `ends[i]`, when given, receives the end offset of record i. */
  encode(records: readonly SensorRecord[], ends?: number[]): Buffer {
    let buf = Buffer.allocUnsafe(Math.max(1024, records.length * 320));
    let off = 0;
    const number = this.layout.number;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const c = this.channel(r);
      const value = number(r.value);
      if (r.timestamp !== this.lastTimestamp) {
        this.lastTimestamp = r.timestamp;
        this.lastTimestampText = number(r.timestamp);
      }
      const end = r.fault_active ? c.endTrue : c.endFalse;
      const need =
        c.head.length +
        c.middle.length +
        c.tail.length +
        end.length +
        3 * (value.length + this.lastTimestampText.length);
      if (off + need > buf.length) {
        const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, off + need));
        buf.copy(grown, 0, 0, off);
        buf = grown;
      }
      off += c.head.copy(buf, off);
      off += buf.write(value, off, 'latin1');
      off += c.middle.copy(buf, off);
      off += buf.write(this.lastTimestampText, off, 'latin1');
      off += c.tail.copy(buf, off);
      off += end.copy(buf, off);
      if (ends) ends.push(off);
    }
    return buf.subarray(0, off);
  }

  private channel(r: SensorRecord): ChannelBytes {
    let byName = this.channels.get(r.device_id);
    if (!byName) {
      byName = new Map();
      this.channels.set(r.device_id, byName);
    }
    const c = byName.get(r.sensor_name);
    if (
      c !== undefined &&
      c.industry === r.industry &&
      c.unit === r.unit &&
      c.sensorType === r.sensor_type &&
      c.min === r.min_value &&
      c.max === r.max_value &&
      c.nominal === r.nominal_value &&
      c.metadata === r.metadata
    ) {
      return c;
    }
    if (this.size >= MAX_CHANNELS) {
      this.channels.clear();
      this.size = 0;
      byName = new Map();
      this.channels.set(r.device_id, byName);
    }
    const l = this.layout;
    const made: ChannelBytes = {
      industry: r.industry,
      unit: r.unit,
      sensorType: r.sensor_type,
      min: r.min_value,
      max: r.max_value,
      nominal: r.nominal_value,
      metadata: r.metadata,
      head: Buffer.from(l.head(r)),
      middle: Buffer.from(l.middle(r)),
      tail: Buffer.from(l.tail(r)),
      endTrue: Buffer.from(l.end(r, true)),
      endFalse: Buffer.from(l.end(r, false)),
    };
    if (c === undefined) this.size++;
    byName.set(r.sensor_name, made);
    return made;
  }
}
