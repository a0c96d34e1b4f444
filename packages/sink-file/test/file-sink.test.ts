import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  DataGenerator,
  JSON_LINES_LAYOUT,
  RecordTextEncoder,
  RECORD_FIELDS,
  SensorRecord,
  SinkConnectError,
  SinkRunner,
  recordToJson,
} from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  makeRecords,
  runThrough,
  tempDirs,
  writeRequest,
} from '@iotsim/test-utils';
import { FileSink, type FileFormat } from '../src/index.js';
import { fileStem } from '../src/file-sink.js';
import { parseRotation } from '../src/options.js';
import { csvHeader, outputFiles, readOutputDir, readOutputFile } from './read-back.js';

const freshDir = tempDirs('iotsim-file-');

const FORMATS: FileFormat[] = ['csv', 'json', 'parquet'];
const EXT: Record<FileFormat, string> = { csv: 'csv', json: 'jsonl', parquet: 'parquet' };

for (const format of FORMATS) {
  describeSinkConformance(`FileSink (${format})`, {
    create: async () => new FileSink({ path: await freshDir(), format }),
    readBack: (sink) => readOutputDir(sink.options.path),
  });
}

describe('FileSink round trip', () => {
  it.each(FORMATS)('%s: every field of every record, awkward strings included', async (format) => {
    const dir = await freshDir();
    const records = makeRecords(3_000, { seed: 21 });
    expect(records.some((r) => r.unit === '°C' && r.sensor_name.includes('"'))).toBe(true);
    const sink = new FileSink({ path: dir, format });
    const m = await runThrough(sink, records, { throughput: { batchSize: 256 } });
    expect(m.delivered).toBe(3_000);
    const files = await outputFiles(dir);
    expect(files).toEqual([`${fileStem(records[0]!.timestamp)}.${EXT[format]}`]);
    expect(await readOutputDir(dir)).toEqual(dicts(records));
  });

  it('csv: a header row in DESIGN.md column order, RFC 4180 quoting, UTF-8', async () => {
    const dir = await freshDir();
    const awkward = new SensorRecord(
      'line\nbreak, "q"',
      'smart_office',
      'dev-1',
      1.5,
      '°C',
      'temperature',
      1_700_000_000.5,
      0,
      100,
      50,
      false,
      { note: 'a,b' },
    );
    const sink = new FileSink({ path: dir });
    await runThrough(sink, [awkward]);
    const [file] = await outputFiles(dir);
    const path = join(dir, file!);
    expect(await csvHeader(path)).toBe(RECORD_FIELDS.join(','));
    const text = await readFile(path, 'utf8');
    expect(text).toContain('"line\nbreak, ""q"""');
    expect(text).toContain(',°C,');
    expect(text).toContain('"{""note"":""a,b""}"');
    expect(await readOutputFile(path)).toEqual([awkward.toDict()]);
  });

  it('json: each line is exactly recordToJson(record)', async () => {
    const records = makeRecords(500, { seed: 22 });
    const odd = SensorRecord.fromDict({ ...records[1]!.toDict(), value: Number.NaN });
    const all = [...records, odd];
    expect(new RecordTextEncoder(JSON_LINES_LAYOUT).encode(all).toString('utf8')).toBe(
      all.map((r) => `${recordToJson(r)}\n`).join(''),
    );
    const dir = await freshDir();
    await runThrough(new FileSink({ path: dir, format: 'json' }), records);
    const [file] = await outputFiles(dir);
    const text = await readFile(join(dir, file!), 'utf8');
    expect(text).toBe(records.map((r) => `${recordToJson(r)}\n`).join(''));
  });

  it('parquet: honours compression and timestamp_type', async () => {
    const dir = await freshDir();
    const records = makeRecords(400, { seed: 23 });
    const sink = FileSink.fromConfig(
      { path: dir, format: 'parquet', compression: 'zstd', timestamp_type: 'timestamp' },
      'sinks[0].',
    );
    await runThrough(sink, records);
    const [file] = await outputFiles(dir);
    const { parquetMetadata } = await import('hyparquet');
    const buf = await readFile(join(dir, file!));
    const md = parquetMetadata(
      buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer,
    );
    const ts = md.schema.find((e) => e.name === 'timestamp')!;
    expect(ts.logical_type).toMatchObject({
      type: 'TIMESTAMP',
      unit: 'MICROS',
      isAdjustedToUTC: true,
    });
    expect(md.row_groups[0]!.columns[0]!.meta_data!.codec).toBe('ZSTD');
    expect(await readOutputDir(dir)).toEqual(dicts(records));
  });
});

describe('FileSink rotation', () => {
  const DAY = 86_400;
  const START = Date.UTC(2024, 0, 1) / 1000; // 2024-01-01T00:00:00Z

  /** A simulated week: one tick every 2 hours for 7 days. */
  function week(): SensorRecord[] {
    const perTick = new DataGenerator({ industries: ['mining', 'aerospace'], seed: 1 }).tick(
      0,
    ).length;
    return makeRecords(perTick * 84, { start: START, step: 7_200, awkward: false, seed: 31 });
  }

  it.each(FORMATS)(
    '%s: a backfilled week with rotation 1d gives seven daily files',
    async (format) => {
      const dir = await freshDir();
      const records = week();
      expect(Math.min(...records.map((r) => r.timestamp))).toBe(START);
      expect(Math.max(...records.map((r) => r.timestamp))).toBeLessThan(START + 7 * DAY);
      const sink = new FileSink({ path: dir, format, rotation: '1d' });
      const m = await runThrough(sink, records, { tick: 173, throughput: { batchSize: 500 } });
      expect(m.delivered).toBe(records.length);
      const files = await outputFiles(dir);
      expect(files).toEqual(
        [1, 2, 3, 4, 5, 6, 7].map((d) => `sensor_data_2024010${d}_000000.${EXT[format]}`),
      );
      let total = 0;
      for (const [day, f] of files.entries()) {
        const held = await readOutputFile(join(dir, f));
        const expected = dicts(
          records.filter((r) => Math.floor((r.timestamp - START) / DAY) === day),
        );
        expect(held).toEqual(expected);
        total += held.length;
      }
      expect(total).toBe(records.length);
    },
  );

  it('names files after their window start and splits one batch across windows', async () => {
    const dir = await freshDir();
    const base = makeRecords(4, { awkward: false });
    const at = (i: number, t: number): SensorRecord =>
      SensorRecord.fromDict({ ...base[i]!.toDict(), timestamp: t });
    const t0 = Date.UTC(2024, 4, 6, 13, 7, 12) / 1000;
    const records = [at(0, t0), at(1, t0 + 100), at(2, t0 + 400), at(3, t0 + 2000)];
    const sink = new FileSink({ path: dir, format: 'json', rotation: '5m' });
    await sink.connect();
    await sink.write(writeRequest(records));
    await sink.close();
    expect(await outputFiles(dir)).toEqual([
      'sensor_data_20240506_130500.jsonl',
      'sensor_data_20240506_131000.jsonl',
      'sensor_data_20240506_134000.jsonl',
    ]);
    expect(sink.files).toHaveLength(3);
  });

  it('keeps a late record in the open file instead of reopening a finished one', async () => {
    const dir = await freshDir();
    const base = makeRecords(3, { awkward: false });
    const at = (i: number, t: number): SensorRecord =>
      SensorRecord.fromDict({ ...base[i]!.toDict(), timestamp: t });
    const sink = new FileSink({ path: dir, format: 'csv', rotation: '1h' });
    await sink.connect();
    await sink.write(writeRequest([at(0, 3600 * 10), at(1, 3600 * 11)]));
    await sink.write(writeRequest([at(2, 3600 * 10 + 5)]));
    await sink.close();
    const files = await outputFiles(dir);
    expect(files).toHaveLength(2);
    expect((await readOutputFile(join(dir, files[1]!))).map((d) => d.timestamp)).toEqual([
      3600 * 11,
      3600 * 10 + 5,
    ]);
  });

  it('never overwrites: a taken name gets _1, _2 ...', async () => {
    const dir = await freshDir();
    const records = makeRecords(50, { seed: 33 });
    const name = `${fileStem(records[0]!.timestamp)}.csv`;
    await writeFile(join(dir, name), 'precious');
    await runThrough(new FileSink({ path: dir }), records);
    await runThrough(new FileSink({ path: dir }), records);
    expect(await outputFiles(dir)).toEqual([
      name,
      name.replace('.csv', '_1.csv'),
      name.replace('.csv', '_2.csv'),
    ]);
    expect(await readFile(join(dir, name), 'utf8')).toBe('precious');
    expect(await readOutputFile(join(dir, name.replace('.csv', '_2.csv')))).toEqual(dicts(records));
  });

  it('completes each file before starting the next (only the open Parquet file lacks its footer)', async () => {
    const dir = await freshDir();
    const records = makeRecords(600, { start: 0, step: 20, awkward: false, seed: 34 });
    const sink = new FileSink({ path: dir, format: 'parquet', rotation: '1m' });
    await sink.connect();
    for (let i = 0; i < records.length; i += 100)
      await sink.write(writeRequest(records.slice(i, i + 100)));
    const files = await outputFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const last = files.pop()!;
    for (const f of files) expect((await readOutputFile(join(dir, f))).length).toBeGreaterThan(0);
    await expect(readOutputFile(join(dir, last))).rejects.toThrow();
    await sink.close();
    expect(await readOutputDir(dir)).toEqual(dicts(records));
  });

  it.each(FORMATS)(
    '%s: stopping mid-run leaves every file complete and readable',
    async (format) => {
      const dir = await freshDir();
      const records = makeRecords(20_000, { start: 0, step: 30, awkward: true, seed: 35 });
      const sink = new FileSink({ path: dir, format, rotation: '30m' });
      const runner = new SinkRunner(sink, { throughput: { batchSize: 300 } });
      await runner.start();
      for (let i = 0; i < 12_000; i += 150) void runner.enqueue(records.slice(i, i + 150));
      await runner.stop(60);
      const m = runner.metrics();
      expect(m.failed).toBe(0);
      const held = await readOutputDir(dir);
      expect(held).toEqual(dicts(records.slice(0, m.delivered)));
      expect(m.delivered).toBe(12_000);
      expect((await outputFiles(dir)).length).toBeGreaterThanOrEqual(4);
    },
  );
});

describe('FileSink options', () => {
  it('parses rotation intervals', () => {
    expect(parseRotation('30s')).toBe(30);
    expect(parseRotation('5m')).toBe(300);
    expect(parseRotation('1h')).toBe(3_600);
    expect(parseRotation('1d')).toBe(86_400);
    expect(parseRotation('2H')).toBe(7_200);
    for (const bad of ['7x', '0h', '1.5h', 'h', '', '10', '-1d'])
      expect(parseRotation(bad)).toBeUndefined();
  });

  it('rejects a bad rotation with a ConfigError naming the option', () => {
    expect(() => new FileSink({ rotation: '7x' })).toThrow(ConfigError);
    expect(() => new FileSink({ rotation: '7x' })).toThrow(/^rotation: must be .*"7x"/);
    expect(() => FileSink.fromConfig({ rotation: '1.5h' }, 'sinks[1].')).toThrow(
      /sinks\[1\]\.rotation/,
    );
  });

  it('reports every problem at once, in YAML spelling', () => {
    let err: ConfigError | undefined;
    try {
      FileSink.fromConfig(
        {
          format: 'parqet',
          timestamp_type: 'iso',
          rotation: '5w',
          compresion: 'zstd',
          rate_hz: -1,
        },
        'sinks[0].',
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = err!.issues.map((i) => i.path).sort();
    expect(paths).toEqual([
      'sinks[0].compresion',
      'sinks[0].format',
      'sinks[0].rate_hz',
      'sinks[0].rotation',
      'sinks[0].timestamp_type',
    ]);
    expect(err!.message).toContain("did you mean 'parquet'");
    expect(err!.message).toContain("did you mean 'compression'");
  });

  it('rejects Parquet-only options for text formats, and maxInFlight > 1', () => {
    expect(() => new FileSink({ format: 'csv', compression: 'zstd' })).toThrow(
      /compression: applies only to format 'parquet'/,
    );
    expect(() => new FileSink({ maxInFlight: 2 } as never)).toThrow(
      /maxInFlight: is a throughput option/,
    );
    expect(() => new SinkRunner(new FileSink(), { throughput: { maxInFlight: 65 } })).toThrow(
      /maxInFlight: must be <= 64 for the file sink/,
    );
  });

  it('has the original defaults and a secret-free description', () => {
    const sink = new FileSink();
    expect(sink.options).toMatchObject({ path: './output', format: 'csv', rotation: null });
    expect(new SinkRunner(sink).throughput.batchSize).toBe(100);
    expect(new FileSink({ format: 'parquet', rotation: '1h', path: '/data' }).describe()).toBe(
      'file (parquet snappy → /data, rotation 1h)',
    );
  });
});

describe('FileSink connect and disk errors', () => {
  it('creates the output directory with its parents on connect', async () => {
    const dir = join(await freshDir(), 'a', 'b', 'c');
    const sink = new FileSink({ path: dir });
    await sink.connect();
    expect((await stat(dir)).isDirectory()).toBe(true);
    await sink.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('fails to connect with the path when the directory cannot be created', async () => {
    const file = join(await freshDir(), 'not-a-dir');
    await writeFile(file, '');
    const sink = new FileSink({ path: join(file, 'sub') });
    await expect(sink.connect()).rejects.toThrow(SinkConnectError);
    await expect(sink.connect()).rejects.toThrow(
      /file sink: cannot write to output directory .*not-a-dir\/sub/,
    );
  });
});
