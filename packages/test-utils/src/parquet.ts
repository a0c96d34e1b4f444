import { readFile } from 'node:fs/promises';
import type { SensorRecordDict } from '@iotsim/core';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

/** Reads a Parquet file with hyparquet (an independent pure-JS reader, every codec) as plain rows. */
export async function readParquetRows(path: string): Promise<Record<string, unknown>[]> {
  const buf = await readFile(path);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  return parquetReadObjects({ file, compressors });
}

/** Parquet rows as record dicts: `metadata` parsed from its JSON text, a TIMESTAMP back to epoch seconds. */
export function parquetRowToDict(row: Record<string, unknown>): SensorRecordDict {
  const d: Record<string, unknown> = { ...row };
  if (typeof d.metadata === 'string') d.metadata = JSON.parse(d.metadata);
  if (d.timestamp instanceof Date) d.timestamp = d.timestamp.getTime() / 1000;
  return d as unknown as SensorRecordDict;
}
