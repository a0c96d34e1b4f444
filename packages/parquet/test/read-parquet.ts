import { readFile } from 'node:fs/promises';
import type { SensorRecordDict } from '@iotsim/core';
import { parquetRowToDict } from '@iotsim/test-utils';
import { parquetMetadata, parquetSchema } from 'hyparquet';

export { readParquetRows as readRows } from '@iotsim/test-utils';

/** hyparquet's view of the file's metadata: row groups, codecs and column types. */
export async function readMeta(path: string): Promise<{
  rows: number;
  rowGroups: number;
  codecs: string[];
  columns: Record<string, { type: string; logical?: unknown; converted?: string }>;
}> {
  const buf = await readFile(path);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const md = parquetMetadata(file);
  const schema = parquetSchema(md);
  const columns: Record<string, { type: string; logical?: unknown; converted?: string }> = {};
  for (const c of schema.children) {
    columns[c.element.name] = {
      type: String(c.element.type),
      logical: c.element.logical_type,
      converted: c.element.converted_type,
    };
  }
  const codecs = new Set<string>();
  for (const rg of md.row_groups)
    for (const col of rg.columns) codecs.add(String(col.meta_data?.codec));
  return {
    rows: Number(md.num_rows),
    rowGroups: md.row_groups.length,
    codecs: [...codecs],
    columns,
  };
}

/** Rows as record dicts: `metadata` parsed from its JSON text; a TIMESTAMP column back to epoch seconds. */
export function rowsToDicts(rows: Record<string, unknown>[]): SensorRecordDict[] {
  return rows.map(parquetRowToDict);
}
