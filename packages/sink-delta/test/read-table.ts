import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  SinkRunner,
  splitSinkConfig,
  THROUGHPUT_DEFAULTS,
  type Logger,
  type SensorRecord,
  type SensorRecordDict,
  type SinkContext,
  type ThroughputOptions,
} from '@iotsim/core';
import {
  describeSinkConformance,
  parquetRowToDict,
  readParquetRows,
  runThrough,
} from '@iotsim/test-utils';
import { DeltaSink, type DeltaSinkOptions } from '../src/index.js';

/** One commit file, parsed line by line. */
export type Commit = Record<string, Record<string, unknown>>[];

/** Every commit of a local table, in version order (its own tiny log reader, not the sink's). */
export async function readLog(root: string): Promise<{ version: number; actions: Commit }[]> {
  const names = (await readdir(join(root, '_delta_log'))).filter((n) => /^\d{20}\.json$/.test(n));
  names.sort();
  const out: { version: number; actions: Commit }[] = [];
  for (const n of names) {
    const text = await readFile(join(root, '_delta_log', n), 'utf8');
    out.push({
      version: Number(n.slice(0, 20)),
      actions: text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Commit[number]),
    });
  }
  return out;
}

/** Live add actions after replaying the log up to `upTo` (default: all). */
export async function liveFiles(
  root: string,
  upTo = Infinity,
): Promise<Map<string, Record<string, unknown>>> {
  const files = new Map<string, Record<string, unknown>>();
  for (const { version, actions } of await readLog(root)) {
    if (version > upTo) break;
    for (const a of actions) {
      if (a.add) files.set(decodeURIComponent(a.add.path as string), a.add);
      if (a.remove) files.delete(decodeURIComponent(a.remove.path as string));
    }
  }
  return files;
}

/**
 * Reads a local Delta table with hyparquet: replays the log, reads each live file, and puts the
 * partition values back into the rows (as record dicts, metadata parsed).
 */
export async function readTable(root: string, upTo = Infinity): Promise<SensorRecordDict[]> {
  const rows: SensorRecordDict[] = [];
  for (const [path, add] of await liveFiles(root, upTo)) {
    const pv = add.partitionValues as Record<string, string | null>;
    for (const row of await readParquetRows(join(root, path))) {
      const d: Record<string, unknown> = { ...row };
      for (const [k, v] of Object.entries(pv))
        d[k] = k === 'fault_active' ? v === 'true' : (v ?? '');
      rows.push(parquetRowToDict(d));
    }
  }
  return rows;
}

/** Key-order-independent comparison form of record dicts (field order as RECORD_FIELDS). */
export function sortDicts(rows: SensorRecordDict[]): SensorRecordDict[] {
  const key = (d: SensorRecordDict): string =>
    `${d.industry}|${d.device_id}|${d.sensor_name}|${d.timestamp}`;
  return [...rows].sort((a, b) => key(a).localeCompare(key(b)));
}

/**
 * The sink conformance suite on fresh local tables partitioned by industry, read back by `read`
 * (our own log reader with hyparquet, or delta-rs). Rows come back file by file, one file per
 * partition per commit, in no guaranteed order.
 */
export function describeDeltaConformance(
  name: string,
  freshDir: () => Promise<string>,
  read: (tablePath: string) => Promise<SensorRecordDict[]>,
): void {
  const tables = new WeakMap<DeltaSink, string>();
  describeSinkConformance<DeltaSink>(name, {
    async create() {
      const path = join(await freshDir(), 'table');
      const sink = new DeltaSink({ tablePath: path, partitionBy: ['industry'] });
      tables.set(sink, path);
      return sink;
    },
    readBack: (sink) => read(tables.get(sink)!),
    ordered: false,
  });
}

/** The Delta type of each record column with `timestamp_type: double` (the original's schema). */
export const DELTA_TYPES = {
  sensor_name: 'string',
  industry: 'string',
  device_id: 'string',
  value: 'double',
  unit: 'string',
  sensor_type: 'string',
  timestamp: 'double',
  min_value: 'double',
  max_value: 'double',
  nominal_value: 'double',
  fault_active: 'boolean',
  metadata: 'string',
};

const throughputs = new WeakMap<DeltaSink, ThroughputOptions>();

/** A DeltaSink from options that may also hold throughput keys (kept for its runner, as YAML does). */
export function deltaSink(options: DeltaSinkOptions & ThroughputOptions = {}): DeltaSink {
  const { throughput, own } = splitSinkConfig(options as Record<string, unknown>);
  const sink = new DeltaSink(own as DeltaSinkOptions);
  throughputs.set(sink, throughput);
  return sink;
}

/** `runThrough` with the throughput the sink was made with by `deltaSink`. */
export function runDelta(
  sink: DeltaSink,
  records: readonly SensorRecord[],
  options: { tick?: number; wait?: boolean } = {},
): ReturnType<typeof runThrough> {
  return runThrough(sink, records, { ...options, throughput: throughputs.get(sink) });
}

/** A runner with the throughput the sink was made with by `deltaSink`. */
export function runnerFor(sink: DeltaSink, options: { logger?: Logger } = {}): SinkRunner {
  return new SinkRunner(sink, { ...options, throughput: throughputs.get(sink) });
}

/** What a runner hands a sink, for tests that drive it directly. */
export function contextFor(logger: Logger): SinkContext {
  return {
    logger,
    name: 'delta',
    throughput: { ...THROUGHPUT_DEFAULTS, maxInFlight: 1 },
  };
}
