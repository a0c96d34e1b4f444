import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tempDirs } from '@iotsim/test-utils';

const freshDir = tempDirs();

/** Every data line of every CSV file in `dir`, sorted; and the file names. */
function csvRows(dir: string): { files: string[]; rows: string[] } {
  const files = readdirSync(dir).sort();
  const rows: string[] = [];
  for (const f of files) {
    const [header, ...lines] = readFileSync(join(dir, f), 'utf8').split('\n');
    expect(header).toMatch(/^sensor_name,industry,device_id,value/);
    for (const l of lines) if (l) rows.push(l);
  }
  return { files, rows: rows.sort() };
}

const CONFIG = `simulator:
  industries: [mining, oil_gas, water_wastewater]
  devices_per_industry: 7
  seed: 21
  update_rate_hz: 2
  start: 2024-03-01T00:00:00Z
  end: 2024-03-01T00:02:00Z
  log_level: WARNING
sinks:
  - type: file
    path: \${OUT}
    format: csv
    batch_size: 1000
`;

describe('iotsim run --shard / --workers', () => {
  it('the union of 3 shards (JOB_COMPLETION_INDEX, --shard-count, one on 2 workers) equals the unsharded run, record for record', async () => {
    const dir = await freshDir();
    const config = join(dir, 'c.yaml');
    writeFileSync(config, CONFIG);
    const whole = join(dir, 'whole');
    const shards = join(dir, 'shards');
    const single = await cli(['run', '-c', config], { env: { OUT: whole } });
    expect(single.stderr).toContain('run summary');
    expect(single.code).toBe(0);
    const runs = await Promise.all(
      [0, 1, 2].map((k) =>
        cli(['run', '-c', config, '--shard-count', '3', ...(k === 1 ? ['--workers', '2'] : [])], {
          env: {
            OUT: shards,
            JOB_COMPLETION_INDEX: String(k),
          },
        }),
      ),
    );
    for (const r of runs) expect(r.code).toBe(0);
    const a = csvRows(whole);
    const b = csvRows(shards);
    expect(a.files).toEqual(['sensor_data_20240301_000000.csv']);
    expect(b.files).toEqual([
      'sensor_data_20240301_000000_shard0of3.csv',
      'sensor_data_20240301_000000_shard1of3-w0.csv',
      'sensor_data_20240301_000000_shard1of3-w1.csv',
      'sensor_data_20240301_000000_shard2of3.csv',
    ]);
    expect(a.rows.length).toBe(240 * 7 * 65); // 240 ticks x 7 devices x 65 sensors of the three industries
    expect(b.rows).toEqual(a.rows);
    // A device's rows are all in one shard's files.
    const owner = new Map<string, string>();
    for (const f of b.files) {
      const shard = f.replace(/-w\d/, '');
      for (const l of readFileSync(join(shards, f), 'utf8').split('\n').slice(1)) {
        if (!l) continue;
        const dev = l.split(',')[2]!;
        expect(owner.get(dev) ?? shard).toBe(shard);
        owner.set(dev, shard);
      }
    }
    expect(owner.size).toBe(21);
  }, 60_000);

  it('takes the shard from IOTSIM_SHARD', async () => {
    const dir = await freshDir();
    const config = join(dir, 'c.yaml');
    writeFileSync(config, CONFIG);
    const r = await cli(['run', '-c', config], {
      env: { OUT: join(dir, 'o'), IOTSIM_SHARD: '1/2' },
    });
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, 'o'))).toEqual(['sensor_data_20240301_000000_shard1of2.csv']);
  });

  it.each([
    [['--shard', '3/2'], /--shard: must have K < N \(K is 0-based/],
    [['--shard', 'x'], /--shard: must be K\/N with 0 <= K < N/],
    [['--shard-count', '3'], /--shard-count: needs the shard index: set JOB_COMPLETION_INDEX/],
    [['--shard', '0/2', '--shard-count', '3'], /--shard: says 2 shards but --shard-count says 3/],
    [['--workers', '0'], /--workers: must be a whole number from 1 to 256/],
    [['--workers', 'two'], /--workers: must be a whole number from 1 to 256/],
    [['--start-at', 'soon'], /--start-at: must be a time/],
    [['--start-at', '2030-01-01T00:00:00Z', '--start', '-1h'], /--start-at: is the common start/],
  ])('%j is exit 2 with a clear message', async (args, message) => {
    const r = await cli(['run', '--duration', '1', ...args]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('JOB_COMPLETION_INDEX out of range is exit 2', async () => {
    const r = await cli(['run', '--duration', '1', '--shard-count', '2'], {
      env: {
        JOB_COMPLETION_INDEX: '2',
      },
    });
    expect(r.stderr).toMatch(/JOB_COMPLETION_INDEX: must be < the shard count 2/);
    expect(r.code).toBe(2);
  });
});
