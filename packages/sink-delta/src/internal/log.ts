import { RECORD_FIELDS } from '@iotsim/core';
import type { DeltaTimestampType } from '../options.js';

/** The protocol we write: reader 1, writer 2 (no table features). */
export const WRITE_PROTOCOL = Object.freeze({ minReaderVersion: 1, minWriterVersion: 2 });

/** Writer features we honour when a table uses writer version 7. */
export const SUPPORTED_WRITER_FEATURES: readonly string[] = ['appendOnly', 'invariants'];

/** One field of a Delta schema (primitive types only: that is all a record has). */
export interface DeltaField {
  name: string;
  type: string | Record<string, unknown>;
  nullable: boolean;
  metadata: Record<string, unknown>;
}

/** A Delta table schema (`schemaString` parsed). */
export interface DeltaSchema {
  type: 'struct';
  fields: DeltaField[];
}

export interface ProtocolAction {
  minReaderVersion: number;
  minWriterVersion: number;
  readerFeatures?: string[];
  writerFeatures?: string[];
}

export interface MetadataAction {
  id: string;
  name?: string | null;
  description?: string | null;
  format: { provider: string; options: Record<string, string> };
  schemaString: string;
  partitionColumns: string[];
  configuration: Record<string, string>;
  createdTime?: number;
}

export interface AddAction {
  path: string;
  partitionValues: Record<string, string | null>;
  size: number;
  modificationTime: number;
  dataChange: boolean;
  stats?: string;
  tags?: Record<string, string | null>;
}

export interface RemoveAction {
  path: string;
  deletionTimestamp: number;
  dataChange: boolean;
  extendedFileMetadata?: boolean;
  partitionValues?: Record<string, string | null>;
  size?: number;
  stats?: string;
  tags?: Record<string, string | null>;
}

export interface TxnAction {
  appId: string;
  version: number;
  lastUpdated?: number;
}

export type CommitInfo = Record<string, unknown>;

/** One line of a commit file. */
export type Action =
  | { protocol: ProtocolAction }
  | { metaData: MetadataAction }
  | { add: AddAction }
  | { remove: RemoveAction }
  | { txn: TxnAction }
  | { commitInfo: CommitInfo };

/** Delta types of the record's columns, in RECORD_FIELDS order. */
export function recordSchema(timestampType: DeltaTimestampType): DeltaSchema {
  const types: Record<string, string> = {
    sensor_name: 'string',
    industry: 'string',
    device_id: 'string',
    value: 'double',
    unit: 'string',
    sensor_type: 'string',
    timestamp: timestampType === 'timestamp' ? 'timestamp' : 'double',
    min_value: 'double',
    max_value: 'double',
    nominal_value: 'double',
    fault_active: 'boolean',
    metadata: 'string',
  };
  return {
    type: 'struct',
    fields: RECORD_FIELDS.map((name) => ({
      name,
      type: types[name]!,
      // Nullable, as Spark and delta-rs create columns: delta-rs refuses to append nullable
      // Arrow data to a NOT NULL column, which would break writing to our tables from Python.
      nullable: true,
      metadata: {},
    })),
  };
}

/** `_delta_log/00000000000000000042.json` for version 42. */
export function commitPath(version: number): string {
  return `_delta_log/${commitFileName(version)}`;
}

/** `00000000000000000042.json` for version 42. */
export function commitFileName(version: number): string {
  if (!Number.isSafeInteger(version) || version < 0)
    throw new RangeError(`invalid Delta version ${version}`);
  return `${String(version).padStart(20, '0')}.json`;
}

/** The version of a commit file name, or undefined for any other file in `_delta_log/`. */
export function parseCommitFileName(name: string): number | undefined {
  const m = /^(\d{20})\.json$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** A commit file's text: one JSON action per line. */
export function serializeCommit(actions: readonly Action[]): string {
  return actions.map((a) => JSON.stringify(a)).join('\n') + '\n';
}

/** Parses a commit file; `where` names it in errors. */
export function parseCommit(text: string, where: string): Action[] {
  const out: Action[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as Action);
    } catch (err) {
      throw new Error(`${where}:${i + 1}: not valid JSON (${(err as Error).message})`, {
        cause: err,
      });
    }
  }
  return out;
}

/** Parses a `schemaString`. */
export function parseSchema(schemaString: string): DeltaSchema {
  const s = JSON.parse(schemaString) as DeltaSchema;
  if (s?.type !== 'struct' || !Array.isArray(s.fields))
    throw new Error('schemaString is not a struct type');
  return s;
}

function typeName(t: DeltaField['type']): string {
  return typeof t === 'string' ? t : JSON.stringify(t);
}

/**
 * Differences between a table's schema and the one we write, as sentences; empty when they
 * match (names and types; nullability and column metadata are ignored).
 */
export function schemaDifferences(table: DeltaSchema, ours: DeltaSchema): string[] {
  const problems: string[] = [];
  const theirs = new Map(table.fields.map((f) => [f.name, f]));
  const mine = new Map(ours.fields.map((f) => [f.name, f]));
  const missing = ours.fields.filter((f) => !theirs.has(f.name)).map((f) => f.name);
  const extra = table.fields.filter((f) => !mine.has(f.name)).map((f) => f.name);
  if (missing.length) problems.push(`the table has no column ${missing.join(', ')}`);
  if (extra.length) problems.push(`the table has column(s) the records lack: ${extra.join(', ')}`);
  for (const f of ours.fields) {
    const t = theirs.get(f.name);
    if (!t || typeName(t.type) === typeName(f.type)) continue;
    let hint = '';
    if (f.name === 'timestamp' && (t.type === 'timestamp' || t.type === 'double'))
      hint = ` (set timestamp_type: ${t.type})`;
    problems.push(
      `column ${f.name} is ${typeName(t.type)} in the table but ${typeName(f.type)} in our records${hint}`,
    );
  }
  return problems;
}

/** A data file live in the table: its `add` action as the log holds it. */
export type LiveFile = AddAction;

/**
 * The state of a table after replaying its log: latest version, protocol, metadata, live files
 * (their add actions), remove tombstones, and the last transaction per application id.
 */
export class TableState {
  version = -1;
  protocol: ProtocolAction | undefined;
  metadata: MetadataAction | undefined;
  readonly files = new Map<string, LiveFile>();
  /** Removed files (kept in checkpoints until they expire), by decoded path. */
  readonly tombstones = new Map<string, RemoveAction>();
  readonly txns = new Map<string, TxnAction>();

  /** A state at `version` holding `actions`: a checkpoint's contents. */
  static fromCheckpoint(version: number, actions: readonly Action[]): TableState {
    const state = new TableState();
    state.applyActions(actions);
    state.version = version;
    return state;
  }

  /** Applies the actions of `version`, which must follow the current one. */
  apply(version: number, actions: readonly Action[]): void {
    if (version !== this.version + 1)
      throw new Error(`log replay: expected version ${this.version + 1}, got ${version}`);
    this.applyActions(actions);
    this.version = version;
  }

  private applyActions(actions: readonly Action[]): void {
    for (const a of actions) {
      if ('add' in a) {
        const key = decodeLogPath(a.add.path);
        this.files.set(key, a.add);
        this.tombstones.delete(key);
      } else if ('remove' in a) {
        const key = decodeLogPath(a.remove.path);
        this.files.delete(key);
        this.tombstones.set(key, a.remove);
      } else if ('metaData' in a) this.metadata = a.metaData;
      else if ('protocol' in a) this.protocol = a.protocol;
      else if ('txn' in a) this.txns.set(a.txn.appId, a.txn);
    }
  }
}

/** Paths in the log are URIs: two spellings of one file must be one key. */
function decodeLogPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
