// Independent readers from the Python harness venv: pyarrow reads every Parquet file, pandas and
// the csv module read the CSV files. Run with `pnpm test:services` (IOTSIM_PYTHON set by env.sh).
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { SensorRecordDict } from '@iotsim/core';
import { dicts, makeRecords, runPython, runThrough, tempDirs } from '@iotsim/test-utils';
import { FileSink } from '../src/index.js';
import { outputFiles } from './read-back.js';

const freshDir = tempDirs('iotsim-file-py-');

const READ_PARQUET = `
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
out = []
for path in sys.argv[1:]:
    t = pq.read_table(path)
    md = pq.ParquetFile(path).metadata
    codecs = sorted({md.row_group(g).column(c).compression for g in range(md.num_row_groups) for c in range(md.num_columns)})
    schema = [[f.name, str(f.type)] for f in t.schema]
    if pa.types.is_timestamp(t.schema.field('timestamp').type):
        t = t.set_column(t.schema.get_field_index('timestamp'), 'timestamp', t.column('timestamp').cast(pa.int64()))
    out.append({'schema': schema, 'rows': t.num_rows, 'codecs': codecs, 'data': t.to_pylist()})
print(json.dumps(out))
`;

const READ_CSV = `
import csv, json, sys
import pandas as pd
path = sys.argv[1]
df = pd.read_csv(path, encoding='utf-8')
with open(path, newline='', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
num = ['value', 'timestamp', 'min_value', 'max_value', 'nominal_value']
data = []
for r in rows:
    d = dict(r)
    for k in num: d[k] = float(d[k])
    assert d['fault_active'] in ('true', 'false'), d['fault_active']
    d['fault_active'] = d['fault_active'] == 'true'
    d['metadata'] = json.loads(d['metadata'])
    data.append(d)
print(json.dumps({
    'columns': list(df.columns),
    'dtypes': {c: str(t) for c, t in df.dtypes.items()},
    'rows': len(df),
    'pandas_units': df['unit'].tolist(),
    'pandas_values': df['value'].tolist(),
    'pandas_fault': df['fault_active'].tolist(),
    'data': data,
}))
`;

interface PyParquet {
  schema: [string, string][];
  rows: number;
  codecs: string[];
  data: Record<string, unknown>[];
}

describe('pyarrow reads FileSink Parquet files', () => {
  it.each(['snappy', 'zstd', 'gzip', 'lz4', 'none'] as const)(
    '%s: schema types, row count and every value',
    async (compression) => {
      const dir = await freshDir();
      const records = makeRecords(2_500, { seed: 51 });
      await runThrough(
        new FileSink({ path: dir, format: 'parquet', compression, rowGroupSize: 1_000 }),
        records,
      );
      const files = (await outputFiles(dir)).map((f) => join(dir, f));
      expect(files).toHaveLength(1);
      const [got] = JSON.parse(await runPython(READ_PARQUET, files)) as PyParquet[];
      expect(got!.schema).toEqual([
        ['sensor_name', 'string'],
        ['industry', 'string'],
        ['device_id', 'string'],
        ['value', 'double'],
        ['unit', 'string'],
        ['sensor_type', 'string'],
        ['timestamp', 'double'],
        ['min_value', 'double'],
        ['max_value', 'double'],
        ['nominal_value', 'double'],
        ['fault_active', 'bool'],
        ['metadata', 'string'],
      ]);
      expect(got!.rows).toBe(2_500);
      const codec = {
        snappy: 'SNAPPY',
        zstd: 'ZSTD',
        gzip: 'GZIP',
        lz4: 'LZ4',
        none: 'UNCOMPRESSED',
      };
      expect(got!.codecs).toEqual([codec[compression]]);
      const data = got!.data.map((d) => ({ ...d, metadata: JSON.parse(d.metadata as string) }));
      expect(data).toEqual(dicts(records));
    },
  );

  it('timestamp_type timestamp: timestamp[us, tz=UTC] with exact microseconds', async () => {
    const dir = await freshDir();
    const records = makeRecords(700, { seed: 52, start: 1_700_000_000.123456, step: 5 });
    await runThrough(
      FileSink.fromConfig({
        path: dir,
        format: 'parquet',
        timestamp_type: 'timestamp',
        rotation: '1m',
      }),
      records,
    );
    const files = (await outputFiles(dir)).map((f) => join(dir, f));
    expect(files.length).toBeGreaterThan(1);
    const got = JSON.parse(await runPython(READ_PARQUET, files)) as PyParquet[];
    const micros: number[] = [];
    for (const file of got) {
      expect(file.schema).toContainEqual(['timestamp', 'timestamp[us, tz=UTC]']);
      for (const d of file.data) micros.push(d.timestamp as number);
    }
    expect(micros).toEqual(records.map((r) => Math.round(r.timestamp * 1e6)));
  });
});

describe('pandas and the csv module read FileSink CSV files', () => {
  it('columns, types and every value, °C intact', async () => {
    const dir = await freshDir();
    const records = makeRecords(1_500, { seed: 53 });
    await runThrough(new FileSink({ path: dir, format: 'csv' }), records);
    const [file] = await outputFiles(dir);
    const got = JSON.parse(await runPython(READ_CSV, [join(dir, file!)])) as {
      columns: string[];
      dtypes: Record<string, string>;
      rows: number;
      pandas_units: string[];
      pandas_values: number[];
      pandas_fault: boolean[];
      data: SensorRecordDict[];
    };
    expect(got.columns).toEqual(Object.keys(records[0]!.toDict()));
    expect(got.rows).toBe(1_500);
    expect(got.dtypes).toMatchObject({
      value: 'float64',
      timestamp: 'float64',
      min_value: 'float64',
      fault_active: 'bool',
    });
    expect(got.pandas_units).toEqual(records.map((r) => r.unit));
    expect(got.pandas_units).toContain('°C');
    expect(got.pandas_values).toEqual(records.map((r) => r.value));
    expect(got.pandas_fault).toEqual(records.map((r) => r.fault_active));
    expect(got.data).toEqual(dicts(records));
  });
});
