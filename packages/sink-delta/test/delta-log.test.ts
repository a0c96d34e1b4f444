// The transaction-log engine on its own: a LocalStorage, add actions for files that need not
// exist (the engine never reads data files), and the log read back with the tests' own reader.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { SinkWriteError } from '@iotsim/core';
import { tempDirs } from '@iotsim/test-utils';
import { parquetMetadata } from 'hyparquet';
import { DeltaTableMismatchError } from '../src/index.js';
import { checkpointFileName } from '../src/internal/checkpoint.js';
import { DeltaLog, MAX_COMMIT_ATTEMPTS, type DeltaLogSettings } from '../src/internal/delta-log.js';
import { commitFileName, recordSchema, type AddAction } from '../src/internal/log.js';
import { LocalStorage } from '../src/internal/storage.js';
import { readLog } from './read-table.js';

const freshDir = tempDirs('iotsim-delta-log-');

/** The version in package.json, read here independently of the package's own loader. */
async function packageVersion(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function settings(over: Partial<DeltaLogSettings> = {}): DeltaLogSettings {
  return {
    schema: recordSchema('double'),
    partitionBy: [],
    mode: 'append',
    checkpointInterval: 10,
    ...over,
  };
}

/** A DeltaLog loaded from the table at `dir` (created empty if absent), and its storage. */
async function loaded(
  dir: string,
  over: Partial<DeltaLogSettings> = {},
): Promise<{ log: DeltaLog; storage: LocalStorage }> {
  const storage = new LocalStorage(dir);
  await storage.open();
  const log = new DeltaLog(settings(over));
  await log.load(storage);
  return { log, storage };
}

const add = (path: string, size = 100): AddAction => ({
  path,
  partitionValues: {},
  size,
  modificationTime: 1_700_000_000_000,
  dataChange: true,
});

/** Writes a commit as another writer would. */
async function foreignCommit(dir: string, version: number, actions: object[]): Promise<void> {
  await writeFile(
    join(dir, '_delta_log', commitFileName(version)),
    actions.map((a) => JSON.stringify(a)).join('\n') + '\n',
  );
}

describe('DeltaLog', () => {
  it('creates the table as version 0, then commits each batch as the next version, with engineInfo from package.json', async () => {
    const dir = await freshDir();
    const counted: string[] = [];
    const { log } = await loaded(dir, { count: (n) => counted.push(n) });
    expect(log.version).toBe(-1);
    expect(await log.ensureTable()).toBe(true);
    expect(await log.commit(log.prepare([add('a.parquet', 40), add('b.parquet', 60)], 7))).toBe(1);
    expect(log.version).toBe(1);
    expect(log.commits).toBe(1);
    expect(counted).toEqual(['tables_created', 'commits']);

    const engine = `iotsim-sink-delta/${await packageVersion()}`;
    const [v0, v1] = await readLog(dir);
    expect(v0!.actions).toEqual([
      {
        commitInfo: expect.objectContaining({
          operation: 'CREATE TABLE',
          engineInfo: engine,
          clientVersion: engine,
        }),
      },
      { protocol: { minReaderVersion: 1, minWriterVersion: 2 } },
      {
        metaData: expect.objectContaining({
          format: { provider: 'parquet', options: {} },
          schemaString: JSON.stringify(recordSchema('double')),
          partitionColumns: [],
        }),
      },
    ]);
    expect(v1!.actions[0]!.commitInfo).toMatchObject({
      operation: 'WRITE',
      operationParameters: { mode: 'Append', partitionBy: '[]' },
      isBlindAppend: true,
      operationMetrics: { numFiles: '2', numOutputRows: '7', numOutputBytes: '100' },
      engineInfo: engine,
    });
    expect(v1!.actions[1]!.txn).toMatchObject({ appId: log.appId, version: 1 });
    expect(v1!.actions.slice(2).map((a) => a.add!.path)).toEqual(['a.parquet', 'b.parquet']);

    // A second writer opens the table: it exists, so nothing is created.
    const other = await loaded(dir);
    expect(await other.log.ensureTable()).toBe(false);
    expect(other.log.version).toBe(1);
    expect([...other.log.state.files.keys()]).toEqual(['a.parquet', 'b.parquet']);
  });

  it('takes the next version when another writer took one, and counts the clash', async () => {
    const dir = await freshDir();
    const { log } = await loaded(dir);
    await log.ensureTable();
    await log.commit(log.prepare([add('a.parquet')], 1));
    await foreignCommit(dir, 2, [
      { commitInfo: { operation: 'WRITE' } },
      { add: add('x.parquet') },
    ]);
    expect(await log.commit(log.prepare([add('b.parquet')], 1))).toBe(3);
    expect(log.clashes).toBe(1);
    expect((await readLog(dir)).map((c) => c.version)).toEqual([0, 1, 2, 3]);
    expect([...log.state.files.keys()].sort()).toEqual(['a.parquet', 'b.parquet', 'x.parquet']);
  });

  it('does not commit a transaction twice when its commit landed but the attempt failed', async () => {
    const dir = await freshDir();
    const { log, storage } = await loaded(dir);
    await log.ensureTable();
    const put = storage.putIfAbsent.bind(storage);
    let failures = 0;
    storage.putIfAbsent = async (path, bytes) => {
      const ok = await put(path, bytes);
      if (path.endsWith(commitFileName(1)) && failures++ === 0)
        throw new Error('connection reset after the commit was written');
      return ok;
    };
    const batch = log.prepare([add('a.parquet')], 3);
    await expect(log.commit(batch)).rejects.toThrow(/connection reset/);
    expect(await log.commit(batch)).toBeUndefined(); // found its own txn in version 1
    expect(await log.commit(log.prepare([add('b.parquet')], 3))).toBe(2);
    const versions = await readLog(dir);
    expect(versions.map((c) => c.version)).toEqual([0, 1, 2]);
    expect(versions.map((c) => c.actions.find((a) => a.txn)?.txn?.version)).toEqual([
      undefined,
      1,
      2,
    ]);
  });

  it('stops committing to a table whose layout another writer changed: DeltaTableMismatchError, nothing committed', async () => {
    const dir = await freshDir();
    const { log } = await loaded(dir);
    await log.ensureTable();
    await log.commit(log.prepare([add('a.parquet')], 1));
    const meta = (await readLog(dir))[0]!.actions.find((a) => a.metaData)!.metaData!;
    await foreignCommit(dir, 2, [{ metaData: { ...meta, partitionColumns: ['industry'] } }]);
    const err = await log.commit(log.prepare([add('b.parquet')], 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaTableMismatchError);
    expect(String(err)).toMatch(/partitioned by \[industry\] but partition_by is \[\]/);
    expect((await readLog(dir)).map((c) => c.version)).toEqual([0, 1, 2]);
  });

  it(`gives up after ${MAX_COMMIT_ATTEMPTS} attempts when every version is taken: a retryable SinkWriteError`, async () => {
    const dir = await freshDir();
    const { log, storage } = await loaded(dir);
    await log.ensureTable();
    storage.putIfAbsent = async () => false; // taken, yet never readable: a hostile store
    const err = await log.commit(log.prepare([add('a.parquet')], 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkWriteError);
    expect(err).toMatchObject({ retryable: true });
    expect(String(err)).toMatch(
      /gave up after 50 commit attempts on .*other writers took every version/,
    );
    expect(log.clashes).toBe(MAX_COMMIT_ATTEMPTS);
    expect(log.version).toBe(0);
  });

  it('overwrite: the first commit removes every live file, later commits append', async () => {
    const dir = await freshDir();
    const first = await loaded(dir);
    await first.log.ensureTable();
    await first.log.commit(first.log.prepare([add('a.parquet')], 1));
    await first.log.commit(first.log.prepare([add('b.parquet')], 1));
    const { log } = await loaded(dir, { mode: 'overwrite' });
    expect(await log.ensureTable()).toBe(false);
    expect(await log.commit(log.prepare([add('c.parquet')], 1))).toBe(3);
    expect(await log.commit(log.prepare([add('d.parquet')], 1))).toBe(4);
    const [v3, v4] = (await readLog(dir)).slice(3);
    expect(v3!.actions[0]!.commitInfo).toMatchObject({
      operationParameters: { mode: 'Overwrite' },
      isBlindAppend: false,
    });
    expect(
      v3!.actions.filter((a) => a.remove).map((a) => [a.remove!.path, a.remove!.dataChange]),
    ).toEqual([
      ['a.parquet', true],
      ['b.parquet', true],
    ]);
    expect(v4!.actions[0]!.commitInfo).toMatchObject({ operationParameters: { mode: 'Append' } });
    expect(v4!.actions.some((a) => a.remove)).toBe(false);
    expect([...log.state.files.keys()]).toEqual(['c.parquet', 'd.parquet']);
    expect([...log.state.tombstones.keys()]).toEqual(['a.parquet', 'b.parquet']);
  });

  it('checkpoints after every interval-th commit; a fresh log loads from it with the same state; created-by names the package version', async () => {
    const dir = await freshDir();
    const { log } = await loaded(dir, { checkpointInterval: 3 });
    await log.ensureTable();
    for (const name of ['a', 'b', 'c', 'd'])
      await log.commit(log.prepare([add(`${name}.parquet`)], 1));
    expect(log.checkpoints).toBe(1); // version 2: (2 + 1) % 3 === 0
    const last = JSON.parse(await readFile(join(dir, '_delta_log', '_last_checkpoint'), 'utf8'));
    expect(last).toMatchObject({ version: 2, numOfAddFiles: 2 });

    const again = await loaded(dir, { checkpointInterval: 3 });
    expect(again.log.replayedFromCheckpoint).toBe(2);
    expect(again.log.version).toBe(4);
    // Checkpoint adds carry dataChange: false; everything else is the writer's state.
    const files = (state: DeltaLog['state']) =>
      [...state.files].map(([k, { dataChange: _, ...rest }]) => [k, rest]);
    expect(files(again.log.state)).toEqual(files(log.state));
    expect(again.log.state.files.size).toBe(4);
    expect(again.log.state.txns).toEqual(log.state.txns);
    expect(again.log.state.metadata).toEqual(log.state.metadata);

    const buf = await readFile(join(dir, '_delta_log', checkpointFileName(2)));
    const meta = parquetMetadata(
      buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    );
    expect(meta.created_by).toBe(`iotsim-sink-delta/${await packageVersion()} (parquet-wasm)`);
  });

  it.each([
    ['the same layout: both go on', {}, 0],
    ['another layout: the loser gets DeltaTableMismatchError', { partitionBy: ['industry'] }, 1],
  ])('two writers race for version 0 with %s', async (_what, over, losers) => {
    const dir = await freshDir();
    // Both have read the empty log before either creates the table.
    const a = await loaded(dir);
    const b = await loaded(dir, over);
    const results = await Promise.allSettled([a.log.ensureTable(), b.log.ensureTable()]);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(losers);
    for (const r of rejected) expect(r.reason).toBeInstanceOf(DeltaTableMismatchError);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === true)).toHaveLength(1);
    expect(a.log.clashes + b.log.clashes).toBe(1);
    expect((await readLog(dir)).map((c) => c.version)).toEqual([0]);
  });

  const invariant = {
    ...recordSchema('double'),
    fields: recordSchema('double').fields.map((f) =>
      f.name === 'value'
        ? { ...f, metadata: { 'delta.invariants': '{"expression":"value > 0"}' } }
        : f,
    ),
  };
  const refused: [string, { protocol?: object; metaData?: object }, RegExp][] = [
    [
      'writer version 3',
      { protocol: { minReaderVersion: 1, minWriterVersion: 3 } },
      /writer version 3/,
    ],
    [
      'writer features it does not implement',
      {
        protocol: {
          minReaderVersion: 3,
          minWriterVersion: 7,
          readerFeatures: ['deletionVectors'],
          writerFeatures: ['appendOnly', 'deletionVectors'],
        },
      },
      /writer features this sink does not implement: deletionVectors/,
    ],
    [
      'another data format',
      { metaData: { format: { provider: 'orc', options: {} } } },
      /data format is orc/,
    ],
    [
      'a column invariant',
      { metaData: { schemaString: JSON.stringify(invariant) } },
      /column value has an invariant/,
    ],
    [
      'a missing column',
      {
        metaData: {
          schemaString: JSON.stringify({ ...invariant, fields: invariant.fields.slice(1) }),
        },
      },
      /the table has no column sensor_name/,
    ],
  ];
  it.each(refused)('refuses a table with %s', async (_what, change, message) => {
    const dir = await freshDir();
    await (await loaded(dir)).log.ensureTable();
    const [v0] = await readLog(dir);
    await foreignCommit(dir, 1, [
      { protocol: { ...v0!.actions.find((a) => a.protocol)!.protocol!, ...change.protocol } },
      { metaData: { ...v0!.actions.find((a) => a.metaData)!.metaData!, ...change.metaData } },
    ]);
    const { log } = await loaded(dir);
    const err = await log.ensureTable().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaTableMismatchError);
    expect(String(err)).toMatch(message);
  });

  it('accepts writer version 7 with only the features it honours (appendOnly), and refuses overwrite of an append-only table', async () => {
    const dir = await freshDir();
    const first = await loaded(dir);
    await first.log.ensureTable();
    const meta = (await readLog(dir))[0]!.actions.find((a) => a.metaData)!.metaData!;
    await foreignCommit(dir, 1, [
      { protocol: { minReaderVersion: 1, minWriterVersion: 7, writerFeatures: ['appendOnly'] } },
      { metaData: { ...meta, configuration: { 'delta.appendOnly': 'true' } } },
    ]);
    const append = await loaded(dir);
    await append.log.ensureTable();
    expect(await append.log.commit(append.log.prepare([add('a.parquet')], 1))).toBe(2);
    const overwrite = await loaded(dir, { mode: 'overwrite' });
    await expect(overwrite.log.ensureTable()).rejects.toThrow(
      /append-only .* overwrite is not allowed/,
    );
  });

  it('names the gap when a version is missing, and a log whose early commits are gone without a checkpoint', async () => {
    const gap = await freshDir();
    const a = await loaded(gap);
    await a.log.ensureTable();
    await foreignCommit(gap, 2, [{ commitInfo: {} }]);
    await expect(loaded(gap)).rejects.toThrow(/version 1 is missing from _delta_log/);

    const cleaned = await freshDir();
    await (await loaded(cleaned)).log.ensureTable();
    await foreignCommit(cleaned, 3, [{ commitInfo: {} }]);
    const { rm } = await import('node:fs/promises');
    await rm(join(cleaned, '_delta_log', commitFileName(0)));
    await expect(loaded(cleaned)).rejects.toThrow(
      /the log starts at version 3 .*no checkpoint could be read/,
    );
  });

  it('needs a loaded storage: commit before load, or after detach, throws', async () => {
    const log = new DeltaLog(settings());
    await expect(log.commit(log.prepare([add('a.parquet')], 1))).rejects.toThrow(/not loaded/);
    const { log: opened } = await loaded(await freshDir());
    await opened.ensureTable();
    opened.detach();
    await expect(opened.commit(opened.prepare([add('a.parquet')], 1))).rejects.toThrow(
      /not loaded/,
    );
    expect(opened.version).toBe(0); // the last state stays readable
  });
});
