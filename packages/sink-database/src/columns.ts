import { RECORD_FIELDS } from '@iotsim/core';

/** How a record field is stored: the same kinds map to a column type per dialect. */
export type ColumnKind = 'text' | 'float' | 'boolean' | 'json';

/** One column of the sensor table. */
export interface ColumnSpec {
  /** Column name: the record field name. */
  readonly name: (typeof RECORD_FIELDS)[number];
  readonly kind: ColumnKind;
  /** False only for `value`: SQLite stores NaN as NULL. */
  readonly notNull: boolean;
}

const KINDS: Readonly<Record<(typeof RECORD_FIELDS)[number], ColumnKind>> = {
  sensor_name: 'text',
  industry: 'text',
  device_id: 'text',
  value: 'float',
  unit: 'text',
  sensor_type: 'text',
  timestamp: 'float',
  min_value: 'float',
  max_value: 'float',
  nominal_value: 'float',
  fault_active: 'boolean',
  metadata: 'json',
};

/**
 * The sensor table's columns, in record field order. Both dialects' drizzle tables are built from
 * this one list: text → `text`; float → `double precision` / `real` (8-byte in both); boolean →
 * `boolean` / `integer` 0/1; json → `jsonb` / JSON text. `timestamp` is epoch seconds, as in the
 * original.
 */
export const SENSOR_COLUMNS: readonly ColumnSpec[] = RECORD_FIELDS.map((name) => ({
  name,
  kind: KINDS[name],
  notNull: name !== 'value',
}));

/** Name of the index on `timestamp` for a table (kept within PostgreSQL's 63-byte limit). */
export function timestampIndexName(table: string): string {
  return `${table.slice(0, 63 - '_timestamp_idx'.length)}_timestamp_idx`;
}
