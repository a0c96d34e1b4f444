import { describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { getIndustrySensors } from '@iotsim/core';
import { cli, tempDir } from '@iotsim/test-utils';

const COLUMNS =
  'unit_id,table,register,type,word_order,industry,device_id,sensor_name,unit,min_value,max_value,writable';

describe('iotsim modbus-map', () => {
  it('prints the register map of -i/--devices/--word-order as CSV', async () => {
    const r = await cli([
      'modbus-map',
      '-i',
      'mining',
      'utilities',
      '--devices',
      '2',
      '--word-order',
      'CDAB',
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(COLUMNS);
    const rows = lines.slice(1).map((l) => l.split(','));
    const mining = getIndustrySensors('mining').length;
    const utilities = getIndustrySensors('utilities').length;
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(['1', '2', '3', '4']));
    expect(rows.filter((r) => r[0] === '3')[0]!.slice(5, 7)).toEqual([
      'utilities',
      'utilities-001',
    ]);
    expect(
      rows.filter((r) => r[1] === 'input' && r[3] === 'float32' && !r[7]!.startsWith('header.')),
    ).toHaveLength(2 * mining + 2 * utilities);
    expect(rows.filter((r) => r[3] === 'float32').every((r) => r[4] === 'CDAB')).toBe(true);
    expect(
      rows.filter((r) => r[1] === 'coil').every((r) => r[3] === 'bool' && r[11] === 'true'),
    ).toBe(true);
  });

  it('reads industries, devices and the modbus word_order from -c config.yaml', async () => {
    const dir = await tempDir();
    const cfg = join(dir.path, 'c.yaml');
    writeFileSync(
      cfg,
      'simulator: { industries: [oil_gas], devices_per_industry: 3 }\nservers:\n  - { type: modbus, word_order: DCBA }\n',
    );
    const r = await cli(['modbus-map', '-c', cfg]);
    expect(r.code).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    expect(rows.at(-1)!.slice(0, 1).concat(rows.at(-1)!.slice(5, 7))).toEqual([
      '3',
      'oil_gas',
      'oil_gas-003',
    ]);
    expect(rows[0]![4]).toBe('DCBA');
    // A flag overrides the config.
    const r2 = await cli(['modbus-map', '-c', cfg, '--word-order', 'BADC']);
    expect(r2.stdout.split('\n')[1]!.split(',')[4]).toBe('BADC');
    await dir.remove();
  });

  it('bad input exits 2 with a message naming the flag and the fix', async () => {
    const bad = await cli(['modbus-map', '--word-order', 'ABDC']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--word-order: must be one of 'ABCD', 'CDAB', 'BADC', 'DCBA'");
    const many = await cli(['modbus-map', '-i', 'mining', '--devices', '248']);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(
      /248 devices .* at most 247 unit ids: lower simulator.devices_per_industry \(--devices\)/,
    );
    const industry = await cli(['modbus-map', '-i', 'minig']);
    expect(industry.code).toBe(2);
    expect(industry.stderr).toContain("did you mean 'mining'");
    for (const r of [bad, many, industry]) expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});

describe('iotsim run --server modbus: start errors exit 2', () => {
  it('an occupied port, a bad word_order and too many devices each exit 2 naming the problem', async () => {
    const dir = await tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const cases: [string, RegExp][] = [
        [
          `simulator: { industries: [mining] }\nservers:\n  - { type: modbus, port: ${port} }\nsinks:\n  - { type: console }\n`,
          new RegExp(`port ${port} on 127.0.0.1 is in use`),
        ],
        [
          'simulator: { industries: [mining] }\nservers:\n  - { type: modbus, port: 0, word_order: big }\nsinks:\n  - { type: console }\n',
          /word_order: must be one of 'ABCD', 'CDAB', 'BADC', 'DCBA'/,
        ],
        [
          'simulator: { industries: [mining], devices_per_industry: 250 }\nservers:\n  - { type: modbus, port: 0 }\nsinks:\n  - { type: console }\n',
          /250 devices .* at most 247 unit ids/,
        ],
      ];
      for (const [i, [yaml, message]] of cases.entries()) {
        const cfg = join(dir.path, `c${i}.yaml`);
        writeFileSync(cfg, yaml);
        const r = await cli(['run', '-c', cfg, '-d', '2']);
        expect({ code: r.code, matches: message.test(r.stderr) }).toEqual({
          code: 2,
          matches: true,
        });
      }
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      await dir.remove();
    }
  });
});
