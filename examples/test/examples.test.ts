import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDirs } from '@iotsim/test-utils';

const run = promisify(execFile);
const here = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(here, '../apps/cli/dist/bin.js');
const freshDir = tempDirs('iotsim-examples-');

async function example(
  name: string,
  args: string[] = [],
): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(here, 'dist', `${name}.js`), ...args], {
    env: { ...process.env, NODE_OPTIONS: '', EXAMPLE_DURATION_S: '1' },
    timeout: 60_000,
  });
}

describe('examples run as documented', () => {
  it('quickstart prints mining sensors and delivers everything', async () => {
    const { stdout, stderr } = await example('quickstart');
    expect(stdout).toMatch(/^\[mining\//);
    expect(stderr).toBe('delivered 34 of 34 records\n');
  });

  it('custom-sensors mixes a built-in industry with custom sensors and their tags', async () => {
    const { stdout } = await example('custom-sensors');
    expect(stdout).toContain('sensors: 19');
    expect(stdout).toContain('records: 68400, smart_office: 7200');
    expect(stdout).toContain('tags: {"floor":3,"building":"HQ"}');
  });

  it('backfill-to-parquet writes 24 hourly files', async () => {
    const dir = await freshDir();
    const { stdout } = await example('backfill-to-parquet', [dir]);
    expect(stdout).toMatch(/^3024000 records in/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.parquet'))).toHaveLength(24);
  });

  it('custom-sink is usable by type name from a config document', async () => {
    const { stdout } = await example('custom-sink');
    expect(stdout.trim().split('\n')).toHaveLength(20);
    expect(stdout).toMatch(/^\w+\s+min [\d.-]+ max [\d.-]+ mean [\d.-]+$/m);
  });

  it('configs/simulator.yaml runs with the CLI (custom sensors from CSV, console and Parquet files)', async () => {
    const dir = await freshDir();
    const { stdout, stderr } = await run(
      process.execPath,
      [CLI, 'run', '--config', join(here, 'configs/simulator.yaml'), '-d', '1'],
      {
        cwd: dir,
        env: { ...process.env, NODE_OPTIONS: '' },
        timeout: 60_000,
      },
    );
    expect(stdout).toContain('[power_plant/boiler_temp]');
    expect(stderr).toMatch(/file\s+78\s+78\s+0\s+0/);
    expect(readdirSync(join(dir, 'output')).some((f) => f.endsWith('.parquet'))).toBe(true);
  });

  it('configs/backfill-week.yaml gives seven daily CSV files', async () => {
    const dir = await freshDir();
    await run(
      process.execPath,
      [CLI, 'run', '--config', join(here, 'configs/backfill-week.yaml')],
      {
        cwd: dir,
        env: { ...process.env, NODE_OPTIONS: '' },
        timeout: 120_000,
      },
    );
    expect(readdirSync(join(dir, 'output/week')).sort()).toEqual(
      ['04', '05', '06', '07', '08', '09', '10'].map((d) => `sensor_data_202403${d}_000000.csv`),
    );
  });
});
