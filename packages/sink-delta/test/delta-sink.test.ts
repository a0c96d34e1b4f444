import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  Redactor,
  SensorRecord,
  Simulator,
  SinkRunner,
  type RunSummary,
} from '@iotsim/core';
import { dicts, makeRecords, tempDirs, writeRequest } from '@iotsim/test-utils';
import { DeltaSink, DeltaTableMismatchError, type DeltaSinkOptions } from '../src/index.js';
import type { DeltaLog } from '../src/internal/delta-log.js';
import { commitFileName, parseCommitFileName, recordSchema } from '../src/internal/log.js';
import { escapePartitionValue, logPathFor, partitionDir } from '../src/internal/partition.js';
import { computeStats, utf8Less } from '../src/internal/stats.js';
import { LocalStorage } from '../src/internal/storage.js';
import {
  DELTA_TYPES,
  describeDeltaConformance,
  liveFiles,
  readLog,
  readTable,
  sortDicts,
  deltaSink,
  runDelta,
  runnerFor,
} from './read-table.js';

const freshDir = tempDirs('iotsim-delta-');

describeDeltaConformance('delta (local, hyparquet reader)', freshDir, readTable);

describe('DeltaSink options', () => {
  it('has the original defaults', () => {
    const s = deltaSink();
    expect(s.options).toMatchObject({
      tablePath: '/tmp/delta/sensors',
      mode: 'append',
      partitionBy: [],
      storageOptions: {},
      timestampType: 'double',
      compression: 'snappy',
    });
    expect(new SinkRunner(s).throughput.batchSize).toBe(100);
    expect(s.type).toBe('delta');
  });

  it('reports every bad option at once, with YAML paths from fromConfig', () => {
    let err: unknown;
    try {
      DeltaSink.fromConfig(
        {
          table_path: 'http://example.com/t',
          mode: 'overwrit',
          partition_by: ['industry', 'metadata', 'value', 'sensortype', 'industry'],
          timestamp_type: 'long',
          target_file_rows: 0,
          storage_options: { AWS_REGON: 'x' },
          rate_hz: -1,
        },
        'sinks[3].',
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    expect(text).toContain('sinks[3].table_path: unsupported scheme');
    expect(text).toContain("sinks[3].mode: must be one of 'append', 'overwrite'");
    expect(text).toContain("did you mean 'overwrite'");
    expect(text).toContain("cannot partition by 'metadata'");
    expect(text).toContain(
      "cannot partition by 'value' ('value' would make a partition per distinct value)",
    );
    expect(text).toContain("cannot partition by 'sensortype' (did you mean 'sensor_type'?)");
    expect(text).toContain("lists 'industry' twice");
    expect(text).toContain('sinks[3].timestamp_type');
    expect(text).toContain('sinks[3].target_file_rows: must be >= 1');
    expect(text).toContain(
      "sinks[3].storage_options.AWS_REGON: unknown storage option (did you mean 'AWS_REGION'?)",
    );
    expect(text).toContain('sinks[3].rate_hz');
  });

  it('accepts storage option keys in any case and registers secrets', () => {
    const s = deltaSink({
      tablePath: 's3://bucket/p',
      storageOptions: {
        aws_access_key_id: 'AKIDEXAMPLE',
        aws_secret_access_key: 'sekrit-delta-key',
        AWS_S3_ALLOW_UNSAFE_RENAME: 'true',
      },
    });
    expect(s.options.storageOptions.AWS_SECRET_ACCESS_KEY).toBe('sekrit-delta-key');
    expect(s.secrets).toContain('sekrit-delta-key');
    expect(new Redactor().watch(s).redact('failed with sekrit-delta-key')).toBe('failed with ***');
    expect(s.describe()).not.toContain('sekrit');
    expect(s.isS3).toBe(true);
  });

  it('rejects s3:// without a bucket', () => {
    expect(() => deltaSink({ tablePath: 's3:///x' })).toThrow(/needs a bucket name/);
  });
});

describe('Delta log pieces', () => {
  it('names commits with 20-digit versions', () => {
    expect(commitFileName(0)).toBe('00000000000000000000.json');
    expect(commitFileName(1234)).toBe('00000000000000001234.json');
    expect(parseCommitFileName('00000000000000001234.json')).toBe(1234);
    expect(parseCommitFileName('00000000000000001234.checkpoint.parquet')).toBeUndefined();
    expect(parseCommitFileName('_commit_x.json.tmp')).toBeUndefined();
    expect(() => commitFileName(-1)).toThrow(RangeError);
  });

  it('describes the record columns with Delta types', () => {
    const types = (t: 'double' | 'timestamp'): Record<string, unknown> =>
      Object.fromEntries(recordSchema(t).fields.map((f) => [f.name, f.type]));
    expect(types('double')).toEqual(DELTA_TYPES);
    expect(types('timestamp').timestamp).toBe('timestamp');
  });

  it('escapes partition values as Hive does, and percent-encodes log paths', () => {
    expect(escapePartitionValue('mining')).toBe('mining');
    expect(escapePartitionValue('a/b:c=d%e')).toBe('a%2Fb%3Ac%3Dd%25e');
    expect(escapePartitionValue('tank "A", level')).toBe('tank %22A%22, level');
    expect(escapePartitionValue('°C')).toBe('°C');
    expect(escapePartitionValue(null)).toBe('__HIVE_DEFAULT_PARTITION__');
    expect(partitionDir(['industry', 'unit'], { industry: 'mining', unit: null })).toBe(
      'industry=mining/unit=__HIVE_DEFAULT_PARTITION__/',
    );
    expect(logPathFor('sensor_name=tank %22A%22, level/part-0.parquet')).toBe(
      'sensor_name=tank%20%2522A%2522%2C%20level/part-0.parquet',
    );
    expect(decodeURIComponent(logPathFor('unit=°C/x'))).toBe('unit=°C/x');
  });

  it('computes per-file stats without the partition columns', () => {
    const records = makeRecords(300, { seed: 3 });
    const stats = computeStats(records, ['industry'], 'double');
    expect(stats.numRecords).toBe(300);
    const values = records.map((r) => r.value);
    expect(stats.minValues.value).toBe(Math.min(...values));
    expect(stats.maxValues.value).toBe(Math.max(...values));
    const ts = records.map((r) => r.timestamp);
    expect(stats.minValues.timestamp).toBe(Math.min(...ts));
    expect(stats.maxValues.timestamp).toBe(Math.max(...ts));
    const names = records.map((r) => r.sensor_name).sort();
    expect(stats.minValues.sensor_name).toBe(names[0]);
    expect(stats.maxValues.sensor_name).toBe(names[names.length - 1]);
    expect(stats.minValues).not.toHaveProperty('industry');
    expect(stats.nullCount).not.toHaveProperty('industry');
    expect(stats.nullCount).toMatchObject({ value: 0, metadata: 0, fault_active: 0 });
    expect(stats.minValues).not.toHaveProperty('fault_active');
    expect(stats.minValues).not.toHaveProperty('metadata');
  });

  it('rounds timestamp stats outwards to milliseconds', () => {
    const r = (t: number): SensorRecord =>
      new SensorRecord('s', 'i', 'd', 1, 'u', 'flow', t, 0, 2, 1, false);
    const stats = computeStats([r(1700000000.1234567), r(1700000001.0009)], [], 'timestamp');
    expect(stats.minValues.timestamp).toBe('2023-11-14T22:13:20.123Z');
    expect(stats.maxValues.timestamp).toBe('2023-11-14T22:13:21.001Z');
  });

  it('orders strings by code point, as Delta compares UTF-8 bytes', () => {
    expect(utf8Less('a', 'b')).toBe(true);
    expect(utf8Less('ab', 'a')).toBe(false);
    expect(utf8Less('\uFF21', '\u{1F600}')).toBe(true); // U+FF21 < U+1F600, though UTF-16 says otherwise
    expect('\uFF21' < '\u{1F600}').toBe(false);
    const r = (name: string): SensorRecord =>
      new SensorRecord(name, 'i', 'd', 1, 'u', 'flow', 1, 0, 2, 1, false);
    const stats = computeStats([r('\u{1F600}'), r('\uFF21')], [], 'double');
    expect(stats.minValues.sensor_name).toBe('\uFF21');
    expect(stats.maxValues.sensor_name).toBe('\u{1F600}');
  });
});

describe('DeltaSink on a local table', () => {
  it('creates the table at connect (version 0: protocol and metaData), then one commit per batch with add actions and stats', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(500, { seed: 21 });
    const sink = deltaSink({
      tablePath: `file://${path}`,
      partitionBy: ['industry'],
      batchSize: 100,
    });
    const m = await runDelta(sink, records, { tick: 100 });
    expect(m.delivered).toBe(500);
    const log = await readLog(path);
    expect(log.map((c) => c.version)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(sink.commits).toBe(5);
    expect(sink.sinkMetrics()).toMatchObject({ tables_created: 1, commits: 5 });
    const first = log[0]!.actions;
    expect(first[0]!.commitInfo).toMatchObject({ operation: 'CREATE TABLE', isBlindAppend: true });
    expect(first.some((a) => a.add)).toBe(false);
    expect(log[1]!.actions[0]!.commitInfo).toMatchObject({
      operation: 'WRITE',
      isBlindAppend: true,
    });
    expect(first.find((a) => a.protocol)!.protocol).toEqual({
      minReaderVersion: 1,
      minWriterVersion: 2,
    });
    const meta = first.find((a) => a.metaData)!.metaData!;
    expect(meta).toMatchObject({
      format: { provider: 'parquet', options: {} },
      partitionColumns: ['industry'],
      configuration: {},
    });
    expect(meta.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof meta.createdTime).toBe('number');
    expect(JSON.parse(meta.schemaString as string)).toEqual(recordSchema('double'));
    for (const c of log.slice(1)) {
      expect(c.actions.some((a) => a.protocol || a.metaData)).toBe(false);
      expect(c.actions[0]!.commitInfo).toBeDefined();
    }
    let rows = 0;
    for (const c of log) {
      for (const a of c.actions.filter((x) => x.add).map((x) => x.add!)) {
        expect(a.path).toMatch(
          /^industry=[a-z_]+\/part-\d{5}-[0-9a-f-]{36}-c000\.snappy\.parquet$/,
        );
        expect(a.dataChange).toBe(true);
        const st = await stat(join(path, decodeURIComponent(a.path as string)));
        expect(a.size).toBe(st.size);
        const stats = JSON.parse(a.stats as string);
        expect(a.partitionValues).toEqual({ industry: (a.path as string).split('/')[0]!.slice(9) });
        rows += stats.numRecords;
      }
    }
    expect(rows).toBe(500);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(records)));
  });

  it('leaves partition columns out of the data files', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(
      deltaSink({ tablePath: path, partitionBy: ['industry', 'fault_active'] }),
      makeRecords(120),
    );
    const files = await liveFiles(path);
    expect(files.size).toBeGreaterThan(0);
    const { parquetMetadata, parquetSchema } = await import('hyparquet');
    for (const f of files.keys()) {
      expect(f).toMatch(/^industry=[^/]+\/fault_active=(true|false)\//);
      const buf = await readFile(join(path, f));
      const schema = parquetSchema(
        parquetMetadata(
          buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
        ),
      );
      const names = schema.children.map((c) => c.element.name);
      expect(names).not.toContain('industry');
      expect(names).not.toContain('fault_active');
      expect(names).toContain('value');
    }
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(makeRecords(120))));
  });

  it('splits partitions into files of at most targetFileRows', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(
      deltaSink({ tablePath: path, targetFileRows: 30, batchSize: 100 }),
      makeRecords(100),
      { tick: 100 },
    );
    const adds = (await readLog(path)).flatMap((c) =>
      c.actions.filter((a) => a.add).map((a) => JSON.parse(a.add!.stats as string).numRecords),
    );
    expect(adds).toEqual([30, 30, 30, 10]);
  });

  it('puts a commit only if its version is free (local link)', async () => {
    const dir = await freshDir();
    const s = new LocalStorage(dir);
    await s.open();
    expect(await s.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from('a\n'))).toBe(
      true,
    );
    expect(await s.putIfAbsent('_delta_log/00000000000000000000.json', Buffer.from('b\n'))).toBe(
      false,
    );
    expect(await readFile(join(dir, '_delta_log/00000000000000000000.json'), 'utf8')).toBe('a\n');
    expect((await s.list('_delta_log')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it("removes Spark's stale Hadoop checksum ._last_checkpoint.crc when it replaces _last_checkpoint", async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, checkpointInterval: 2 });
    await sink.connect();
    const crc = join(path, '_delta_log', '._last_checkpoint.crc');
    await writeFile(crc, 'crc of what Spark wrote');
    await sink.write(writeRequest(makeRecords(10, { seed: 64 }))); // version 1: a checkpoint
    await sink.close();
    await expect(stat(crc)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(
      JSON.parse(await readFile(join(path, '_delta_log', '_last_checkpoint'), 'utf8')),
    ).toMatchObject({ version: 1 });
  });

  it('a permanent file-system error (EACCES) fails the batch at once: no retries, no orphan files per attempt', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, retryCount: 3, retryDelayS: 0.01 });
    await sink.connect();
    const storage = (sink as unknown as { storage: LocalStorage }).storage;
    let puts = 0;
    storage.put = async (p) => {
      puts++;
      throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
    };
    (sink as unknown as { connect: () => Promise<void> }).connect = async () => {};
    const runner = runnerFor(sink);
    await runner.start();
    void runner.enqueue(makeRecords(20, { seed: 65 }));
    await runner.stop(10);
    expect(runner.metrics()).toMatchObject({ delivered: 0, failed: 20, retries: 0 });
    expect(runner.metrics().lastError).toMatch(/EACCES.*not retried/);
    expect(puts).toBe(1);
  });

  it('moves to the next version when another writer took one', async () => {
    const path = join(await freshDir(), 't');
    const records = makeRecords(200, { seed: 5 });
    const sink = deltaSink({ tablePath: path, batchSize: 100 });
    const runner = runnerFor(sink);
    await runner.start();
    void runner.enqueue(records.slice(0, 100));
    while (runner.metrics().delivered < 100) await new Promise((r) => setTimeout(r, 5));
    // Another writer commits version 2 behind our back (an empty blind append).
    await writeFile(
      join(path, '_delta_log', commitFileName(2)),
      JSON.stringify({ commitInfo: { timestamp: Date.now(), operation: 'WRITE' } }) + '\n',
    );
    void runner.enqueue(records.slice(100));
    await runner.stop(30);
    expect(runner.metrics().delivered).toBe(200);
    const log = await readLog(path);
    expect(log.map((c) => c.version)).toEqual([0, 1, 2, 3]);
    expect(log[3]!.actions.some((a) => a.add)).toBe(true);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(records)));
  });

  it('lets two sinks append to one table at once without losing a version', async () => {
    const path = join(await freshDir(), 't');
    const a = makeRecords(600, { seed: 1, industries: ['mining'] });
    const b = makeRecords(600, { seed: 2, industries: ['aerospace'] });
    const sinks = [
      deltaSink({ tablePath: path, batchSize: 20 }),
      deltaSink({ tablePath: path, batchSize: 20 }),
    ];
    const [ma, mb] = await Promise.all([
      runDelta(sinks[0]!, a, { tick: 20 }),
      runDelta(sinks[1]!, b, { tick: 20 }),
    ]);
    expect(ma.delivered + mb.delivered).toBe(1200);
    const log = await readLog(path);
    // Version 0 is the table, made by whichever sink won it; the other saw it matches.
    expect(log.map((c) => c.version)).toEqual([...Array(61).keys()]);
    expect(sinks[0]!.commits + sinks[1]!.commits).toBe(60);
    console.log(
      `two local sinks: ${sinks[0]!.clashes + sinks[1]!.clashes} version clashes resolved`,
    );
    expect(log.filter((c) => c.actions.some((x) => x.metaData))).toHaveLength(1);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts([...a, ...b])));
  });

  it('does not commit a batch twice when a commit landed but reported failure', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path, batchSize: 50, retryDelayS: 0.01 });
    await sink.connect();
    const storage = (sink as unknown as { storage: LocalStorage }).storage;
    const put = storage.putIfAbsent.bind(storage);
    let failed = false;
    storage.putIfAbsent = async (p, bytes) => {
      const ok = await put(p, bytes);
      if (p.endsWith(commitFileName(2)) && !failed) {
        failed = true;
        throw new Error('connection reset after the commit was written');
      }
      return ok;
    };
    const runner = runnerFor(sink);
    (sink as unknown as { connect: () => Promise<void> }).connect = async () => {};
    await runner.start();
    const records = makeRecords(150, { seed: 9 });
    void runner.enqueue(records);
    await runner.stop(30);
    const m = runner.metrics();
    expect(failed).toBe(true);
    expect(m.retries).toBe(1);
    expect(m.delivered).toBe(150);
    expect((await readLog(path)).map((c) => c.version)).toEqual([0, 1, 2, 3]);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(records)));
  });

  it('overwrite removes every live file in one commit, then appends', async () => {
    const path = join(await freshDir(), 't');
    const old = makeRecords(100, { seed: 1 });
    await runDelta(deltaSink({ tablePath: path, partitionBy: ['industry'], batchSize: 50 }), old, {
      tick: 50,
    });
    const before = await liveFiles(path);
    const fresh = makeRecords(120, { seed: 2, start: 1_800_000_000 });
    const sink = deltaSink({
      tablePath: path,
      partitionBy: ['industry'],
      mode: 'overwrite',
      batchSize: 60,
    });
    await runDelta(sink, fresh, { tick: 60 });
    const log = await readLog(path);
    expect(log.map((c) => c.version)).toEqual([0, 1, 2, 3, 4]);
    const removes = log[3]!.actions.filter((a) => a.remove).map((a) => a.remove!);
    expect(removes.map((r) => decodeURIComponent(r.path as string)).sort()).toEqual(
      [...before.keys()].sort(),
    );
    for (const r of removes)
      expect(r).toMatchObject({ dataChange: true, extendedFileMetadata: true });
    expect(log[3]!.actions[0]!.commitInfo).toMatchObject({
      isBlindAppend: false,
      operationParameters: { mode: 'Overwrite' },
    });
    expect(log[4]!.actions.some((a) => a.remove)).toBe(false);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(fresh)));
    expect(sortDicts(await readTable(path, 2))).toEqual(sortDicts(dicts(old)));
  });

  it('a sink connected again keeps its identity: the same txn application id, numbers going on, no second overwrite', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(deltaSink({ tablePath: path }), makeRecords(20, { seed: 66 }));
    const sink = deltaSink({ tablePath: path, mode: 'overwrite' });
    const a = makeRecords(10, { seed: 67, start: 1_800_000_000 });
    const b = makeRecords(10, { seed: 68, start: 1_800_001_000 });
    await sink.connect();
    await sink.write(writeRequest(a));
    await sink.close();
    await sink.connect();
    await sink.write(writeRequest(b));
    await sink.close();
    const [first, second] = (await readLog(path)).slice(-2);
    expect(first!.actions[0]!.commitInfo).toMatchObject({
      operationParameters: { mode: 'Overwrite' },
    });
    expect(second!.actions[0]!.commitInfo).toMatchObject({
      operationParameters: { mode: 'Append' },
    });
    const txns = [first!, second!].map((c) => c.actions.find((x) => x.txn)!.txn!);
    expect(txns[1]!.appId).toBe(txns[0]!.appId);
    expect(txns.map((t) => t.version)).toEqual([1, 2]);
    expect(sink.commits).toBe(2);
    expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts([...a, ...b])));
  });

  it('refuses a table whose schema or partitioning differs, at connect', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(deltaSink({ tablePath: path, partitionBy: ['industry'] }), makeRecords(10));
    const ts = deltaSink({
      tablePath: path,
      partitionBy: ['industry'],
      timestampType: 'timestamp',
    });
    await expect(ts.connect()).rejects.toThrow(DeltaTableMismatchError);
    await expect(ts.connect()).rejects.toThrow(
      /column timestamp is double in the table but timestamp in our records \(set timestamp_type: double\)/,
    );
    const part = deltaSink({ tablePath: path, partitionBy: ['sensor_type'] });
    await expect(part.connect()).rejects.toThrow(
      /partitioned by \[industry\] but partition_by is \[sensor_type\]/,
    );
  });

  const layouts: [string, DeltaSinkOptions, DeltaSinkOptions, RegExp][] = [
    [
      'partition_by',
      { partitionBy: ['industry'] },
      {},
      /partition_by is \[\]|partition_by is \[industry\]/,
    ],
    ['timestamp_type', {}, { timestampType: 'timestamp' }, /column timestamp is/],
  ];
  it.each(layouts)(
    'two writers creating one table at once with different %s: the loser fails at connect and commits nothing',
    async (_what, a, b, message) => {
      const path = join(await freshDir(), 't');
      const sinks = [deltaSink({ tablePath: path, ...a }), deltaSink({ tablePath: path, ...b })];
      // Both read an empty log before either creates the table: a real race for version 0.
      let arrived = 0;
      let release: () => void = () => {};
      const bothThere = new Promise<void>((r) => (release = r));
      for (const sink of sinks) {
        const log = (sink as unknown as { log: DeltaLog }).log;
        const ensure = log.ensureTable.bind(log);
        log.ensureTable = async () => {
          if (++arrived === 2) release();
          await bothThere;
          return ensure();
        };
      }
      const results = await Promise.allSettled(sinks.map((s) => s.connect()));
      const lost = results.filter((r) => r.status === 'rejected');
      expect(lost).toHaveLength(1);
      const err = (lost[0] as PromiseRejectedResult).reason as Error;
      expect(err).toBeInstanceOf(DeltaTableMismatchError);
      expect(err.message).toMatch(message);
      const loser = sinks[results.indexOf(lost[0]!)]!;
      const winner = sinks[1 - results.indexOf(lost[0]!)]!;
      expect(loser.sinkMetrics()).toMatchObject({ clashes: 1 });
      expect(winner.sinkMetrics()).toMatchObject({ tables_created: 1 });
      // The winner writes; the table holds exactly its records, one metaData, its layout.
      const records = makeRecords(50, { seed: 61 });
      for (let i = 0; i < 50; i += 25) await winner.write(writeRequest(records.slice(i, i + 25)));
      await winner.close();
      const log = await readLog(path);
      expect(log.map((c) => c.version)).toEqual([0, 1, 2]);
      expect(log.filter((c) => c.actions.some((x) => x.metaData))).toHaveLength(1);
      expect(sortDicts(await readTable(path))).toEqual(sortDicts(dicts(records)));
    },
  );

  it('a table another writer creates while we read the log is checked too: DeltaTableMismatchError at connect', async () => {
    const path = join(await freshDir(), 't');
    const first = deltaSink({ tablePath: path, partitionBy: ['industry'] });
    await first.connect();
    await first.close();
    // The second writer lists an empty log (the first had not created it yet), then reads version 0.
    const second = deltaSink({ tablePath: path, timestampType: 'timestamp' });
    const list = LocalStorage.prototype.list;
    LocalStorage.prototype.list = async function () {
      return [];
    };
    try {
      const err = await second.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeltaTableMismatchError);
      expect(String(err)).toMatch(/column timestamp is double in the table/);
    } finally {
      LocalStorage.prototype.list = list;
    }
    expect((await readLog(path)).map((c) => c.version)).toEqual([0]);
  });

  it('after the table changed under a running writer, no later batch of it is committed', async () => {
    const path = join(await freshDir(), 't');
    const sink = deltaSink({ tablePath: path });
    await sink.connect();
    await sink.write(writeRequest(makeRecords(10, { seed: 62 })));
    // Another writer replaces the table's metadata with a partitioned layout (version 2).
    const meta = (await readLog(path))[0]!.actions.find((x) => x.metaData)!.metaData!;
    await writeFile(
      join(path, '_delta_log', commitFileName(2)),
      JSON.stringify({ metaData: { ...meta, partitionColumns: ['industry'] } }) + '\n',
    );
    await writeFile(
      join(path, '_delta_log', commitFileName(3)),
      JSON.stringify({ commitInfo: { operation: 'WRITE' } }) + '\n',
    );
    for (let i = 0; i < 3; i++) {
      const err = await sink
        .write(writeRequest(makeRecords(10, { seed: 63 + i })))
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: false });
      expect(String(err)).toMatch(/the table changed while writing: .*partitioned by \[industry\]/);
    }
    await sink.close();
    expect((await readLog(path)).map((c) => c.version)).toEqual([0, 1, 2, 3]);
  });

  it('refuses a table whose schema lacks a record column', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(deltaSink({ tablePath: path }), makeRecords(10));
    const file = join(path, '_delta_log', commitFileName(0));
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace(/\{\\"name\\":\\"device_id\\"[^}]*\{\}\},/, ''));
    const err = await deltaSink({ tablePath: path })
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeltaTableMismatchError);
    expect((err as Error).message).toContain('the table has no column device_id');
  });

  it('refuses a table with column invariants it cannot enforce', async () => {
    const path = join(await freshDir(), 't');
    await runDelta(deltaSink({ tablePath: path }), makeRecords(10));
    const file = join(path, '_delta_log', commitFileName(0));
    const text = await readFile(file, 'utf8');
    const invariant = JSON.stringify({
      'delta.invariants': '{"expression":{"expression":"value > 0"}}',
    });
    await writeFile(
      file,
      text.replace(
        '{\\"name\\":\\"value\\",\\"type\\":\\"double\\",\\"nullable\\":true,\\"metadata\\":{}}',
        JSON.stringify(
          JSON.stringify({
            name: 'value',
            type: 'double',
            nullable: true,
            metadata: JSON.parse(invariant),
          }),
        ).slice(1, -1),
      ),
    );
    expect(await readFile(file, 'utf8')).not.toBe(text);
    await expect(deltaSink({ tablePath: path }).connect()).rejects.toThrow(
      /column value has an invariant/,
    );
  });

  it('names the table when the directory cannot be created', async () => {
    const file = join(await freshDir(), 'plain-file');
    await writeFile(file, 'x');
    await expect(deltaSink({ tablePath: join(file, 'table') }).connect()).rejects.toThrow(
      /delta sink: cannot open table .*plain-file\/table/,
    );
  });
});

describe('DeltaSink in a backfill that is run again (a retried pod)', () => {
  const BACKFILL = {
    industries: ['mining'],
    devicesPerIndustry: 2,
    seed: 21,
    updateRateHz: 1,
    start: '2024-03-01T00:00:00Z',
    end: '2024-03-01T00:02:00Z', // 120 ticks
  };

  /** Runs the backfill into `tablePath`; `failAfter`: commits that land before the storage fails for good. */
  async function backfill(
    tablePath: string,
    batchSize: number,
    failAfter = Infinity,
    shard?: { index: number; count: number },
  ): Promise<{ summary: RunSummary; sink: DeltaSink }> {
    const sim = new Simulator({ ...BACKFILL, ...(shard ? { shard } : {}) });
    const sink = new DeltaSink({ tablePath });
    sim.addSink(sink, { batchSize, retryCount: 0 });
    const put = LocalStorage.prototype.putIfAbsent;
    let commits = 0;
    LocalStorage.prototype.putIfAbsent = async function (path, bytes) {
      if (/_delta_log\/0+[1-9]\d*\.json$/.test(path) && ++commits > failAfter)
        throw Object.assign(new Error('disk gone'), { code: 'EACCES' });
      return put.call(this, path, bytes);
    };
    try {
      return { summary: await sim.run(), sink };
    } finally {
      LocalStorage.prototype.putIfAbsent = put;
    }
  }

  it('a rerun skips what the first attempt committed (other batch sizes too): the table equals one clean run, no duplicates', async () => {
    const dir = await freshDir();
    const clean = await backfill(join(dir, 'clean'), 500);
    const expected = sortDicts(await readTable(join(dir, 'clean')));
    expect(expected.length).toBe(clean.summary.records);

    const path = join(dir, 'retried');
    const first = await backfill(path, 700, 3); // 3 commits of 700, then the disk fails
    expect(first.summary.sinks[0]).toMatchObject({ delivered: 2100 });
    expect(first.summary.sinks[0]!.failed).toBe(first.summary.records - 2100);
    const again = await backfill(path, 450); // batches cut elsewhere: 2100 is inside the 5th
    const m = again.summary.sinks[0]!;
    expect(m).toMatchObject({ delivered: again.summary.records, failed: 0 });
    expect(m.sinkMetrics.rows_committed_before).toBe(2100);
    const rows = sortDicts(await readTable(path));
    expect(rows.length).toBe(expected.length);
    expect(rows).toEqual(expected);
    // One app id for both attempts, versions = stream positions after each commit's last reading.
    const txns = (await readLog(path))
      .flatMap((c) => c.actions.filter((a) => a.txn))
      .map((a) => a.txn!);
    expect(new Set(txns.map((t) => t.appId)).size).toBe(1);
    expect(String(txns[0]!.appId)).toMatch(/^iotsim-21-[0-9a-f]{16}:delta$/);
    expect(txns.map((t) => t.version).slice(0, 5)).toEqual([700, 1400, 2100, 2250, 2700]);
    expect(txns.at(-1)!.version).toBe(again.summary.records);

    // A third run of the same backfill commits nothing new.
    const third = await backfill(path, 450);
    expect(third.summary.sinks[0]).toMatchObject({ delivered: third.summary.records });
    expect(third.sink.commits).toBe(0);
    expect(sortDicts(await readTable(path))).toEqual(expected);
  });

  it('another backfill (other range) into the same table appends: its own app id', async () => {
    const path = join(await freshDir(), 't');
    const a = await backfill(path, 500);
    const sim = new Simulator({ ...BACKFILL, end: '2024-03-01T00:01:00Z' });
    sim.addSink(new DeltaSink({ tablePath: path }), { batchSize: 500 });
    const b = await sim.run();
    expect(b.sinks[0]!.sinkMetrics.rows_committed_before).toBeUndefined();
    expect((await readTable(path)).length).toBe(a.summary.records + b.records);
  });

  it('overwrite is refused in a sharded run, naming the key and the fix (each shard would remove the others)', async () => {
    const sim = new Simulator({ ...BACKFILL, shard: { index: 0, count: 2 } });
    sim.addSink(new DeltaSink({ tablePath: join(await freshDir(), 't'), mode: 'overwrite' }));
    await expect(sim.run()).rejects.toThrow(/mode: overwrite .*2 shards.*use append/);
  });
});
