import type { SensorRecord } from '@iotsim/core';

/** Directory name Hive, Spark and delta-rs use for a null (or empty) partition value. */
export const NULL_PARTITION_DIR = '__HIVE_DEFAULT_PARTITION__';

/** A batch's records of one partition. */
export interface PartitionGroup {
  /** `add.partitionValues`: serialized values, null for an empty string. */
  readonly values: Record<string, string | null>;
  /** Directory below the table root (`industry=mining/`), '' when unpartitioned. */
  readonly dir: string;
  readonly records: SensorRecord[];
}

/** Serializes a partition column's value as Delta requires: strings as they are, booleans as true/false, '' as null. */
export function partitionValue(record: SensorRecord, column: string): string | null {
  const v = (record as unknown as Record<string, unknown>)[column];
  const s = typeof v === 'string' ? v : String(v);
  return s === '' ? null : s;
}

// Characters Hive and Spark escape in partition directory names (ExternalCatalogUtils.escapePathName).
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const ESCAPED = /[\u0001-\u001f"#%'*/:=?\\\u007f{[\]^]/g;

/** Escapes a partition value for a `col=value` directory name, as Hive and Spark do. */
export function escapePartitionValue(value: string | null): string {
  if (value === null) return NULL_PARTITION_DIR;
  return value.replace(
    ESCAPED,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** `industry=mining/sensor_type=flow/` for the values of `columns`. */
export function partitionDir(
  columns: readonly string[],
  values: Readonly<Record<string, string | null>>,
): string {
  let dir = '';
  for (const c of columns)
    dir += `${escapePartitionValue(c)}=${escapePartitionValue(values[c] ?? null)}/`;
  return dir;
}

/**
 * The `add.path` of a file at `relative` (a relative path on storage): the log holds URIs, so
 * every segment is percent-encoded (`%` of a Hive escape becomes `%25`); `=` and `/` stay readable.
 */
export function logPathFor(relative: string): string {
  return relative
    .split('/')
    .map((seg) => encodeURIComponent(seg).replace(/%3D/g, '='))
    .join('/');
}

/** Splits a batch by the values of the partition columns, keeping record order inside each group. */
export function groupByPartition(
  records: readonly SensorRecord[],
  columns: readonly string[],
): PartitionGroup[] {
  if (columns.length === 0) return [{ values: {}, dir: '', records: [...records] }];
  const groups = new Map<string, PartitionGroup>();
  const single = columns.length === 1 ? columns[0]! : undefined;
  for (const r of records) {
    let key: string;
    if (single !== undefined) key = String((r as unknown as Record<string, unknown>)[single]);
    else
      key = columns.map((c) => String((r as unknown as Record<string, unknown>)[c])).join('\u0000');
    let g = groups.get(key);
    if (!g) {
      const values: Record<string, string | null> = {};
      for (const c of columns) values[c] = partitionValue(r, c);
      g = { values, dir: partitionDir(columns, values), records: [] };
      groups.set(key, g);
    }
    g.records.push(r);
  }
  return [...groups.values()];
}
