import type * as Arrow from 'apache-arrow';
import { loadArrow, loadParquetWasm } from '@iotsim/parquet';
import { TableState, type Action, type RemoveAction } from './log.js';
import { ENGINE_INFO } from './version.js';

/** `_delta_log/_last_checkpoint`: where readers look for the newest checkpoint. */
export const LAST_CHECKPOINT_PATH = '_delta_log/_last_checkpoint';

/** The contents of `_last_checkpoint` (the fields we write; readers ignore unknown ones). */
export interface LastCheckpoint {
  /** Table version the checkpoint summarises. */
  version: number;
  /** Actions (rows) in the checkpoint. */
  size: number;
  /** Parts of a multi-part checkpoint (absent for a single file). */
  parts?: number;
  /** Bytes of the checkpoint file. */
  sizeInBytes?: number;
  /** Live files (add actions) in the checkpoint. */
  numOfAddFiles?: number;
}

/** One file of a classic checkpoint, from its name. */
export interface CheckpointFile {
  readonly version: number;
  /** 1-based part number (1 for a single-file checkpoint). */
  readonly part: number;
  /** Number of parts (1 for a single-file checkpoint). */
  readonly parts: number;
  /** File name inside `_delta_log/`. */
  readonly name: string;
}

/** `00000000000000000009.checkpoint.parquet` for version 9. */
export function checkpointFileName(version: number): string {
  if (!Number.isSafeInteger(version) || version < 0)
    throw new RangeError(`invalid Delta version ${version}`);
  return `${String(version).padStart(20, '0')}.checkpoint.parquet`;
}

/** `_delta_log/00000000000000000009.checkpoint.parquet` for version 9. */
export function checkpointPath(version: number): string {
  return `_delta_log/${checkpointFileName(version)}`;
}

/**
 * Parses a classic checkpoint file name: single-file `<v>.checkpoint.parquet` or multi-part
 * `<v>.checkpoint.<part>.<parts>.parquet`. V2 checkpoints (UUID names, a reader feature this
 * sink does not implement) and anything else give undefined.
 */
export function parseCheckpointFileName(name: string): CheckpointFile | undefined {
  const single = /^(\d{20})\.checkpoint\.parquet$/.exec(name);
  if (single) return { version: Number(single[1]), part: 1, parts: 1, name };
  const multi = /^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$/.exec(name);
  if (!multi) return undefined;
  const part = Number(multi[2]);
  const parts = Number(multi[3]);
  if (part < 1 || part > parts) return undefined;
  return { version: Number(multi[1]), part, parts, name };
}

/**
 * Whether a commit at `version` is followed by a checkpoint, as delta-rs decides it: after every
 * `interval`-th commit, i.e. at versions 9, 19, 29, … for an interval of 10 (0 disables).
 */
export function isCheckpointVersion(version: number, interval: number): boolean {
  return interval > 0 && version >= 0 && (version + 1) % interval === 0;
}

/** Complete checkpoints among `_delta_log/` names, newest first (every part of a multi-part one present). */
export function completeCheckpoints(names: readonly string[]): CheckpointFile[][] {
  const byKey = new Map<string, CheckpointFile[]>();
  for (const n of names) {
    const f = parseCheckpointFileName(n);
    if (!f) continue;
    const key = `${f.version}/${f.parts}`;
    const list = byKey.get(key) ?? [];
    list.push(f);
    byKey.set(key, list);
  }
  const complete = [...byKey.values()]
    .filter((l) => l.length === l[0]!.parts && new Set(l.map((f) => f.part)).size === l.length)
    .map((l) => l.sort((a, b) => a.part - b.part));
  // Newest first; for one version, a single file before a multi-part set.
  return complete.sort((a, b) => b[0]!.version - a[0]!.version || a[0]!.parts - b[0]!.parts);
}

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = {
  millisecond: 1,
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: DAY_MS,
  week: 7 * DAY_MS,
};

/**
 * `delta.deletedFileRetentionDuration` in milliseconds (`interval 1 week` by default): remove
 * tombstones younger than this stay in checkpoints.
 */
export function tombstoneRetentionMs(configuration: Readonly<Record<string, string>> = {}): number {
  const text = configuration['delta.deletedFileRetentionDuration'];
  const m = /^\s*(?:interval\s+)?(\d+)\s+(millisecond|second|minute|hour|day|week)s?\s*$/i.exec(
    text ?? '',
  );
  if (!m) return 7 * DAY_MS;
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!;
}

/**
 * The actions of a checkpoint of `state` (protocol, metaData, the last txn of each application,
 * every live file with `dataChange: false`, unexpired remove tombstones), one row each.
 */
export function checkpointActions(state: TableState, now = Date.now()): Action[] {
  if (!state.protocol || !state.metadata)
    throw new Error('cannot checkpoint a table without protocol and metaData');
  const actions: Action[] = [{ protocol: state.protocol }, { metaData: state.metadata }];
  for (const txn of state.txns.values()) actions.push({ txn });
  for (const add of state.files.values()) actions.push({ add: { ...add, dataChange: false } });
  const cutoff = now - tombstoneRetentionMs(state.metadata.configuration);
  for (const remove of state.tombstones.values()) {
    if ((remove.deletionTimestamp ?? 0) > cutoff)
      actions.push({ remove: { ...remove, dataChange: false } });
  }
  return actions;
}

/** The checkpoint schema's action columns, as the protocol names and types them. */
const COLUMNS = ['txn', 'add', 'remove', 'metaData', 'protocol'] as const;
type Column = (typeof COLUMNS)[number];

/** Arrow schema of a classic checkpoint (the nullability delta-rs and Spark write). */
function checkpointSchema(a: typeof Arrow): Arrow.Schema {
  const str = (): Arrow.Utf8 => new a.Utf8();
  const long = (): Arrow.Int64 => new a.Int64();
  const field = (name: string, type: Arrow.DataType, nullable = true): Arrow.Field =>
    new a.Field(name, type, nullable);
  const stringMap = (valuesNullable: boolean): Arrow.Map_ =>
    new a.Map_(
      field(
        'key_value',
        new a.Struct([field('key', str(), false), field('value', str(), valuesNullable)]),
        false,
      ),
    );
  const stringList = (): Arrow.List => new a.List(field('element', str(), false));
  return new a.Schema([
    field(
      'txn',
      new a.Struct([
        field('appId', str(), false),
        field('version', long(), false),
        field('lastUpdated', long()),
      ]),
    ),
    field(
      'add',
      new a.Struct([
        field('path', str(), false),
        field('partitionValues', stringMap(true), false),
        field('size', long(), false),
        field('modificationTime', long(), false),
        field('dataChange', new a.Bool(), false),
        field('stats', str()),
        field('tags', stringMap(true)),
      ]),
    ),
    field(
      'remove',
      new a.Struct([
        field('path', str(), false),
        field('deletionTimestamp', long()),
        field('dataChange', new a.Bool(), false),
        field('extendedFileMetadata', new a.Bool()),
        field('partitionValues', stringMap(true)),
        field('size', long()),
        field('stats', str()),
        field('tags', stringMap(true)),
      ]),
    ),
    field(
      'metaData',
      new a.Struct([
        field('id', str(), false),
        field('name', str()),
        field('description', str()),
        field(
          'format',
          new a.Struct([
            field('provider', str(), false),
            field('options', stringMap(false), false),
          ]),
          false,
        ),
        field('schemaString', str(), false),
        field('partitionColumns', stringList(), false),
        field('createdTime', long()),
        field('configuration', stringMap(false), false),
      ]),
    ),
    field(
      'protocol',
      new a.Struct([
        field('minReaderVersion', new a.Int32(), false),
        field('minWriterVersion', new a.Int32(), false),
        field('readerFeatures', stringList()),
        field('writerFeatures', stringList()),
      ]),
    ),
  ]);
}

const big = (n: number | undefined | null): bigint | null =>
  n === undefined || n === null ? null : BigInt(Math.trunc(n));

/** One action as the row value of its column (Int64 fields as bigint, absent fields null). */
function rowValue(column: Column, action: Action): unknown {
  switch (column) {
    case 'txn': {
      if (!('txn' in action)) return null;
      const t = action.txn;
      return { appId: t.appId, version: big(t.version), lastUpdated: big(t.lastUpdated) };
    }
    case 'add': {
      if (!('add' in action)) return null;
      const x = action.add;
      return {
        path: x.path,
        partitionValues: x.partitionValues ?? {},
        size: big(x.size),
        modificationTime: big(x.modificationTime),
        dataChange: x.dataChange,
        stats: x.stats ?? null,
        tags: x.tags ?? null,
      };
    }
    case 'remove': {
      if (!('remove' in action)) return null;
      const x: RemoveAction = action.remove;
      return {
        path: x.path,
        deletionTimestamp: big(x.deletionTimestamp),
        dataChange: x.dataChange,
        extendedFileMetadata: x.extendedFileMetadata ?? null,
        partitionValues: x.partitionValues ?? null,
        size: big(x.size),
        stats: x.stats ?? null,
        tags: x.tags ?? null,
      };
    }
    case 'metaData': {
      if (!('metaData' in action)) return null;
      const m = action.metaData;
      return {
        id: m.id,
        name: m.name ?? null,
        description: m.description ?? null,
        format: { provider: m.format.provider, options: m.format.options ?? {} },
        schemaString: m.schemaString,
        partitionColumns: m.partitionColumns ?? [],
        createdTime: big(m.createdTime),
        configuration: m.configuration ?? {},
      };
    }
    case 'protocol': {
      if (!('protocol' in action)) return null;
      const p = action.protocol;
      return {
        minReaderVersion: p.minReaderVersion,
        minWriterVersion: p.minWriterVersion,
        readerFeatures: p.readerFeatures ?? null,
        writerFeatures: p.writerFeatures ?? null,
      };
    }
  }
}

/** Encodes checkpoint actions as a single Parquet file (one row per action, snappy). */
export async function encodeCheckpoint(actions: readonly Action[]): Promise<Uint8Array> {
  const [a, pw] = await Promise.all([loadArrow(), loadParquetWasm()]);
  const schema = checkpointSchema(a);
  const children = schema.fields.map((f) => {
    const builder = a.makeBuilder({ type: f.type, nullValues: [null, undefined] });
    for (const action of actions) builder.append(rowValue(f.name as Column, action));
    const data = builder.flush();
    builder.finish();
    return data;
  });
  const batch = new a.RecordBatch(
    schema,
    a.makeData({
      type: new a.Struct(schema.fields),
      length: actions.length,
      nullCount: 0,
      children,
    }),
  );
  const table = pw.Table.fromIPCStream(a.tableToIPC(new a.Table([batch]), 'stream'));
  const properties = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setCreatedBy(`${ENGINE_INFO} (parquet-wasm)`)
    .build();
  return pw.writeParquet(table, properties);
}

type Reader = (row: number) => unknown;

/**
 * A reader of one column's values as plain JSON-like data: structs as objects without their null
 * fields (absent optional fields), maps as objects (null values kept), lists as arrays, 64-bit
 * integers as numbers. Built once per column: far faster than converting Arrow row proxies.
 */
function columnReader(a: typeof Arrow, v: Arrow.Vector): Reader {
  const t = v.type as Arrow.DataType;
  if (a.DataType.isStruct(t)) {
    const kids = t.children.map((f, k) => [f.name, columnReader(a, v.getChildAt(k)!)] as const);
    return (i) => {
      if (!v.isValid(i)) return null;
      const o: Record<string, unknown> = {};
      for (const [name, read] of kids) {
        const x = read(i);
        if (x !== null && x !== undefined) o[name] = x;
      }
      return o;
    };
  }
  if (a.DataType.isMap(t)) {
    return (i) => {
      const m = v.get(i) as { toJSON(): Record<string, unknown> } | null;
      return m ? m.toJSON() : null;
    };
  }
  if (a.DataType.isList(t)) {
    return (i) => {
      const l = v.get(i) as Iterable<unknown> | null;
      return l ? [...l] : null;
    };
  }
  if (a.DataType.isInt(t) && t.bitWidth === 64) {
    return (i) => {
      const x = v.get(i) as bigint | null;
      return x === null || x === undefined ? null : Number(x);
    };
  }
  return (i) => v.get(i) as unknown;
}

/**
 * Decodes the actions of a checkpoint file (ours, delta-rs's or Spark's: only the columns above
 * are read; `stats_parsed` and the like are ignored).
 */
export async function decodeCheckpoint(bytes: Uint8Array): Promise<Action[]> {
  const [a, pw] = await Promise.all([loadArrow(), loadParquetWasm()]);
  // intoIPCStream consumes (frees) the WebAssembly table.
  const table = a.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
  const columns: [Column, Arrow.Vector][] = [];
  for (const c of COLUMNS) {
    const v = table.getChild(c);
    if (v) columns.push([c, v]);
  }
  if (!columns.some(([c]) => c === 'add') || !columns.some(([c]) => c === 'metaData'))
    throw new Error('not a Delta checkpoint (no add or metaData column)');
  const readers = columns.map(([c, v]) => [c, v, columnReader(a, v)] as const);
  const actions: Action[] = [];
  for (let i = 0; i < table.numRows; i++) {
    for (const [column, vector, read] of readers) {
      if (!vector.isValid(i)) continue;
      const value = read(i) as Record<string, unknown>;
      if (column === 'metaData') {
        const format = value.format as { provider: string; options?: Record<string, string> };
        value.format = { provider: format.provider, options: format.options ?? {} };
        value.partitionColumns ??= [];
        value.configuration ??= {};
      }
      if (column === 'add') value.partitionValues ??= {};
      actions.push({ [column]: value } as unknown as Action);
    }
  }
  return actions;
}

/** Reads a checkpoint (all parts) into a TableState at its version; throws if it is unusable. */
export async function loadCheckpoint(
  files: readonly CheckpointFile[],
  read: (name: string) => Promise<Uint8Array | undefined>,
  expectedSize?: number,
): Promise<TableState> {
  const actions: Action[] = [];
  for (const f of files) {
    const bytes = await read(f.name);
    if (!bytes) throw new Error(`${f.name} disappeared`);
    for (const action of await decodeCheckpoint(bytes)) actions.push(action);
  }
  if (expectedSize !== undefined && actions.length !== expectedSize)
    throw new Error(`it holds ${actions.length} actions but _last_checkpoint says ${expectedSize}`);
  const state = TableState.fromCheckpoint(files[0]!.version, actions);
  if (!state.protocol || !state.metadata) throw new Error('it has no protocol or metaData action');
  return state;
}

/** Parses `_last_checkpoint`; undefined when it is not a usable pointer. */
export function parseLastCheckpoint(text: string): LastCheckpoint | undefined {
  const o = JSON.parse(text) as Partial<LastCheckpoint>;
  if (!Number.isSafeInteger(o?.version) || (o.version as number) < 0) return undefined;
  return o as LastCheckpoint;
}
