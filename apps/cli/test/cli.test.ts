import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, tempDir, type CliResult } from '@iotsim/test-utils';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

const noStack = (r: CliResult): void => expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('iotsim CLI', () => {
  it('list-industries prints every industry and TOTAL 379', async () => {
    const r = await cli(['list-industries']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Industry\s+Sensors\n-{34}\nmining\s+17\n/);
    expect(r.stdout).toMatch(/renewable_energy\s+32\n-{34}\nTOTAL\s+379\n$/);
  });

  it('list-sensors prints name, type, unit and range', async () => {
    const r = await cli(['list-sensors', 'mining']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Sensors for 'mining' (17 sensors):");
    expect(r.stdout).toMatch(/conveyor_belt_1_speed\s+speed\s+m\/s\s+0\.50\s+3\.00\s+1\.80/);
  });

  it('list-sensors with an unknown industry exits 2 and suggests names', async () => {
    const r = await cli(['list-sensors', 'minning']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown industry 'minning': did you mean 'mining'?");
    noStack(r);
  });

  it('--version prints the version of @iotsim/cli', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('list-sinks lists every sink type with its package', async () => {
    const r = await cli(['list-sinks']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/console\s+ConsoleSink\s+\(built-in\)/);
    expect(r.stdout).toMatch(/kafka\s+KafkaSink\s+npm install @iotsim\/sink-kafka\s+installed/);
  });

  it('list-servers lists the http server', async () => {
    const r = await cli(['list-servers']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/http\s+HttpServer\s+\(built-in\)\s+installed/);
  });

  it('--server http serves the live values while the run pushes them; --summary-json writes the summary', async () => {
    const dir = await tempDir();
    const summaryPath = join(dir.path, 'summary.json');
    const cfg = join(dir.path, 'serve.yaml');
    writeFileSync(
      cfg,
      'simulator: { industries: [mining], update_rate_hz: 10 }\nservers:\n  - { type: http, port: 0 }\nsinks:\n  - { type: console, fmt: json }\n',
    );
    let address: string | undefined;
    let state:
      { industries: Record<string, Record<string, Record<string, { value: number }>>> } | undefined;
    const r = await cli(['run', '-c', cfg, '-d', '3', '--summary-json', summaryPath], {
      onSpawn: (child) => {
        child.stderr!.on('data', (d: Buffer) => {
          const m = /serving GET \/state and \/healthz on (http:\/\/[\d.:]+)/.exec(d.toString());
          if (m && !address) {
            address = m[1];
            setTimeout(() => {
              void fetch(`${address}/state`)
                .then((res) => res.json())
                .then((j) => (state = j as typeof state));
            }, 500);
          }
        });
      },
    });
    expect(r.code).toBe(0);
    expect(address).toBeDefined();
    expect(Object.keys(state!.industries.mining!['mining-001']!)).toHaveLength(17);
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as {
      mode: string;
      sinks: { delivered: number; generated: number }[];
      servers: { type: string }[];
    };
    expect(summary.mode).toBe('realtime');
    expect(summary.servers.map((s) => s.type)).toEqual(['http']);
    expect(summary.sinks[0]!.delivered).toBe(r.stdout.trim().split('\n').length);
    await dir.remove();
  });

  it('--speed 60 plays a minute of simulated time per wall second', async () => {
    const r = await cli([
      'run',
      '-i',
      'mining',
      '--rate',
      '1',
      '--speed',
      '60',
      '-d',
      '1',
      '--format',
      'json',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/run summary: accelerated x60, seed \d+, 60 ticks, 1020 records/);
    const stamps = [
      ...new Set(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { timestamp: number }).timestamp),
      ),
    ];
    expect(stamps).toHaveLength(60);
    expect(stamps[59]! - stamps[0]!).toBe(59);
  });

  it('an unknown server type exits 2 and lists the known ones', async () => {
    const r = await cli(['run', '--server', 'opcuaa', '-d', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown server type 'opcuaa'; known types: http");
    noStack(r);
  });

  it('--help and list commands load no sink SDK', async () => {
    const dir = await tempDir();
    const log = join(dir.path, 'imports.log');
    for (const args of [
      ['--help'],
      ['list-sinks'],
      ['list-servers'],
      ['list-industries'],
      ['run', '--help'],
    ]) {
      const r = await cli(args, {
        nodeArgs: ['--import', join(FIXTURES, 'record-imports.mjs')],
        env: { IOTSIM_IMPORT_LOG: log },
      });
      expect(r.code).toBe(0);
    }
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/yargs/'))).toBe(true);
    const sdks = [
      'kafkajs',
      'parquet-wasm',
      'apache-arrow',
      'postgres',
      'better-sqlite3',
      'drizzle-orm',
      'got',
      '@aws-sdk',
      'azure-iot-device',
      '@grpc',
    ];
    const heavy = loaded.filter(
      (u) =>
        /\/packages\/sink-|\/node_modules\/@iotsim\/sink-/.test(u) ||
        sdks.some((s) => u.includes(`/node_modules/${s}/`)),
    );
    expect(heavy).toEqual([]);
    await dir.remove();
  });

  it('run --format json writes only JSON lines to stdout and the summary to stderr', async () => {
    const r = await cli([
      'run',
      '-i',
      'mining',
      '--rate',
      '10',
      '-d',
      '0.3',
      '--format',
      'json',
      '--seed',
      '5',
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3 * 17);
    for (const l of lines) expect(JSON.parse(l)).toHaveProperty('sensor_name');
    expect(r.stderr).toMatch(/run summary: realtime, seed 5, 3 ticks, 51 records/);
    expect(r.stderr).toMatch(/console\s+51\s+51\s+0\s+0/);
  });

  it('no subcommand means run', async () => {
    const r = await cli(['--industries', 'space', '--duration', '0.2', '--rate', '10']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[space\//);
  });

  it('backfills a simulated range with --start/--end, the same values for the same --seed', async () => {
    const args = [
      'run',
      '-i',
      'mining',
      '--start',
      '2024-01-01T00:00:00Z',
      '--end',
      '2024-01-01T00:01:00Z',
      '--rate',
      '1',
      '--seed',
      '7',
      '--format',
      'json',
    ];
    const a = await cli(args);
    const b = await cli(args);
    expect(a.code).toBe(0);
    expect(a.stdout.trim().split('\n')).toHaveLength(60 * 17);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stderr).toMatch(/run summary: backfill, seed 7, 60 ticks, 1020 records/);
  });

  it('-s file -o DIR --output-format --rotation writes rotated files, as in the original', async () => {
    const dir = await tempDir();
    const r = await cli([
      'run',
      '-i',
      'mining',
      '-s',
      'file',
      '-o',
      dir.path,
      '--output-format',
      'csv',
      '--rotation',
      '1h',
      '--start',
      '2024-01-01T00:00:00Z',
      '--end',
      '2024-01-01T03:00:00Z',
      '--rate',
      '0.1',
      '--seed',
      '3',
    ]);
    expect(r.code).toBe(0);
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(dir.path).sort();
    expect(files).toEqual([
      'sensor_data_20240101_000000.csv',
      'sensor_data_20240101_010000.csv',
      'sensor_data_20240101_020000.csv',
    ]);
    const rows = files.map(
      (f) => readFileSync(join(dir.path, f), 'utf8').trim().split('\n').length - 1,
    );
    expect(rows).toEqual([360 * 17, 360 * 17, 360 * 17]);
    expect(r.stderr).toMatch(/file\s+18360\s+18360\s+0\s+0/);
    const bad = await cli(['run', '-s', 'file', '-o', dir.path, '--rotation', '7x', '-d', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/rotation/);
    noStack(bad);
    await dir.remove();
  });

  it("runs the original README's YAML example (industries, custom sensors, console sink)", async () => {
    const r = await cli([
      'run',
      '--config',
      join(FIXTURES, 'original-console.yaml'),
      '--duration',
      '1',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[smart_office/room_temperature]');
    expect(r.stdout).toContain('[utilities/');
    expect(r.stderr).toMatch(/console\s+74\s+74\s+0\s+0/);
  });

  it('init-config writes a config that run --config accepts as is', async () => {
    const dir = await tempDir();
    const file = join(dir.path, 'sim.yaml');
    expect((await cli(['init-config', '-o', file])).code).toBe(0);
    expect(existsSync(file)).toBe(true);
    const r = await cli(['run', '--config', file, '--duration', '0.5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[smart_office/co2_level]');
    const again = await cli(['init-config', '-o', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const stdout = await cli(['init-config']);
    expect(stdout.stdout).toBe(readFileSync(file, 'utf8'));
    await dir.remove();
  });

  it('a bad config exits 2 naming every bad key, without a stack trace', async () => {
    const dir = await tempDir();
    const file = join(dir.path, 'bad.yaml');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(
        file,
        'simulator:\n  update_rate_hz: -2\n  industires: [mining]\nsinks:\n  - type: console\n    batch_size: 0\n',
      ),
    );
    const r = await cli(['run', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('simulator.update_rate_hz: must be > 0, got -2');
    expect(r.stderr).toContain("simulator.industires: unknown option (did you mean 'industries'?)");
    expect(r.stderr).toContain('sinks[0].batch_size: must be >= 1, got 0');
    noStack(r);
    await dir.remove();
  });

  it('an unknown industry exits 2 and suggests names', async () => {
    const r = await cli(['run', '-i', 'aerospce', '-d', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean 'aerospace'?");
    noStack(r);
  });

  it('an unknown sink type exits 2 and lists the known ones', async () => {
    const r = await cli(['run', '-s', 'kafak', '-d', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown sink type 'kafak'; known types: console/);
    noStack(r);
  });

  it('bad flag values exit 2', async () => {
    for (const args of [
      ['run', '--rate', '0'],
      ['run', '--format', 'xml'],
      ['run', '--bogus'],
      ['run', '--duration', '-1'],
      ['list-sensors'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      noStack(r);
    }
  });

  it('a flag without its value, an unknown command and bad flag values exit 2 naming the flag', async () => {
    const cases: [string[], string][] = [
      [['run', '-c'], 'Not enough arguments following: c'],
      [['run', '--industries'], 'Not enough arguments following: industries'],
      [['run', '--rate', 'abc'], '--rate: must be a number'],
      [['run', '--shutdown-timeout', '0'], '--shutdown-timeout: must be > 0'],
      [['run', '--start', 'soon'], '--start: must be a time'],
      [['run', '-i', 'minning'], "--industries: unknown industry 'minning'"],
      [['list-industry'], "unknown command 'list-industry' (did you mean 'list-industries'?)"],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect({ args, code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
      expect(r.stderr).toContain(message);
      noStack(r);
    }
  });

  it('SIGINT mid-run stops gracefully: summary on stderr, exit 0, every record accounted for', async () => {
    const r = await cli(['run', '-i', 'mining', '--rate', '20', '--format', 'json'], {
      onSpawn: (child) => setTimeout(() => child.kill('SIGINT'), 1500),
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('SIGINT: stopping');
    const m = /console\s+(\d+)\s+(\d+)\s+0\s+0/.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(r.stdout.trim().split('\n')).toHaveLength(Number(m![2]));
  });
});
