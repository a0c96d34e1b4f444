import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { DataGenerator, RecordBatch, SensorRecord, type SensorRecordDict } from '@iotsim/core';
import { dicts, makeRecords, tempDirs } from '@iotsim/test-utils';
import {
  PARQUET_COMPRESSIONS,
  createParquetFileWriter,
  createParquetWriter,
  loadParquetWasm,
  recordColumns,
  recordSchema,
  recordsToRecordBatch,
} from '../src/index.js';
import { readMeta, readRows, rowsToDicts } from './read-parquet.js';

const freshDir = tempDirs('iotsim-parquet-');

async function writeFileOf(
  records: readonly SensorRecord[],
  options: Parameters<typeof createParquetFileWriter>[1] = {},
  batch = 97,
): Promise<{ path: string; rows: number; bytes: number }> {
  const path = join(await freshDir(), 'data.parquet');
  const writer = await createParquetFileWriter(path, options);
  for (let i = 0; i < records.length; i += batch) await writer.write(records.slice(i, i + batch));
  const result = await writer.close();
  return { path, ...result };
}

describe('createParquetFileWriter', () => {
  it('round-trips every field (hyparquet reads it back)', async () => {
    const records = makeRecords(2_000, { seed: 3 });
    const { path, rows, bytes } = await writeFileOf(records, { rowGroupSize: 500 });
    expect(rows).toBe(2_000);
    expect((await stat(path)).size).toBe(bytes);
    expect(rowsToDicts(await readRows(path))).toEqual(dicts(records));
    const meta = await readMeta(path);
    expect(meta.rows).toBe(2_000);
    expect(meta.rowGroups).toBe(4);
  });

  it('writes frame batches over many row groups (its column arrays are reused between them)', async () => {
    const gen = new DataGenerator({
      industries: ['smart_building', 'oil_gas'],
      devicesPerIndustry: 3,
      seed: 8,
    });
    const ticks = Float64Array.from({ length: 40 }, (_, k) => 1_700_000_000 + k * 0.25);
    const frame = gen.generate(0, ticks, 0.25);
    const path = join(await freshDir(), 'frames.parquet');
    const writer = await createParquetFileWriter(path, { rowGroupSize: 700 });
    // Uneven writes that straddle the 700-row builds, from one frame.
    const step = 333;
    for (let from = 0; from < frame.size; from += step) {
      const end = Math.min(frame.size, from + step);
      await writer.writeBatch(new RecordBatch([{ frame, start: from, end }], end - from));
    }
    const { rows } = await writer.close();
    expect(rows).toBe(frame.size);
    const expected = new RecordBatch([{ frame, start: 0, end: frame.size }], frame.size).records;
    expect(rowsToDicts(await readRows(path))).toEqual(dicts(expected));
    expect((await readMeta(path)).rowGroups).toBe(Math.ceil(frame.size / 700));
  });

  it('writes the schema of DESIGN.md: UTF8 strings, DOUBLE numbers, BOOLEAN, DOUBLE timestamp', async () => {
    const { path } = await writeFileOf(makeRecords(10));
    const { columns } = await readMeta(path);
    expect(Object.keys(columns)).toEqual(recordColumns().map((c) => c.name));
    for (const name of ['sensor_name', 'industry', 'device_id', 'unit', 'sensor_type', 'metadata'])
      expect(columns[name]).toMatchObject({ type: 'BYTE_ARRAY', logical: { type: 'STRING' } });
    for (const name of ['value', 'timestamp', 'min_value', 'max_value', 'nominal_value'])
      expect(columns[name]!.type).toBe('DOUBLE');
    expect(columns.fault_active!.type).toBe('BOOLEAN');
  });

  it('stores TIMESTAMP(MICROS, UTC) with microsecond precision when asked', async () => {
    const base = makeRecords(5, { awkward: false });
    const stamps = [1_700_000_000.123456, 1_700_000_001, 0.000001, 1_900_000_000.5, 1.25];
    const records = base.map((r, i) =>
      SensorRecord.fromDict({ ...r.toDict(), timestamp: stamps[i] }),
    );
    const { path } = await writeFileOf(records, { timestampType: 'timestamp' });
    const { columns } = await readMeta(path);
    expect(columns.timestamp).toMatchObject({
      type: 'INT64',
      logical: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
    });
    // parquet-wasm → Arrow IPC → apache-arrow: the raw int64 microseconds.
    const pw = await loadParquetWasm();
    const arrow = await import('apache-arrow');
    const table = arrow.tableFromIPC(pw.readParquet(await readFile(path)).intoIPCStream());
    const micros = table
      .getChild('timestamp')!
      .data.flatMap((d) => [...(d.values as BigInt64Array)]);
    expect(micros).toEqual(stamps.map((s) => BigInt(Math.round(s * 1e6))));
  });

  it.each(PARQUET_COMPRESSIONS)('writes %s files every reader decodes', async (compression) => {
    const records = makeRecords(1_200, { seed: 9 });
    const { path } = await writeFileOf(records, { compression, rowGroupSize: 400 });
    const meta = await readMeta(path);
    const expected = {
      snappy: 'SNAPPY',
      zstd: 'ZSTD',
      gzip: 'GZIP',
      lz4: 'LZ4_RAW',
      none: 'UNCOMPRESSED',
    }[compression];
    expect(meta.codecs).toEqual([expected]);
    expect(rowsToDicts(await readRows(path))).toEqual(dicts(records));
    const pw = await loadParquetWasm();
    expect(
      pw
        .readParquet(await readFile(path))
        .recordBatches()
        .reduce((n, b) => n + b.numRows, 0),
    ).toBe(1_200);
  });

  it('appends row groups as they fill: bytes reach the file before close', async () => {
    const path = join(await freshDir(), 'stream.parquet');
    const writer = await createParquetFileWriter(path, { rowGroupSize: 1_000 });
    const records = makeRecords(5_000, { seed: 4 });
    for (let i = 0; i < records.length; i += 250) await writer.write(records.slice(i, i + 250));
    let size = 0;
    for (let i = 0; i < 200 && size === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      size = (await stat(path)).size;
    }
    expect(size).toBeGreaterThan(0);
    expect(writer.bytes).toBe(size);
    const { bytes } = await writer.close();
    expect(bytes).toBeGreaterThan(size);
    expect((await readMeta(path)).rowGroups).toBe(5);
  });

  it('writes a valid file with the schema and no rows when nothing was written', async () => {
    const { path, rows } = await writeFileOf([]);
    expect(rows).toBe(0);
    const meta = await readMeta(path);
    expect(meta.rows).toBe(0);
    expect(Object.keys(meta.columns)).toHaveLength(12);
  });

  it('leaves out omitColumns (for partitioned tables)', async () => {
    const records = makeRecords(300, { seed: 5 });
    const { path } = await writeFileOf(records, { omitColumns: ['industry', 'device_id'] });
    const rows = rowsToDicts(await readRows(path));
    const expected = dicts(records).map((d) => {
      const rest: Partial<SensorRecordDict> = { ...d };
      delete rest.industry;
      delete rest.device_id;
      return rest;
    });
    expect(rows).toEqual(expected);
  });

  it('rejects an unknown omitted column, a bad codec and a bad row group size', async () => {
    expect(() => recordColumns({ omitColumns: ['colour'] })).toThrow(
      /'colour' is not a record field/,
    );
    const out = { write: async () => {}, close: async () => {} };
    await expect(createParquetWriter(out, { compression: 'brotli' as never })).rejects.toThrow(
      /compression: must be one of/,
    );
    await expect(createParquetWriter(out, { rowGroupSize: 0 })).rejects.toThrow(/rowGroupSize/);
  });

  it('never replaces an existing file', async () => {
    const path = join(await freshDir(), 'taken.parquet');
    await writeFile(path, 'keep me');
    await expect(createParquetFileWriter(path)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('keep me');
  });

  it('surfaces an output error on a later write or on close, and closes the output', async () => {
    let closed = false;
    const out = {
      write: async () => {
        throw Object.assign(new Error('writing /x/y.parquet: ENOSPC: no space left on device'), {
          code: 'ENOSPC',
        });
      },
      close: async () => {
        closed = true;
      },
    };
    const writer = await createParquetWriter(out, { rowGroupSize: 100 });
    const records = makeRecords(2_000, { seed: 6 });
    const attempt = async (): Promise<void> => {
      for (let i = 0; i < records.length; i += 100) await writer.write(records.slice(i, i + 100));
      await writer.close();
    };
    await expect(attempt()).rejects.toThrow(/ENOSPC/);
    await writer.abort();
    expect(closed).toBe(true);
  });
});

describe('schema helpers', () => {
  it('recordSchema gives Arrow types; recordsToRecordBatch fills them', async () => {
    const schema = await recordSchema({ timestampType: 'timestamp', omitColumns: ['industry'] });
    expect(schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'sensor_name:Utf8',
      'device_id:Utf8',
      'value:Float64',
      'unit:Utf8',
      'sensor_type:Utf8',
      'timestamp:Timestamp<MICROSECOND, UTC>',
      'min_value:Float64',
      'max_value:Float64',
      'nominal_value:Float64',
      'fault_active:Bool',
      'metadata:Utf8',
    ]);
    const records = makeRecords(60);
    const batch = await recordsToRecordBatch(records);
    expect(batch.numRows).toBe(60);
    const rows = batch.toArray().map((row) => row.toJSON() as Record<string, unknown>);
    expect(rowsToDicts(rows)).toEqual(dicts(records));
  });
});
