import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { Logger, SensorRecord } from '@iotsim/core';
import { dicts, makeRecords, tempDirs, writeRequest } from '@iotsim/test-utils';
import { parquetReadObjects } from 'hyparquet';
import { DeltaSink } from '../src/index.js';
import {
  checkpointFileName,
  completeCheckpoints,
  decodeCheckpoint,
  encodeCheckpoint,
  isCheckpointVersion,
  parseCheckpointFileName,
  tombstoneRetentionMs,
} from '../src/internal/checkpoint.js';
import type { DeltaLog } from '../src/internal/delta-log.js';
import type { Action, TableState } from '../src/internal/log.js';
import type { LocalStorage } from '../src/internal/storage.js';
import { contextFor, deltaSink, liveFiles, readLog, readTable, sortDicts } from './read-table.js';

const freshDir = tempDirs('iotsim-delta-ckpt-');

/** A logger that keeps warnings. */
function capture(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn: (m) => warnings.push(m),
    error: (m) => warnings.push(m),
  };
}

/** Drives a sink by hand (no runner): connect, one write per batch, close. */
async function writeBatches(
  sink: DeltaSink,
  records: readonly SensorRecord[],
  batchSize: number,
  logger: Logger = capture(),
): Promise<void> {
  sink.attach(contextFor(logger));
  await sink.connect();
  for (let i = 0; i < records.length; i += batchSize)
    await sink.write(writeRequest(records.slice(i, i + batchSize)));
  await sink.close();
}

/** The sink's replayed state after connect (what the next commit builds on). */
async function connectedState(
  path: string,
  logger: Logger = capture(),
  partitionBy = ['industry'],
): Promise<{ sink: DeltaSink; state: TableState }> {
  const sink = deltaSink({ tablePath: path, partitionBy });
  sink.attach(contextFor(logger));
  await sink.connect();
  const state = (sink as unknown as { log: DeltaLog }).log.state;
  await sink.close();
  return { sink, state };
}

/** Reads a checkpoint file with hyparquet (an independent Parquet reader). */
async function readCheckpointRows(path: string): Promise<Record<string, unknown>[]> {
  const buf = await readFile(path);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  return (await parquetReadObjects({ file })) as Record<string, unknown>[];
}

/** Comparable form of live files: path -> the fields a reader uses. */
function filesOf(state: TableState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of state.files)
    out[k] = {
      path: f.path,
      partitionValues: f.partitionValues,
      size: f.size,
      modificationTime: f.modificationTime,
      stats: f.stats,
    };
  return out;
}

async function logNames(path: string): Promise<string[]> {
  return (await readdir(join(path, '_delta_log'))).sort();
}

describe('checkpoint pieces', () => {
  it('checkpoints after every interval-th commit, as delta-rs does (9, 19, …)', () => {
    const at = [...Array(40).keys()].filter((v) => isCheckpointVersion(v, 10));
    expect(at).toEqual([9, 19, 29, 39]);
    expect([...Array(7).keys()].filter((v) => isCheckpointVersion(v, 3))).toEqual([2, 5]);
    expect([...Array(30).keys()].some((v) => isCheckpointVersion(v, 0))).toBe(false);
  });

  it('names classic checkpoints and finds complete ones, newest first', () => {
    expect(checkpointFileName(19)).toBe('00000000000000000019.checkpoint.parquet');
    expect(parseCheckpointFileName('00000000000000000019.checkpoint.parquet')).toMatchObject({
      version: 19,
      part: 1,
      parts: 1,
    });
    expect(
      parseCheckpointFileName('00000000000000000020.checkpoint.0000000002.0000000003.parquet'),
    ).toMatchObject({ version: 20, part: 2, parts: 3 });
    expect(
      parseCheckpointFileName(
        '00000000000000000020.checkpoint.80a083e8-7026-4e79-81be-64bd76c8a471.parquet',
      ),
    ).toBeUndefined();
    expect(parseCheckpointFileName('00000000000000000020.json')).toBeUndefined();
    const found = completeCheckpoints([
      '00000000000000000009.checkpoint.parquet',
      '00000000000000000030.checkpoint.0000000001.0000000002.parquet', // part 2 missing
      '00000000000000000020.checkpoint.0000000002.0000000002.parquet',
      '00000000000000000020.checkpoint.0000000001.0000000002.parquet',
      '_last_checkpoint',
    ]);
    expect(found.map((c) => c.map((f) => `${f.version}:${f.part}/${f.parts}`))).toEqual([
      ['20:1/2', '20:2/2'],
      ['9:1/1'],
    ]);
  });

  it('reads tombstone retention from the table configuration', () => {
    expect(tombstoneRetentionMs({})).toBe(7 * 86_400_000);
    expect(tombstoneRetentionMs({ 'delta.deletedFileRetentionDuration': 'interval 2 days' })).toBe(
      2 * 86_400_000,
    );
    expect(tombstoneRetentionMs({ 'delta.deletedFileRetentionDuration': 'interval 1 hour' })).toBe(
      3_600_000,
    );
    expect(tombstoneRetentionMs({ 'delta.deletedFileRetentionDuration': 'soon' })).toBe(
      7 * 86_400_000,
    );
  });

  it('encodes and decodes every action kind', async () => {
    const actions: Action[] = [
      {
        protocol: {
          minReaderVersion: 1,
          minWriterVersion: 7,
          writerFeatures: ['appendOnly', 'invariants'],
        },
      },
      {
        metaData: {
          id: 'b5f0b2f4-1111-2222-3333-444455556666',
          name: 'sensors',
          format: { provider: 'parquet', options: {} },
          schemaString: '{"type":"struct","fields":[]}',
          partitionColumns: ['industry', 'unit'],
          configuration: { 'delta.appendOnly': 'true' },
          createdTime: 1_700_000_000_123,
        },
      },
      { txn: { appId: 'app-1', version: 42, lastUpdated: 1_700_000_000_456 } },
      {
        add: {
          path: 'industry=a%20b/unit=__HIVE_DEFAULT_PARTITION__/part-0.parquet',
          partitionValues: { industry: 'a b', unit: null },
          size: 2 ** 40 + 3,
          modificationTime: 1_700_000_000_789,
          dataChange: false,
          stats: '{"numRecords":3}',
        },
      },
      {
        add: {
          path: 'x.parquet',
          partitionValues: {},
          size: 1,
          modificationTime: 2,
          dataChange: false,
          tags: { k: 'v' },
        },
      },
      {
        remove: {
          path: 'old.parquet',
          deletionTimestamp: 1_700_000_001_000,
          dataChange: false,
          extendedFileMetadata: true,
          partitionValues: { industry: 'a' },
          size: 10,
        },
      },
    ];
    const bytes = await encodeCheckpoint(actions);
    expect(await decodeCheckpoint(bytes)).toEqual(actions);
  });
});

describe('DeltaSink checkpoints on a local table', () => {
  it('writes checkpoints at versions 9 and 19 of 25 commits; _last_checkpoint points at 19', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(250, { seed: 31 });
    const sink = deltaSink({ tablePath: path, partitionBy: ['industry'] });
    const logger = capture();
    await writeBatches(sink, records, 10, logger);
    expect(logger.warnings).toEqual([]);
    expect(sink.commits).toBe(25);
    expect(sink.checkpoints).toBe(2);
    const names = await logNames(path);
    expect(names.filter((n) => n.includes('checkpoint'))).toEqual([
      '00000000000000000009.checkpoint.parquet',
      '00000000000000000019.checkpoint.parquet',
      '_last_checkpoint',
    ]);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);

    // The checkpoint, read with hyparquet, holds exactly the table state at version 19.
    const rows = await readCheckpointRows(join(path, '_delta_log', checkpointFileName(19)));
    const last = JSON.parse(await readFile(join(path, '_delta_log/_last_checkpoint'), 'utf8'));
    const adds = rows.filter((r) => r.add).map((r) => r.add as Record<string, unknown>);
    expect(last).toEqual({
      version: 19,
      size: rows.length,
      sizeInBytes: (await readFile(join(path, '_delta_log', checkpointFileName(19)))).length,
      numOfAddFiles: adds.length,
    });
    const live = await liveFiles(path, 19);
    expect(adds.map((a) => decodeURIComponent(a.path as string)).sort()).toEqual(
      [...live.keys()].sort(),
    );
    for (const a of adds) {
      const orig = live.get(decodeURIComponent(a.path as string))!;
      expect(a.dataChange).toBe(false);
      expect(a.partitionValues).toEqual(orig.partitionValues);
      expect(Number(a.size)).toBe(orig.size);
      expect(Number(a.modificationTime)).toBe(orig.modificationTime);
      expect(a.stats).toBe(orig.stats);
    }
    const log = await readLog(path);
    expect(rows.filter((r) => r.protocol).map((r) => r.protocol)).toEqual([
      expect.objectContaining({ minReaderVersion: 1, minWriterVersion: 2 }),
    ]);
    const meta = rows.filter((r) => r.metaData).map((r) => r.metaData as Record<string, unknown>);
    const logMeta = log[0]!.actions.find((a) => a.metaData)!.metaData!;
    expect(meta).toHaveLength(1);
    expect(meta[0]).toMatchObject({
      id: logMeta.id,
      schemaString: logMeta.schemaString,
      partitionColumns: ['industry'],
      format: { provider: 'parquet' },
    });
    const txns = rows.filter((r) => r.txn).map((r) => r.txn as Record<string, unknown>);
    expect(txns).toHaveLength(1);
    expect(Number(txns[0]!.version)).toBe(19); // batch 19 was committed as version 19 (0: the table)
    expect(rows.length).toBe(2 + txns.length + adds.length);
    expect(rows.some((r) => r.commitInfo)).toBe(false);
  });

  it('replay from the checkpoint gives the same state as a full replay, and needs no older commits', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(250, { seed: 32 });
    await writeBatches(deltaSink({ tablePath: path, partitionBy: ['industry'] }), records, 10);

    const fromCheckpoint = await connectedState(path);
    expect(fromCheckpoint.sink.replayedFromCheckpoint).toBe(19);
    expect(fromCheckpoint.state.version).toBe(25);

    // The same table without its checkpoints: a full replay of the JSON commits.
    const copy = join(await freshDir(), 'copy');
    await copyTable(path, copy, (n) => !n.includes('checkpoint'));
    const full = await connectedState(copy);
    expect(full.sink.replayedFromCheckpoint).toBeUndefined();
    expect(full.state.version).toBe(25);
    expect(filesOf(fromCheckpoint.state)).toEqual(filesOf(full.state));
    expect(fromCheckpoint.state.files.size).toBe((await liveFiles(path)).size);
    expect([...fromCheckpoint.state.txns.values()]).toEqual([...full.state.txns.values()]);
    expect(fromCheckpoint.state.metadata).toEqual(full.state.metadata);
    expect(fromCheckpoint.state.protocol).toEqual(full.state.protocol);

    // Log cleanup removes the commits the checkpoint covers: we still open and append.
    for (let v = 0; v <= 19; v++)
      await rm(join(path, '_delta_log', `${String(v).padStart(20, '0')}.json`));
    await rm(join(path, '_delta_log', checkpointFileName(9)));
    const more = makeRecords(30, { seed: 33, start: 1_800_000_000 });
    const sink = deltaSink({ tablePath: path, partitionBy: ['industry'] });
    await writeBatches(sink, more, 10);
    expect(sink.replayedFromCheckpoint).toBe(19);
    expect(sink.version).toBe(28);
    const after = await connectedState(path);
    const newAdds = (await readLog(path))
      .filter((c) => c.version > 25)
      .flatMap((c) => c.actions.filter((a) => a.add));
    expect(newAdds.length).toBeGreaterThanOrEqual(3);
    expect(after.state.files.size).toBe(full.state.files.size + newAdds.length);
    // Every row is still there: read the data files the sink's state names.
    const expected = sortDicts(dicts([...records, ...more]));
    const rows = await readTableFromState(path, after.state);
    expect(sortDicts(rows)).toEqual(expected);
  });

  it('writes no checkpoint with checkpointInterval 0', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, checkpointInterval: 0 });
    await writeBatches(sink, makeRecords(120, { seed: 34 }), 10);
    expect(sink.commits).toBe(12);
    expect(sink.checkpoints).toBe(0);
    expect((await logNames(path)).filter((n) => !n.endsWith('.json'))).toEqual([]);
    expect(DeltaSink.fromConfig({ checkpoint_interval: 0 }).options.checkpointInterval).toBe(0);
    expect(deltaSink().options.checkpointInterval).toBe(10);
    expect(() => deltaSink({ checkpointInterval: -1 })).toThrow(/checkpointInterval/);
  });

  it('falls back to an older checkpoint, then to a full replay, when checkpoints are corrupt', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(250, { seed: 35 });
    await writeBatches(deltaSink({ tablePath: path, partitionBy: ['industry'] }), records, 10);
    const reference = await connectedState(path);

    await writeFile(join(path, '_delta_log', checkpointFileName(19)), 'not parquet at all');
    const logger = capture();
    const older = await connectedState(path, logger);
    expect(older.sink.replayedFromCheckpoint).toBe(9);
    expect(logger.warnings.join('\n')).toMatch(/cannot use the checkpoint of version 19/);
    expect(filesOf(older.state)).toEqual(filesOf(reference.state));

    // A valid Parquet file that is not a Delta checkpoint, and a wrong _last_checkpoint size.
    await writeFile(join(path, '_delta_log', checkpointFileName(9)), await encodeForeignParquet());
    const logger2 = capture();
    const full = await connectedState(path, logger2);
    expect(full.sink.replayedFromCheckpoint).toBeUndefined();
    expect(logger2.warnings).toHaveLength(2);
    expect(filesOf(full.state)).toEqual(filesOf(reference.state));
    expect(full.state.version).toBe(25);

    // A checkpoint whose action count disagrees with _last_checkpoint is not trusted either.
    const path2 = join(await freshDir(), 't2');
    await writeBatches(
      deltaSink({ tablePath: path2, partitionBy: ['industry'] }),
      makeRecords(100, { seed: 36 }),
      10,
    );
    const lastPath = join(path2, '_delta_log/_last_checkpoint');
    const last = JSON.parse(await readFile(lastPath, 'utf8'));
    await writeFile(lastPath, JSON.stringify({ ...last, size: last.size + 1 }));
    const logger3 = capture();
    const distrusted = await connectedState(path2, logger3);
    expect(distrusted.sink.replayedFromCheckpoint).toBeUndefined();
    expect(logger3.warnings.join('\n')).toMatch(/_last_checkpoint says/);
    expect(distrusted.state.version).toBe(10);
  });

  it('a failing checkpoint write never fails the batch', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, checkpointInterval: 2 });
    const logger = capture();
    sink.attach(contextFor(logger));
    await sink.connect();
    const storage = (sink as unknown as { storage: LocalStorage }).storage;
    const put = storage.putIfAbsent.bind(storage);
    storage.putIfAbsent = async (p, bytes) => {
      if (p.includes('checkpoint')) throw new Error('disk full');
      return put(p, bytes);
    };
    const records = makeRecords(50, { seed: 37 });
    for (let i = 0; i < 50; i += 10) await sink.write(writeRequest(records.slice(i, i + 10)));
    await sink.close();
    expect(sink.commits).toBe(5);
    expect(sink.checkpoints).toBe(0);
    expect(logger.warnings).toHaveLength(3); // versions 1, 3 and 5 (0 is the table)
    expect(logger.warnings[0]).toMatch(/could not write the checkpoint of version 1 .*disk full/);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(records)));
  });

  it('keeps remove tombstones of an overwrite in the checkpoint', async () => {
    const path = join(await freshDir(), 't');
    await writeBatches(
      deltaSink({ tablePath: path, checkpointInterval: 0 }),
      makeRecords(20, { seed: 38 }),
      10,
    );
    const removed = [...(await liveFiles(path)).keys()].sort();
    const fresh = makeRecords(20, { seed: 39, start: 1_800_000_000 });
    await writeBatches(
      deltaSink({ tablePath: path, mode: 'overwrite', checkpointInterval: 5 }),
      fresh,
      10,
    );
    // Versions: 0 the table, 1-2 the first sink, 3 the overwrite, 4 its append: checkpoint at 4.
    const rows = await readCheckpointRows(join(path, '_delta_log', checkpointFileName(4)));
    const removes = rows.filter((r) => r.remove).map((r) => r.remove as Record<string, unknown>);
    expect(removes.map((r) => decodeURIComponent(r.path as string)).sort()).toEqual(removed);
    for (const r of removes) expect(r.dataChange).toBe(false);
    expect(rows.filter((r) => r.add)).toHaveLength(2);
    const { state } = await connectedState(path, capture(), []);
    expect(state.tombstones.size).toBe(2);
    expect(sortDicts(await readTableFromState(path, state))).toEqual(sortDicts(dicts(fresh)));
  });
});

/** Copies a table directory, keeping only `_delta_log` names that pass `keep`. */
async function copyTable(from: string, to: string, keep: (name: string) => boolean): Promise<void> {
  const { cp } = await import('node:fs/promises');
  await cp(from, to, {
    recursive: true,
    filter: (src) => !src.includes('_delta_log/') || keep(src.split('/').pop()!),
  });
}

/** Rows of the files a state names, read with hyparquet (partition values put back). */
async function readTableFromState(
  root: string,
  state: TableState,
): Promise<ReturnType<typeof dicts>> {
  const { parquetRowToDict, readParquetRows } = await import('@iotsim/test-utils');
  const rows: ReturnType<typeof dicts> = [];
  for (const [path, add] of state.files) {
    for (const row of await readParquetRows(join(root, path))) {
      const d: Record<string, unknown> = { ...row };
      for (const [k, v] of Object.entries(add.partitionValues)) d[k] = v ?? '';
      rows.push(parquetRowToDict(d));
    }
  }
  return rows;
}

/** A Parquet file of sensor records: valid Parquet, but not a checkpoint. */
async function encodeForeignParquet(): Promise<Uint8Array> {
  const { createParquetWriter } = await import('@iotsim/parquet');
  const chunks: Uint8Array[] = [];
  const w = await createParquetWriter({
    async write(c) {
      chunks.push(c);
    },
    async close() {},
  });
  await w.write(makeRecords(5));
  await w.close();
  return Buffer.concat(chunks);
}
