import type { SensorRecordDict } from '@iotsim/core';
import { runPython } from '@iotsim/test-utils';

/** What delta-rs reports about a table. */
export interface DeltaRsView {
  version: number;
  rows: SensorRecordDict[];
  /** pyarrow type of each column, e.g. `string`, `double`, `timestamp[us, tz=UTC]`. */
  arrowTypes: Record<string, string>;
  /** Delta type of each column from the table schema. */
  deltaTypes: Record<string, string>;
  partitionColumns: string[];
  /** Partition values of each live file, from delta-rs's add actions. */
  filePartitions: Record<string, string | null>[];
}

const READ = `
import json, sys
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
path, version, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dt = DeltaTable(path, version=int(version) if version else None, storage_options=opts or None)
t = dt.to_pyarrow_table()
arrow_types = {f.name: str(f.type) for f in t.schema}
if pa.types.is_timestamp(t.schema.field('timestamp').type):
    micros = pc.cast(t['timestamp'], pa.int64())
    t = t.set_column(t.schema.get_field_index('timestamp'), 'timestamp', pc.divide(pc.cast(micros, pa.float64()), 1e6))
adds = dt.get_add_actions(flatten=False)
parts = [dict(p) if p is not None else {} for p in pa.table(adds).column('partition').to_pylist()] if dt.metadata().partition_columns else []
schema = json.loads(dt.schema().to_json())
print(json.dumps({
    'version': dt.version(),
    'arrowTypes': arrow_types,
    'deltaTypes': {f['name']: f['type'] for f in schema['fields']},
    'partitionColumns': list(dt.metadata().partition_columns),
    'filePartitions': parts,
}))
for row in t.to_pylist():
    print(json.dumps(row))
`;

/** Reads a Delta table with delta-rs (the harness venv): every row, types, version, partitions. */
export async function readWithDeltaRs(
  path: string,
  options: { version?: number; storageOptions?: Record<string, string> } = {},
): Promise<DeltaRsView> {
  const out = await runPython(READ, [
    path,
    options.version === undefined ? '' : String(options.version),
    JSON.stringify(options.storageOptions ?? {}),
  ]);
  const lines = out.split('\n').filter((l) => l.trim());
  const head = JSON.parse(lines[0]!) as Omit<DeltaRsView, 'rows'>;
  const rows = lines.slice(1).map((l) => {
    const d = JSON.parse(l) as Record<string, unknown>;
    d.metadata = JSON.parse(d.metadata as string);
    return d as unknown as SensorRecordDict;
  });
  return { ...head, rows };
}

const APPEND = `
import json, sys
import pyarrow as pa
from deltalake import write_deltalake
path, rows_file = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(rows_file)]
for r in rows: r['metadata'] = json.dumps(r['metadata'], separators=(',', ':'))
schema = pa.schema([('sensor_name', pa.string()), ('industry', pa.string()), ('device_id', pa.string()),
  ('value', pa.float64()), ('unit', pa.string()), ('sensor_type', pa.string()), ('timestamp', pa.float64()),
  ('min_value', pa.float64()), ('max_value', pa.float64()), ('nominal_value', pa.float64()),
  ('fault_active', pa.bool_()), ('metadata', pa.string())])
write_deltalake(path, pa.Table.from_pylist(rows, schema=schema), mode='append')
`;

/** Appends rows to a table with delta-rs's write_deltalake (double timestamps). */
export async function appendWithDeltaRs(path: string, rowsFile: string): Promise<void> {
  await runPython(APPEND, [path, rowsFile]);
}

const CHECKPOINT = `
import sys
from deltalake import DeltaTable
DeltaTable(sys.argv[1]).create_checkpoint()
`;

/** Makes delta-rs write a checkpoint of the table's current version (and its `_last_checkpoint`). */
export async function checkpointWithDeltaRs(path: string): Promise<void> {
  await runPython(CHECKPOINT, [path]);
}

const ABOUT = `
import json, sys
import pyarrow.parquet as pq
from deltalake import DeltaTable
path, checkpoint = sys.argv[1], sys.argv[2]
history = DeltaTable(path).history()
print(json.dumps({
    'history': [{k: h.get(k) for k in ('version', 'operation', 'engineInfo', 'clientVersion')} for h in history],
    'checkpointCreatedBy': pq.ParquetFile(checkpoint).metadata.created_by if checkpoint else None,
}))
`;

/** What delta-rs says about a table's commits (its history), and pyarrow about a checkpoint file. */
export async function aboutWithDeltaRs(
  path: string,
  checkpointFile = '',
): Promise<{
  history: { version: number; operation: string; engineInfo?: string; clientVersion?: string }[];
  checkpointCreatedBy: string | null;
}> {
  return JSON.parse(await runPython(ABOUT, [path, checkpointFile])) as Awaited<
    ReturnType<typeof aboutWithDeltaRs>
  >;
}
