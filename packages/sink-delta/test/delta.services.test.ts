import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { CreateBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { dicts, makeRecords, serviceEnv, tempDirs } from '@iotsim/test-utils';
import { checkpointFileName } from '../src/internal/checkpoint.js';
import { commitFileName } from '../src/internal/log.js';
import { S3Storage, s3Settings } from '../src/internal/s3-storage.js';
import {
  aboutWithDeltaRs,
  appendWithDeltaRs,
  checkpointWithDeltaRs,
  readWithDeltaRs,
} from './delta-rs.js';
import {
  DELTA_TYPES,
  deltaSink,
  describeDeltaConformance,
  runDelta,
  sortDicts,
} from './read-table.js';

const freshDir = tempDirs('iotsim-delta-svc-');

describeDeltaConformance(
  'delta (delta-rs reader)',
  freshDir,
  async (path) => (await readWithDeltaRs(path)).rows,
);

describe('delta-rs reads what DeltaSink writes', () => {
  it.each(['double', 'timestamp'] as const)(
    'timestamp_type %s: rows, types, partitions and version',
    async (timestampType) => {
      const path = join(await freshDir(), 't');
      const records = makeRecords(700, { seed: 31, start: 1_700_000_000.123456 });
      // sensor_name values include `tank "A", level`: quotes, comma and space in a partition directory.
      const sink = deltaSink({
        tablePath: path,
        partitionBy: ['industry', 'sensor_name'],
        timestampType,
        batchSize: 100,
      });
      const m = await runDelta(sink, records, { tick: 100 });
      expect(m.delivered).toBe(700);
      const view = await readWithDeltaRs(path);
      expect(view.version).toBe(sink.commits); // version 0 is the table (CREATE TABLE)
      expect(sink.commits).toBe(7);
      expect(view.rows).toHaveLength(700);
      expect(sortDicts(view.rows)).toEqual(sortDicts(dicts(records)));
      expect(view.deltaTypes).toEqual({
        ...DELTA_TYPES,
        timestamp: timestampType === 'timestamp' ? 'timestamp' : 'double',
      });
      expect(view.arrowTypes.timestamp).toBe(
        timestampType === 'timestamp' ? 'timestamp[us, tz=UTC]' : 'double',
      );
      expect(view.arrowTypes.value).toBe('double');
      expect(view.arrowTypes.fault_active).toBe('bool');
      expect(view.partitionColumns).toEqual(['industry', 'sensor_name']);
      const expected = new Set(records.map((r) => `${r.industry}|${r.sensor_name}`));
      const seen = new Set(view.filePartitions.map((p) => `${p.industry}|${p.sensor_name}`));
      expect(seen).toEqual(expected);
      expect(seen.has('smart_office|tank "A", level')).toBe(true);
    },
  );

  it('delta-rs history shows our engineInfo, and pyarrow our checkpoint created-by, with the package.json version', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, batchSize: 10, checkpointInterval: 2 });
    await runDelta(sink, makeRecords(20, { seed: 44 }), { tick: 10 });
    expect(sink.commits).toBe(2);
    const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
    const engine = `iotsim-sink-delta/${(JSON.parse(text) as { version: string }).version}`;
    const about = await aboutWithDeltaRs(path, join(path, '_delta_log', checkpointFileName(1)));
    expect(about.history.map((h) => [h.version, h.operation])).toEqual([
      [2, 'WRITE'],
      [1, 'WRITE'],
      [0, 'CREATE TABLE'],
    ]);
    for (const h of about.history)
      expect(h).toMatchObject({ engineInfo: engine, clientVersion: engine });
    expect(about.checkpointCreatedBy).toBe(`${engine} (parquet-wasm)`);
  });

  it('delta-rs appends to our table, we append again, delta-rs reads all rows', async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(150, { seed: 41 });
    const b = makeRecords(120, { seed: 42, start: 1_750_000_000 });
    const c = makeRecords(130, { seed: 43, start: 1_760_000_000 });
    await runDelta(deltaSink({ tablePath: path, batchSize: 50 }), a, { tick: 50 });
    const rowsFile = join(await freshDir(), 'rows.jsonl');
    await writeFile(
      rowsFile,
      dicts(b)
        .map((d) => JSON.stringify(d))
        .join('\n') + '\n',
    );
    await appendWithDeltaRs(path, rowsFile);
    const again = deltaSink({ tablePath: path, batchSize: 50 });
    await runDelta(again, c, { tick: 50 });
    expect(again.commits).toBe(3);
    const view = await readWithDeltaRs(path);
    expect(view.version).toBe(1 + 3 + 1 + 3 - 1); // the table, ours, delta-rs's, ours
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts([...a, ...b, ...c])));
  });

  it('two sinks append concurrently: every commit lands, versions contiguous', async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(400, { seed: 51, industries: ['mining'] });
    const b = makeRecords(400, { seed: 52, industries: ['utilities'] });
    const s1 = deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 25 });
    const s2 = deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 25 });
    const [m1, m2] = await Promise.all([
      runDelta(s1, a, { tick: 25 }),
      runDelta(s2, b, { tick: 25 }),
    ]);
    expect(m1.delivered + m2.delivered).toBe(800);
    expect(s1.commits + s2.commits).toBe(32);
    const view = await readWithDeltaRs(path);
    expect(view.version).toBe(32);
    expect(view.rows).toHaveLength(800);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts([...a, ...b])));
  });

  it('overwrite: delta-rs sees only the new rows; version 1 still has the old', async () => {
    const path = join(await freshDir(), 't');
    const old = makeRecords(100, { seed: 61 });
    const fresh = makeRecords(80, { seed: 62, start: 1_800_000_000 });
    await runDelta(deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 100 }), old, {
      tick: 100,
    });
    const sink = deltaSink({
      tablePath: path,
      partitionBy: ['industry'],
      mode: 'overwrite',
      batchSize: 40,
    });
    await runDelta(sink, fresh, { tick: 40 });
    const now = await readWithDeltaRs(path);
    expect(now.version).toBe(3);
    expect(sortDicts(now.rows)).toEqual(sortDicts(dicts(fresh)));
    expect((await readWithDeltaRs(path, { version: 0 })).rows).toEqual([]); // the empty table
    const v1 = await readWithDeltaRs(path, { version: 1 });
    expect(sortDicts(v1.rows)).toEqual(sortDicts(dicts(old)));
  });
});

describe('two writers create one table at once with different layouts', () => {
  it("the loser is refused at connect; delta-rs reads only the winner's rows, in its layout, none with a NULL partition", async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(200, { seed: 91, industries: ['mining'] });
    const b = makeRecords(200, { seed: 92, industries: ['utilities'] });
    const results = await Promise.allSettled([
      runDelta(deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 50 }), a),
      runDelta(deltaSink({ tablePath: path, timestampType: 'timestamp', batchSize: 50 }), b),
    ]);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(/Delta table .*: /);
    const winner = results[0]!.status === 'fulfilled' ? a : b;
    const view = await readWithDeltaRs(path);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts(winner)));
    expect(view.rows.every((r) => r.industry !== null)).toBe(true);
    expect(view.partitionColumns).toEqual(winner === a ? ['industry'] : []);
  });
});

/** Writes records as JSON lines for delta-rs's append helper. */
async function rowsFile(records: Parameters<typeof dicts>[0]): Promise<string> {
  const file = join(await freshDir(), 'rows.jsonl');
  await writeFile(
    file,
    dicts(records)
      .map((d) => JSON.stringify(d))
      .join('\n') + '\n',
  );
  return file;
}

/** Deletes the JSON commits 0..upTo and older checkpoints, as log cleanup after a checkpoint does. */
async function cleanUpLog(path: string, upTo: number): Promise<void> {
  for (let v = 0; v <= upTo; v++) await rm(join(path, '_delta_log', commitFileName(v)));
  for (const n of await readdir(join(path, '_delta_log')))
    if (n.includes('.checkpoint.') && Number(n.slice(0, 20)) < upTo)
      await rm(join(path, '_delta_log', n));
}

describe("checkpoints: delta-rs reads them, and we read delta-rs's", () => {
  it('delta-rs reads a table with our checkpoints, also once the commits they cover are gone', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(500, { seed: 81 });
    const sink = deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 20 });
    await runDelta(sink, records, { tick: 20 });
    expect(sink.commits).toBe(25);
    expect(sink.checkpoints).toBe(2);
    const names = await readdir(join(path, '_delta_log'));
    expect(names).toContain(checkpointFileName(19));
    const before = await readWithDeltaRs(path);
    expect(before.version).toBe(25);
    expect(sortDicts(before.rows)).toEqual(sortDicts(dicts(records)));

    // Without commits 0..19 only our checkpoint of version 19 can tell delta-rs what is live.
    await cleanUpLog(path, 19);
    expect((await readdir(join(path, '_delta_log'))).sort()).toEqual(
      [
        checkpointFileName(19),
        '_last_checkpoint',
        ...[20, 21, 22, 23, 24, 25].map((v) => commitFileName(v)),
      ].sort(),
    );
    const after = await readWithDeltaRs(path);
    expect(after.version).toBe(25);
    expect(sortDicts(after.rows)).toEqual(sortDicts(dicts(records)));
    expect(after.partitionColumns).toEqual(['industry']);
    expect(after.deltaTypes).toEqual(DELTA_TYPES);
    // Time travel to the checkpoint's own version: the table and 19 batches of 20.
    const at19 = await readWithDeltaRs(path, { version: 19 });
    expect(sortDicts(at19.rows)).toEqual(sortDicts(dicts(records.slice(0, 380))));
  });

  it('delta-rs appends after our checkpoint, we append and checkpoint again, delta-rs reads all', async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(100, { seed: 82 });
    const b = makeRecords(90, { seed: 83, start: 1_750_000_000 });
    const c = makeRecords(90, { seed: 84, start: 1_760_000_000 });
    await runDelta(deltaSink({ tablePath: path, batchSize: 10 }), a, { tick: 10 }); // 0 table, 1..10
    await appendWithDeltaRs(path, await rowsFile(b)); // version 11, by delta-rs
    const again = deltaSink({ tablePath: path, batchSize: 10 });
    await runDelta(again, c, { tick: 10 }); // 12..20: our checkpoint at 19 holds delta-rs's add
    expect(again.replayedFromCheckpoint).toBe(9);
    expect(again.checkpoints).toBe(1);
    await cleanUpLog(path, 19);
    const view = await readWithDeltaRs(path);
    expect(view.version).toBe(20);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts([...a, ...b, ...c])));
  });

  it('we open a table from a checkpoint delta-rs wrote, append, and delta-rs reads all', async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(60, { seed: 85 });
    const b = makeRecords(40, { seed: 86, start: 1_750_000_000 });
    const c = makeRecords(50, { seed: 87, start: 1_760_000_000 });
    await runDelta(deltaSink({ tablePath: path, batchSize: 20 }), a, { tick: 20 }); // 0 table, 1..3
    await appendWithDeltaRs(path, await rowsFile(b)); // 4
    await checkpointWithDeltaRs(path); // delta-rs's checkpoint of version 4
    await cleanUpLog(path, 4);
    const sink = deltaSink({ tablePath: path, batchSize: 25 });
    await runDelta(sink, c, { tick: 25 }); // 5, 6
    expect(sink.replayedFromCheckpoint).toBe(4);
    expect(sink.version).toBe(6);
    const view = await readWithDeltaRs(path);
    expect(view.version).toBe(6);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts([...a, ...b, ...c])));
  });
});

describe('DeltaSink on S3 (moto)', () => {
  const bucket = `iotsim-delta-${process.pid}-${Date.now()}`;
  let storageOptions: Record<string, string>;

  beforeAll(async () => {
    storageOptions = {
      AWS_ENDPOINT_URL: serviceEnv('IOTSIM_S3_ENDPOINT'),
      AWS_ACCESS_KEY_ID: serviceEnv('IOTSIM_S3_ACCESS_KEY_ID'),
      AWS_SECRET_ACCESS_KEY: serviceEnv('IOTSIM_S3_SECRET_ACCESS_KEY'),
      AWS_REGION: serviceEnv('IOTSIM_S3_REGION'),
      AWS_ALLOW_HTTP: 'true',
    };
    const client = new S3Client({
      endpoint: storageOptions.AWS_ENDPOINT_URL,
      region: storageOptions.AWS_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: storageOptions.AWS_ACCESS_KEY_ID!,
        secretAccessKey: storageOptions.AWS_SECRET_ACCESS_KEY!,
      },
    });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    client.destroy();
  });

  it('the server honours If-None-Match: a second conditional put of a version is refused', async () => {
    const storage = new S3Storage(`s3://${bucket}/probe`, s3Settings(storageOptions));
    await storage.open();
    try {
      expect(await storage.putIfAbsent('_delta_log/x.json', Buffer.from('1'))).toBe(true);
      expect(await storage.putIfAbsent('_delta_log/x.json', Buffer.from('2'))).toBe(false);
      expect(Buffer.from((await storage.read('_delta_log/x.json'))!).toString()).toBe('1');
    } finally {
      await storage.close();
    }
  });

  it('round trip: two sinks append concurrently, delta-rs reads the table from S3', async () => {
    const tablePath = `s3://${bucket}/delta/sensors`;
    const a = makeRecords(300, { seed: 71, industries: ['mining'] });
    const b = makeRecords(300, { seed: 72, industries: ['oil_gas'] });
    const s1 = deltaSink({
      tablePath,
      partitionBy: ['industry'],
      storageOptions,
      batchSize: 50,
    });
    const s2 = deltaSink({
      tablePath,
      partitionBy: ['industry'],
      storageOptions,
      batchSize: 50,
    });
    const [m1, m2] = await Promise.all([
      runDelta(s1, a, { tick: 50 }),
      runDelta(s2, b, { tick: 50 }),
    ]);
    expect(m1.failed + m2.failed).toBe(0);
    expect(s1.commits + s2.commits).toBe(12);
    const view = await readWithDeltaRs(tablePath, { storageOptions });
    expect(view.version).toBe(12);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts([...a, ...b])));
    expect(view.partitionColumns).toEqual(['industry']);

    // Overwrite on S3, then time travel.
    const fresh = makeRecords(60, { seed: 73 });
    await runDelta(
      deltaSink({
        tablePath,
        partitionBy: ['industry'],
        storageOptions,
        mode: 'overwrite',
        batchSize: 60,
      }),
      fresh,
      { tick: 60 },
    );
    expect(sortDicts((await readWithDeltaRs(tablePath, { storageOptions })).rows)).toEqual(
      sortDicts(dicts(fresh)),
    );
    expect((await readWithDeltaRs(tablePath, { storageOptions, version: 12 })).rows).toHaveLength(
      600,
    );
  });

  it('checkpoints on S3: delta-rs reads the table after the covered commits are deleted', async () => {
    const prefix = 'delta/checkpointed';
    const tablePath = `s3://${bucket}/${prefix}`;
    const records = makeRecords(240, { seed: 74 });
    const sink = deltaSink({
      tablePath,
      partitionBy: ['industry'],
      storageOptions,
      batchSize: 20,
    });
    await runDelta(sink, records, { tick: 20 }); // versions 0 (the table) ..12, checkpoint at 9
    expect(sink.checkpoints).toBe(1);
    const client = new S3Client({
      endpoint: storageOptions.AWS_ENDPOINT_URL,
      region: storageOptions.AWS_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: storageOptions.AWS_ACCESS_KEY_ID!,
        secretAccessKey: storageOptions.AWS_SECRET_ACCESS_KEY!,
      },
    });
    try {
      for (let v = 0; v <= 9; v++)
        await client.send(
          new DeleteObjectCommand({
            Bucket: bucket,
            Key: `${prefix}/_delta_log/${commitFileName(v)}`,
          }),
        );
    } finally {
      client.destroy();
    }
    const view = await readWithDeltaRs(tablePath, { storageOptions });
    expect(view.version).toBe(12);
    expect(sortDicts(view.rows)).toEqual(sortDicts(dicts(records)));
    // And we reopen it from the checkpoint and append.
    const more = makeRecords(20, { seed: 75, start: 1_800_000_000 });
    const again = deltaSink({
      tablePath,
      partitionBy: ['industry'],
      storageOptions,
      batchSize: 20,
    });
    await runDelta(again, more, { tick: 20 });
    expect(again.replayedFromCheckpoint).toBe(9);
    expect(again.version).toBe(13);
    expect(sortDicts((await readWithDeltaRs(tablePath, { storageOptions })).rows)).toEqual(
      sortDicts(dicts([...records, ...more])),
    );
  });

  it('names the bucket when it does not exist, without the secret', async () => {
    const sink = deltaSink({ tablePath: `s3://${bucket}-missing/t`, storageOptions });
    const err = (await sink.connect().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /cannot open table s3:\/\/iotsim-delta-.*-missing\/t at http:\/\/127\.0\.0\.1/,
    );
    expect(err.message).not.toContain(storageOptions.AWS_SECRET_ACCESS_KEY!);
  });
});
