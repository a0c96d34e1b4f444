import { RECORD_FIELDS, type SensorRecord } from '@iotsim/core';
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
