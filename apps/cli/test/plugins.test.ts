// Third-party sinks from the CLI and YAML: `plugins:` in a config and `--plugin` on the command line,
// with a plugin package installed beside the project (its own node_modules entry) and a plugin file.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, tempDirs } from '@iotsim/test-utils';

const CORE = fileURLToPath(new URL('../../../packages/core', import.meta.url));
const freshDir = tempDirs('iotsim-plugins-');

/** The README's StatsSink: counts records and sensors, writes them to `out` on close. */
const STATS_SINK = `
import { writeFileSync } from 'node:fs';
import { opt, parseSinkOptions, Sink, v } from '@iotsim/core';

const StatsSinkSchema = opt.object({
  /** File the counts are written to on close. */
  out: v.nullish(opt.string(), 'stats.json'),
});

export class StatsSink extends Sink {
  static type = 'stats';
  static schema = StatsSinkSchema;
  constructor(options = {}) {
    super();
    this.options = parseSinkOptions(StatsSinkSchema, options);
    this.records = 0;
    this.sensors = new Set();
  }
  async connect() {}
  async write({ records }) {
    for (const r of records) {
      this.records++;
      this.sensors.add(r.industry + '/' + r.device_id + '/' + r.sensor_name);
    }
  }
  async close() {
    writeFileSync(this.options.out, JSON.stringify({ records: this.records, sensors: this.sensors.size }));
  }
}
`;

/** A project folder with the plugin package installed in its node_modules, and core beside it. */
async function project(): Promise<string> {
  const dir = await freshDir();
  mkdirSync(join(dir, 'node_modules', '@iotsim'), { recursive: true });
  symlinkSync(CORE, join(dir, 'node_modules', '@iotsim', 'core'));
  const pkg = join(dir, 'node_modules', 'iotsim-stats-sink');
  mkdirSync(pkg);
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'iotsim-stats-sink', type: 'module', exports: './index.js' }),
  );
  writeFileSync(join(pkg, 'index.js'), STATS_SINK);
  writeFileSync(join(dir, 'stats-sink.js'), STATS_SINK);
  writeFileSync(join(dir, 'not-a-plugin.js'), 'export const answer = 42;\n');
  return dir;
}

const BACKFILL = ['--start', '2026-01-01T00:00:00Z', '--end', '2026-01-01T00:00:10Z'];

describe('plugins from YAML and --plugin', () => {
  it('plugins: [package] in YAML registers the sink type; its options are checked by its schema', async () => {
    const dir = await project();
    const config = join(dir, 'plant.yaml');
    writeFileSync(
      config,
      [
        'plugins: [iotsim-stats-sink]',
        'simulator: {industries: [mining], update_rate_hz: 1}',
        'sinks:',
        `  - {type: stats, out: ${join(dir, 'out.json')}, batch_size: 50}`,
        '',
      ].join('\n'),
    );
    const r = await cli(['run', '-c', config, ...BACKFILL], { cwd: dir });
    expect(r.stderr).toContain('run summary');
    expect(r.code).toBe(0);
    // 10 ticks of the 17 mining sensors, every one delivered to the plugin's sink.
    expect(JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'))).toEqual({
      records: 170,
      sensors: 17,
    });

    writeFileSync(
      config,
      'plugins: [iotsim-stats-sink]\nsinks:\n  - {type: stats, ouut: x.json}\n',
    );
    const bad = await cli(['run', '-c', config, ...BACKFILL], { cwd: dir });
    expect(bad.stderr).toContain("sinks[0].ouut: unknown option (did you mean 'out'?)");
    expect(bad.code).toBe(2);
  });

  it('--plugin ./file.js adds its sink type for --sink, resolved from the working directory', async () => {
    const dir = await project();
    const r = await cli(
      ['run', '--plugin', './stats-sink.js', '-s', 'stats', '--rate', '1', ...BACKFILL],
      {
        cwd: dir,
      },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8'))).toEqual({
      records: 170,
      sensors: 17,
    });
  });

  it('a plugin that cannot be found, or exports no sink or server, is exit 2 naming it', async () => {
    const dir = await project();
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'plugins: [./missing.js, ./not-a-plugin.js, no-such-plugin-package]\n');
    const r = await cli(['run', '-c', config, ...BACKFILL], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("plugins[0]: cannot find the plugin file './missing.js'");
    expect(r.stderr).toContain(
      "plugins[1]: the plugin './not-a-plugin.js' exports no sink or server class",
    );
    expect(r.stderr).toContain('plugins[2]: cannot find the plugin package');
    expect(r.stderr).toContain('npm install no-such-plugin-package');
    const flag = await cli(['run', '--plugin', './missing.js', '-d', '1'], { cwd: dir });
    expect(flag.stderr).toContain(
      "--plugin ./missing.js: cannot find the plugin file './missing.js'",
    );
    expect(flag.code).toBe(2);
  });
});
