import { RECORD_FIELDS, type SensorRecord } from '@iotsim/core';
import type { DeltaTimestampType } from '../options.js';

const STRING_COLUMNS = ['sensor_name', 'industry', 'device_id', 'unit', 'sensor_type'] as const;
const DOUBLE_COLUMNS = ['value', 'min_value', 'max_value', 'nominal_value'] as const;

/** Strings longer than this get a prefix as min and no max (a prefix is no upper bound). */
export const STRING_STATS_LIMIT = 64;

/** Per-file statistics as Delta readers expect them in `add.stats`. */
export interface FileStats {
  numRecords: number;
  minValues: Record<string, string | number>;
  maxValues: Record<string, string | number>;
  nullCount: Record<string, number>;
}

/** True when `a` sorts before `b` in UTF-8 byte order (code point order), which Delta uses. */
export function utf8Less(a: string, b: string): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only between a surrogate and U+E000..U+FFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs && !ys && y >= 0xe000) return false;
    if (ys && !xs && x >= 0xe000) return true;
    return x < y;
  }
  return a.length < b.length;
}

const NEEDS_CAREFUL = /[\ud800-\uffff]/;

function stringMinMax(records: readonly SensorRecord[], col: string): [string, string] {
  const get = (r: SensorRecord): string => (r as unknown as Record<string, string>)[col]!;
  let min = get(records[0]!);
  let max = min;
  for (let i = 1; i < records.length; i++) {
    const v = get(records[i]!);
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  // The fast comparison above is UTF-16 order; redo it in code point order only when it matters.
  if (NEEDS_CAREFUL.test(min) || NEEDS_CAREFUL.test(max)) {
    min = max = get(records[0]!);
    for (const r of records) {
      const v = get(r);
      if (utf8Less(v, min)) min = v;
      if (utf8Less(max, v)) max = v;
    }
  }
  return [min, max];
}

function truncatePrefix(s: string, limit: number): string {
  let cut = limit;
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--; // never split a surrogate pair
  return s.slice(0, cut);
}

/** Timestamp stats are milliseconds (ISO-8601): round min down and max up so they stay bounds. */
function isoMillis(epochSeconds: number, round: (x: number) => number): string {
  return new Date(round(epochSeconds * 1000)).toISOString();
}

/**
 * Statistics of one data file holding `records` (non-empty): numRecords, min/max of the string,
 * double and timestamp columns, nullCount of every data column. Partition columns are left out,
 * as Delta writers do (their value is in `partitionValues`).
 */
export function computeStats(
  records: readonly SensorRecord[],
  partitionColumns: readonly string[],
  timestampType: DeltaTimestampType,
): FileStats {
  const skip = new Set(partitionColumns);
  const minValues: Record<string, string | number> = {};
  const maxValues: Record<string, string | number> = {};
  const nullCount: Record<string, number> = {};
  for (const col of RECORD_FIELDS) if (!skip.has(col)) nullCount[col] = 0;
  if (records.length === 0) return { numRecords: 0, minValues, maxValues, nullCount };

  for (const col of STRING_COLUMNS) {
    if (skip.has(col)) continue;
    const [min, max] = stringMinMax(records, col);
    minValues[col] =
      min.length > STRING_STATS_LIMIT ? truncatePrefix(min, STRING_STATS_LIMIT) : min;
    if (max.length <= STRING_STATS_LIMIT) maxValues[col] = max;
  }
  const doubles: string[] = [...DOUBLE_COLUMNS];
  if (timestampType === 'double') doubles.push('timestamp');
  for (const col of doubles) {
    let min = Infinity;
    let max = -Infinity;
    let finite = true;
    for (const r of records) {
      const v = (r as unknown as Record<string, number>)[col]!;
      if (!Number.isFinite(v)) {
        finite = false;
        break;
      }
      if (v < min) min = v;
      if (v > max) max = v;
    }
    // JSON has no NaN or Infinity: leave such a column without bounds.
    if (finite) {
      minValues[col] = min;
      maxValues[col] = max;
    }
  }
  if (timestampType === 'timestamp') {
    let min = Infinity;
    let max = -Infinity;
    for (const r of records) {
      if (r.timestamp < min) min = r.timestamp;
      if (r.timestamp > max) max = r.timestamp;
    }
    if (Number.isFinite(min) && Number.isFinite(max)) {
      minValues.timestamp = isoMillis(min, Math.floor);
      maxValues.timestamp = isoMillis(max, Math.ceil);
    }
  }
  return { numRecords: records.length, minValues, maxValues, nullCount };
}
