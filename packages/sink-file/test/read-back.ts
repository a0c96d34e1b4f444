import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SensorRecordDict } from '@iotsim/core';
import { parse } from 'csv-parse/sync';
import { parquetRowToDict, readParquetRows } from '@iotsim/test-utils';

/** Output files in `dir`, sorted by name (the names sort by window start). */
export async function outputFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith('sensor_data_')).sort();
}

function fromCsvRow(row: Record<string, string>): SensorRecordDict {
  const bool = (s: string | undefined): boolean => {
    if (s !== 'true' && s !== 'false') throw new Error(`fault_active: not a boolean: ${s}`);
    return s === 'true';
  };
  return {
    sensor_name: row.sensor_name!,
    industry: row.industry!,
    device_id: row.device_id!,
    value: Number(row.value),
    unit: row.unit!,
    sensor_type: row.sensor_type!,
    timestamp: Number(row.timestamp),
    min_value: Number(row.min_value),
    max_value: Number(row.max_value),
    nominal_value: Number(row.nominal_value),
    fault_active: bool(row.fault_active),
    metadata: JSON.parse(row.metadata!),
  };
}

/** Reads one output file with a parser that knows nothing of the sink: csv-parse, JSON.parse, hyparquet. */
export async function readOutputFile(path: string): Promise<SensorRecordDict[]> {
  const buf = await readFile(path);
  if (path.endsWith('.csv')) {
    const rows = parse(buf, { columns: true, bom: false, skip_empty_lines: false }) as Record<
      string,
      string
    >[];
    return rows.map(fromCsvRow);
  }
  if (path.endsWith('.jsonl')) {
    const text = buf.toString('utf8');
    if (text.length && !text.endsWith('\n')) throw new Error(`${path}: last line not terminated`);
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SensorRecordDict);
  }
  if (path.endsWith('.parquet')) return (await readParquetRows(path)).map(parquetRowToDict);
  throw new Error(`unexpected output file ${path}`);
}

/** Every record in every output file of `dir`, files in name order. */
export async function readOutputDir(dir: string): Promise<SensorRecordDict[]> {
  const out: SensorRecordDict[] = [];
  for (const f of await outputFiles(dir)) out.push(...(await readOutputFile(join(dir, f))));
  return out;
}

/** The CSV header line of a file. */
export async function csvHeader(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  return text.slice(0, text.indexOf('\n'));
}
