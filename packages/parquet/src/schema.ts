import {
  RECORD_FIELDS,
  type Frame,
  type RecordBatch,
  type RecordChannel,
  type SensorRecord,
} from '@iotsim/core';
import type * as Arrow from 'apache-arrow';

/** How the `timestamp` column is stored. */
export type ParquetTimestampType = 'double' | 'timestamp';

/** The Parquet/Arrow type of one record column. */
export type RecordColumnType = 'utf8' | 'double' | 'boolean' | 'timestamp_us_utc';

/** Which columns a record batch holds and how `timestamp` is typed. */
export interface RecordSchemaOptions {
  /** `double`: epoch seconds as DOUBLE (the original's format); `timestamp`: TIMESTAMP(MICROS, UTC). Default `double`. */
  timestampType?: ParquetTimestampType;
  /** Record fields left out of the file, e.g. a Delta table's partition columns. Default none. */
  omitColumns?: readonly string[];
}

/** One column of the record schema. */
export interface RecordColumn {
  /** Column name: the record field name. */
  readonly name: (typeof RECORD_FIELDS)[number];
  /** Storage type. */
  readonly type: RecordColumnType;
}

const BASE_TYPES: Readonly<Record<(typeof RECORD_FIELDS)[number], RecordColumnType>> = {
  sensor_name: 'utf8',
  industry: 'utf8',
  device_id: 'utf8',
  value: 'double',
  unit: 'utf8',
  sensor_type: 'utf8',
  timestamp: 'double',
  min_value: 'double',
  max_value: 'double',
  nominal_value: 'double',
  fault_active: 'boolean',
  metadata: 'utf8',
};

/**
 * The columns a record file holds, in RECORD_FIELDS order, without loading Arrow: strings UTF8,
 * numbers DOUBLE, `fault_active` BOOLEAN, `metadata` a JSON string, `timestamp` as chosen.
 * Throws a TypeError for an unknown name in `omitColumns`.
 */
export function recordColumns(options: RecordSchemaOptions = {}): RecordColumn[] {
  const omit = new Set(options.omitColumns ?? []);
  for (const name of omit) {
    if (!(RECORD_FIELDS as readonly string[]).includes(name)) {
      throw new TypeError(
        `omitColumns: '${name}' is not a record field (fields: ${RECORD_FIELDS.join(', ')})`,
      );
    }
  }
  return RECORD_FIELDS.filter((name) => !omit.has(name)).map((name) => ({
    name,
    type:
      name === 'timestamp' && options.timestampType === 'timestamp'
        ? 'timestamp_us_utc'
        : BASE_TYPES[name],
  }));
}

/** The lazily loaded apache-arrow module. */
export type ArrowModule = typeof Arrow;

let arrowModule: Promise<ArrowModule> | undefined;

/** Loads apache-arrow once (it is imported only when Parquet is used). */
export function loadArrow(): Promise<ArrowModule> {
  arrowModule ??= import('apache-arrow');
  return arrowModule;
}

function arrowType(arrow: ArrowModule, type: RecordColumnType): Arrow.DataType {
  switch (type) {
    case 'utf8':
      return new arrow.Utf8();
    case 'double':
      return new arrow.Float64();
    case 'boolean':
      return new arrow.Bool();
    case 'timestamp_us_utc':
      return new arrow.TimestampMicrosecond('UTC');
  }
}

/** The Arrow schema of record batches (fields nullable, as pyarrow and delta-rs write them). */
export async function recordSchema(options: RecordSchemaOptions = {}): Promise<Arrow.Schema> {
  const arrow = await loadArrow();
  return buildSchema(arrow, recordColumns(options));
}

function buildSchema(arrow: ArrowModule, columns: readonly RecordColumn[]): Arrow.Schema {
  return new arrow.Schema(
    columns.map((c) => new arrow.Field(c.name, arrowType(arrow, c.type), true)),
  );
}

/**
 * Converts records to Arrow column data. Built directly from typed arrays (no per-value builders):
 * this is the hot path of every Parquet write.
 */
export class RecordBatchEncoder {
  readonly columns: readonly RecordColumn[];
  readonly schema: Arrow.Schema;
  private buffer: Buffer = Buffer.allocUnsafe(1 << 16);

  constructor(
    private readonly arrow: ArrowModule,
    options: RecordSchemaOptions = {},
  ) {
    this.columns = recordColumns(options);
    this.schema = buildSchema(arrow, this.columns);
  }

  /** One Arrow RecordBatch holding `records`. */
  encode(records: readonly SensorRecord[]): Arrow.RecordBatch {
    const a = this.arrow;
    const n = records.length;
    const children = this.columns.map((c) => this.column(c, records, n));
    const data = a.makeData({ type: new a.Struct(this.schema.fields), length: n, children });
    return new a.RecordBatch(this.schema, data);
  }

  /**
   * One Arrow RecordBatch holding a write request's batch, read straight from its frames (no
   * record objects): per-channel columns are copied from bytes built once per channel table.
   */
  encodeBatch(batch: RecordBatch): Arrow.RecordBatch {
    const builder = new RecordColumnBuilder(this.arrow, this.columns, this.schema, batch.size);
    builder.append(batch, 0, batch.size);
    return builder.build();
  }

  private column(c: RecordColumn, records: readonly SensorRecord[], n: number): Arrow.Data {
    const a = this.arrow;
    const name = c.name;
    switch (c.type) {
      case 'double': {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = records[i]![name] as number;
        return a.makeData({ type: new a.Float64(), length: n, data: out });
      }
      case 'boolean': {
        const bits = new Uint8Array((n + 7) >> 3);
        for (let i = 0; i < n; i++) if (records[i]![name]) bits[i >> 3]! |= 1 << (i & 7);
        return a.makeData({ type: new a.Bool(), length: n, data: bits });
      }
      case 'timestamp_us_utc': {
        // Two 32-bit halves per value: exact for |micros| < 2^53 and far faster than BigInt.
        const words = new Int32Array(n * 2);
        for (let i = 0; i < n; i++) {
          const us = Math.round(records[i]!.timestamp * 1e6);
          const hi = Math.floor(us / 4294967296);
          words[2 * i] = us - hi * 4294967296;
          words[2 * i + 1] = hi;
        }
        return a.makeData({
          type: new a.TimestampMicrosecond('UTC'),
          length: n,
          data: new BigInt64Array(words.buffer),
        });
      }
      case 'utf8':
        return this.utf8(records, n, name);
    }
  }

  private utf8(
    records: readonly SensorRecord[],
    n: number,
    name: RecordColumn['name'],
  ): Arrow.Data {
    const a = this.arrow;
    const offsets = new Int32Array(n + 1);
    let buf = this.buffer;
    let pos = 0;
    let prev: string | undefined;
    let prevStart = 0;
    let prevLen = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      const s = name === 'metadata' ? metadataJson(r) : (r[name] as string);
      if (buf.length - pos < s.length * 3) buf = this.grow(buf, pos, s.length * 3);
      if (s === prev) {
        buf.copyWithin(pos, prevStart, prevStart + prevLen);
        pos += prevLen;
      } else {
        const len = buf.write(s, pos);
        prev = s;
        prevStart = pos;
        prevLen = len;
        pos += len;
      }
      offsets[i + 1] = pos;
    }
    return a.makeData({
      type: new a.Utf8(),
      length: n,
      valueOffsets: offsets,
      data: new Uint8Array(buf.subarray(0, pos)),
    });
  }

  private grow(buf: Buffer, used: number, need: number): Buffer {
    const next = Buffer.allocUnsafe(Math.max(buf.length * 2, used + need));
    buf.copy(next, 0, 0, used);
    this.buffer = next;
    return next;
  }
}

type ColumnName = RecordColumn['name'];
type ChannelStringField = 'sensorName' | 'industry' | 'deviceId' | 'unit' | 'sensorType';
type ChannelNumberField = 'minValue' | 'maxValue' | 'nominalValue';

const CHANNEL_STRINGS: Partial<Record<ColumnName, ChannelStringField>> = {
  sensor_name: 'sensorName',
  industry: 'industry',
  device_id: 'deviceId',
  unit: 'unit',
  sensor_type: 'sensorType',
};
const CHANNEL_NUMBERS: Partial<Record<ColumnName, ChannelNumberField>> = {
  min_value: 'minValue',
  max_value: 'maxValue',
  nominal_value: 'nominalValue',
};

/** A channel's text for a string column (`metadata` as its JSON). */
function channelText(c: RecordChannel, name: ColumnName): string {
  const field = CHANNEL_STRINGS[name];
  if (field) return c[field];
  for (const key in c.metadata)
    if (Object.hasOwn(c.metadata, key)) return JSON.stringify(c.metadata);
  return '{}';
}

/** The constant columns of every channel of one table: UTF-8 bytes back to back, and doubles. */
interface TableColumns {
  /** Per column (by position): the channels' bytes one after another, and where each starts. */
  readonly strings: ({ readonly bytes: Uint8Array; readonly offsets: Int32Array } | undefined)[];
  readonly numbers: (Float64Array | undefined)[];
}

const tableColumnCache = new WeakMap<object, Map<string, TableColumns>>();

function tableColumns(
  table: object,
  channels: readonly RecordChannel[],
  columns: readonly RecordColumn[],
): TableColumns {
  let byLayout = tableColumnCache.get(table);
  if (!byLayout) tableColumnCache.set(table, (byLayout = new Map()));
  const key = columns.map((c) => c.name).join(',');
  let cached = byLayout.get(key);
  if (cached) return cached;
  const n = channels.length;
  cached = {
    strings: columns.map((col) => {
      if (col.type !== 'utf8') return undefined;
      const parts = channels.map((c) => Buffer.from(channelText(c, col.name)));
      const offsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + parts[i]!.length;
      const bytes = new Uint8Array(offsets[n]!);
      for (let i = 0; i < n; i++) bytes.set(parts[i]!, offsets[i]!);
      return { bytes, offsets };
    }),
    numbers: columns.map((col) => {
      const field = CHANNEL_NUMBERS[col.name];
      if (!field) return undefined;
      return Float64Array.from(channels, (c) => c[field]);
    }),
  };
  byLayout.set(key, cached);
  return cached;
}

/** The channels of the table a channel belongs to, when it has one. */
function channelsOfTable(table: object | undefined): readonly RecordChannel[] | undefined {
  const channels = (table as { channels?: readonly RecordChannel[] } | undefined)?.channels;
  return Array.isArray(channels) ? channels : undefined;
}

/**
 * Builds the record columns of up to `capacity` rows from write-request batches, copying values,
 * timestamps and fault flags from the frames' typed arrays and the constant columns from bytes
 * made once per channel table. `build()` hands the arrays to Arrow and starts afresh; with
 * `reuse`, the next rows go into the same arrays, so a built batch is valid only until the next
 * `append` (for a caller that serialises it at once: no arrays to allocate and collect per batch).
 */
export class RecordColumnBuilder {
  private rows = 0;
  private doubles: (Float64Array | undefined)[] = [];
  private faults!: Uint8Array;
  private text: (Buffer | undefined)[] = [];
  private textUsed: number[] = [];
  private offsets: (Int32Array | undefined)[] = [];
  /** With `reuse`: the fault bits and timestamp words of `build()`, kept between builds. */
  private bits: Uint8Array | undefined;
  private words: Int32Array | undefined;
  private readonly kinds: readonly ('value' | 'timestamp' | 'fault' | 'number' | 'string')[];
  private readonly timestampColumn: number;

  constructor(
    private readonly arrow: ArrowModule,
    private readonly columns: readonly RecordColumn[],
    private readonly schema: Arrow.Schema,
    /** Rows this builder holds at most before `build()`. */
    readonly capacity: number,
    /** Fill the same arrays again after `build()` (a built batch is then valid until the next append). */
    private readonly reuse = false,
  ) {
    this.kinds = columns.map((c) =>
      c.name === 'value'
        ? 'value'
        : c.name === 'timestamp'
          ? 'timestamp'
          : c.name === 'fault_active'
            ? 'fault'
            : c.type === 'utf8'
              ? 'string'
              : 'number',
    );
    this.timestampColumn = columns.findIndex((c) => c.name === 'timestamp');
    this.reset();
  }

  /** Rows held. */
  get length(): number {
    return this.rows;
  }

  /** Room left before `build()` is due. */
  get room(): number {
    return this.capacity - this.rows;
  }

  private reset(): void {
    const cap = this.capacity;
    this.rows = 0;
    if (this.reuse && this.textUsed.length) {
      this.textUsed.fill(0);
      return;
    }
    this.doubles = this.kinds.map((k) =>
      k === 'value' || k === 'timestamp' || k === 'number' ? new Float64Array(cap) : undefined,
    );
    this.faults = new Uint8Array(cap);
    this.text = this.kinds.map((k) =>
      k === 'string' ? Buffer.allocUnsafeSlow(cap * 16) : undefined,
    );
    this.textUsed = this.kinds.map(() => 0);
    this.offsets = this.kinds.map((k) => (k === 'string' ? new Int32Array(cap + 1) : undefined));
  }

  /**
   * Appends readings `[from, to)` of `batch` (at most `room` of them); returns how many it took.
   */
  append(batch: RecordBatch, from: number, to: number): number {
    let skip = from;
    let want = Math.min(to - from, this.room);
    const taken = want;
    for (const s of batch.segments) {
      if (want <= 0) break;
      const len = s.end - s.start;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const start = s.start + skip;
      const end = Math.min(s.end, start + want);
      skip = 0;
      if (s.frame) this.appendFrame(s.frame, start, end);
      else this.appendRecords(s.records, start, end);
      want -= end - start;
    }
    return taken;
  }

  /** Appends `records[from, to)` (at most `room` of them); returns how many it took. */
  appendRecordList(records: readonly SensorRecord[], from: number, to: number): number {
    const end = Math.min(to, from + this.room);
    this.appendRecords(records, from, end);
    return end - from;
  }

  private appendFrame(frame: Frame, start: number, end: number): void {
    const channels = frame.table.channels;
    const n = channels.length;
    const cache = tableColumns(frame.table, channels, this.columns);
    const { values, timestamps, faults } = frame;
    const kinds = this.kinds;
    let pos = start;
    while (pos < end) {
      const k = (pos / n) | 0;
      const base = k * n;
      const c0 = pos - base;
      const c1 = Math.min(n, end - base);
      const len = c1 - c0;
      const at = this.rows;
      for (let col = 0; col < kinds.length; col++) {
        switch (kinds[col]) {
          case 'value':
            this.doubles[col]!.set(values.subarray(pos, pos + len), at);
            break;
          case 'timestamp':
            this.doubles[col]!.fill(timestamps[k]!, at, at + len);
            break;
          case 'fault':
            this.faults.set(faults.subarray(pos, pos + len), at);
            break;
          case 'number':
            this.doubles[col]!.set(cache.numbers[col]!.subarray(c0, c1), at);
            break;
          case 'string': {
            const { bytes, offsets } = cache.strings[col]!;
            const b0 = offsets[c0]!;
            const b1 = offsets[c1]!;
            let used = this.textUsed[col]!;
            const buf = this.roomFor(col, b1 - b0);
            buf.set(bytes.subarray(b0, b1), used);
            const out = this.offsets[col]!;
            const shift = used - b0;
            for (let c = c0 + 1, i = at + 1; c <= c1; c++, i++) out[i] = offsets[c]! + shift;
            used += b1 - b0;
            this.textUsed[col] = used;
            break;
          }
        }
      }
      this.rows += len;
      pos += len;
    }
  }

  private appendRecords(records: readonly SensorRecord[], start: number, end: number): void {
    const kinds = this.kinds;
    const columns = this.columns;
    let tableOf: object | undefined;
    let cache: TableColumns | undefined;
    for (let i = start; i < end; i++) {
      const r = records[i]!;
      const channel = r.channel;
      if (channel.table !== undefined && channel.table !== tableOf) {
        const list = channelsOfTable(channel.table);
        tableOf = channel.table;
        cache =
          list && list[channel.index] === channel
            ? tableColumns(tableOf, list, columns)
            : undefined;
      }
      const cached = channel.table !== undefined && channel.table === tableOf ? cache : undefined;
      const at = this.rows;
      for (let col = 0; col < kinds.length; col++) {
        switch (kinds[col]) {
          case 'value':
            this.doubles[col]![at] = r.value;
            break;
          case 'timestamp':
            this.doubles[col]![at] = r.timestamp;
            break;
          case 'fault':
            this.faults[at] = r.fault_active ? 1 : 0;
            break;
          case 'number':
            this.doubles[col]![at] = cached
              ? cached.numbers[col]![channel.index]!
              : channel[CHANNEL_NUMBERS[columns[col]!.name]!];
            break;
          case 'string': {
            let used = this.textUsed[col]!;
            if (cached) {
              const { bytes, offsets } = cached.strings[col]!;
              const b0 = offsets[channel.index]!;
              const b1 = offsets[channel.index + 1]!;
              this.roomFor(col, b1 - b0).set(bytes.subarray(b0, b1), used);
              used += b1 - b0;
            } else {
              const s = channelText(channel, columns[col]!.name);
              used += this.roomFor(col, s.length * 3).write(s, used);
            }
            this.textUsed[col] = used;
            this.offsets[col]![at + 1] = used;
            break;
          }
        }
      }
      this.rows++;
    }
  }

  /** The text buffer of column `col`, grown to hold `extra` more bytes. */
  private roomFor(col: number, extra: number): Buffer {
    const buf = this.text[col]!;
    const used = this.textUsed[col]!;
    if (used + extra <= buf.length) return buf;
    const next = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, used + extra));
    buf.copy(next, 0, 0, used);
    this.text[col] = next;
    return next;
  }

  /** An Arrow RecordBatch of the rows held (which it then owns); the builder starts empty. */
  build(): Arrow.RecordBatch {
    const a = this.arrow;
    const n = this.rows;
    const children = this.columns.map((c, col): Arrow.Data => {
      switch (c.type) {
        case 'double':
          return a.makeData({
            type: new a.Float64(),
            length: n,
            data: this.doubles[col]!.subarray(0, n),
          });
        case 'boolean': {
          const size = (n + 7) >> 3;
          const bits = this.reuse
            ? (this.bits ??= new Uint8Array((this.capacity + 7) >> 3)).subarray(0, size).fill(0)
            : new Uint8Array(size);
          const f = this.faults;
          for (let i = 0; i < n; i++) if (f[i]) bits[i >> 3]! |= 1 << (i & 7);
          return a.makeData({ type: new a.Bool(), length: n, data: bits });
        }
        case 'timestamp_us_utc': {
          const words = this.reuse
            ? (this.words ??= new Int32Array(this.capacity * 2))
            : new Int32Array(n * 2);
          return a.makeData({
            type: new a.TimestampMicrosecond('UTC'),
            length: n,
            data: microsOf(this.doubles[this.timestampColumn]!, n, words),
          });
        }
        case 'utf8': {
          const buf = this.text[col]!;
          return a.makeData({
            type: new a.Utf8(),
            length: n,
            valueOffsets: this.offsets[col]!.subarray(0, n + 1),
            data: new Uint8Array(buf.buffer, buf.byteOffset, this.textUsed[col]!),
          });
        }
      }
    });
    const data = a.makeData({ type: new a.Struct(this.schema.fields), length: n, children });
    this.reset();
    return new a.RecordBatch(this.schema, data);
  }
}

/** Epoch seconds to int64 microseconds, as two 32-bit halves (exact for |micros| < 2^53, no BigInt). */
function microsOf(seconds: Float64Array, n: number, words: Int32Array): BigInt64Array {
  for (let i = 0; i < n; i++) {
    const us = Math.round(seconds[i]! * 1e6);
    const hi = Math.floor(us / 4294967296);
    words[2 * i] = us - hi * 4294967296;
    words[2 * i + 1] = hi;
  }
  return new BigInt64Array(words.buffer, words.byteOffset, n);
}

/** `metadata` as compact JSON, `{}` when empty (same text as `recordToJson`). */
export function metadataJson(r: SensorRecord): string {
  const m = r.metadata;
  for (const key in m) if (Object.hasOwn(m, key)) return JSON.stringify(m);
  return '{}';
}

/**
 * Converts records to one Arrow RecordBatch with the record schema (loads apache-arrow on first
 * use). For many batches, reuse a `RecordBatchEncoder`.
 */
export async function recordsToRecordBatch(
  records: readonly SensorRecord[],
  options: RecordSchemaOptions = {},
): Promise<Arrow.RecordBatch> {
  return new RecordBatchEncoder(await loadArrow(), options).encode(records);
}
