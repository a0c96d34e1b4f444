import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { freePort, occupiedPort, tempDirs, testPlant } from '@iotsim/test-utils';
import { AttributeIds, StatusCodes } from 'node-opcua-client';
import { OpcUaServer } from '../src/index.js';
import { namespaceIndex, openSession } from './client.js';

// The CLI as a user runs it: `node apps/cli/dist/bin.js` (built by `pnpm build`).
const BIN = fileURLToPath(new URL('../../../apps/cli/dist/bin.js', import.meta.url));
const freshDir = tempDirs('iotsim-opcua-cli-');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(
  args: string[],
  cwd?: string,
): { done: Promise<Result>; kill(signal: NodeJS.Signals): void; stdout(): string } {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'pnpm build' first`);
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NODE_OPTIONS: '' },
    cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    kill: (signal) => child.kill(signal),
    stdout: () => stdout,
    done: new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    }),
  };
}

async function config(dir: string, server: string, rest = ''): Promise<string> {
  const file = join(dir, 'iotsim.yaml');
  await writeFile(
    file,
    `simulator: { industries: [mining], update_rate_hz: 2 }\nservers:\n  - { type: opcua, ${server} }\n${rest}`,
  );
  return file;
}

describe('iotsim run --server opcua (CLI)', () => {
  it('a value read over OPC UA at a tick equals what the file sink wrote for that tick', async () => {
    const dir = await freshDir();
    const port = await freePort();
    const file = await config(
      dir,
      `port: ${port}, pki_dir: ${join(dir, 'pki')}`,
      `sinks:\n  - { type: file, path: ${join(dir, 'out')}, format: csv }\n`,
    );
    const run = cli(['run', '-c', file, '-i', 'mining', '-d', '7'], dir);
    let exited = false;
    void run.done.then(() => (exited = true));
    const sensors = [
      'mining/mining-001/conveyor_belt_1_speed',
      'mining/mining-001/conveyor_belt_1_motor_temp',
    ];
    const samples: { id: string; value: number; ts: number }[] = [];
    let session: Awaited<ReturnType<typeof openSession>> | undefined;
    while (!session && !exited) {
      session = await openSession(port).catch(async () => {
        await new Promise((r) => setTimeout(r, 200));
        return undefined;
      });
    }
    expect(session).toBeDefined();
    try {
      const ns = await namespaceIndex(session!.session);
      while (!exited) {
        const dvs = await session!.session
          .read(
            sensors.map((s) => ({ nodeId: `ns=${ns};s=${s}`, attributeId: AttributeIds.Value })),
          )
          .catch(() => []);
        dvs.forEach((dv, i) => {
          if (dv.statusCode.value === StatusCodes.Good.value && dv.sourceTimestamp)
            samples.push({
              id: sensors[i]!,
              value: dv.value.value as number,
              ts: dv.sourceTimestamp.getTime() / 1000,
            });
        });
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await session!.close();
    }
    const result = await run.done;
    expect(result.stderr).toContain('serving OPC UA');
    expect(result.code).toBe(0);

    const out = join(dir, 'out');
    const csvFile = (await readdir(out)).find((f) => f.endsWith('.csv'))!;
    const lines = (await readFile(join(out, csvFile), 'utf8')).trim().split('\n');
    const head = lines[0]!.split(',');
    const col = (name: string): number => head.indexOf(name);
    const written = new Map<string, number>();
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      const key = `${f[col('industry')]}/${f[col('device_id')]}/${f[col('sensor_name')]}@${Number(f[col('timestamp')])}`;
      written.set(key, Number(f[col('value')]));
    }
    const ticks = new Set(samples.map((s) => s.ts));
    expect(ticks.size).toBeGreaterThanOrEqual(3);
    for (const s of samples) {
      const key = `${s.id}@${s.ts}`;
      expect(written.has(key)).toBe(true);
      expect(s.value).toBe(written.get(key));
    }
  }, 60_000);

  it('Ctrl-C stops the run: a connected client sees the server go away, nothing hangs', async () => {
    const dir = await freshDir();
    const port = await freePort();
    const file = await config(
      dir,
      `port: ${port}, pki_dir: ${join(dir, 'pki')}`,
      'sinks:\n  - { type: console, fmt: json }\n',
    );
    const run = cli(['run', '-c', file], dir);
    let session: Awaited<ReturnType<typeof openSession>> | undefined;
    for (let i = 0; i < 100 && !session; i++) {
      session = await openSession(port).catch(async () => {
        await new Promise((r) => setTimeout(r, 200));
        return undefined;
      });
    }
    expect(session).toBeDefined();
    const closed = new Promise<void>((resolve) => {
      session!.client.once('close', () => resolve());
      session!.client.once('connection_lost', () => resolve());
    });
    // The clock starts once the server listens: wait for the console sink's first records.
    for (let i = 0; i < 100 && !run.stdout().includes('\n'); i++)
      await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    run.kill('SIGINT');
    const result = await run.done;
    await closed;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('SIGINT: stopping');
    // stdout is the console sink's alone: node-opcua's own messages go to the run's logger.
    const lines = result.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    await session!.close();
  }, 60_000);

  it('an occupied port exits 2 naming the port', async () => {
    const dir = await freshDir();
    const { port, blocker } = await occupiedPort();
    try {
      const file = await config(dir, `port: ${port}, pki_dir: ${join(dir, 'pki')}`);
      const r = await cli(['run', '-c', file, '-d', '2'], dir).done;
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`port ${port}`);
      expect(r.stderr).toContain('in use');
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('an unwritable pki_dir exits 2 naming pki_dir', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, 'file'), 'x');
    const file = await config(
      dir,
      `port: ${await freePort()}, pki_dir: ${join(dir, 'file', 'pki')}`,
    );
    const r = await cli(['run', '-c', file, '-d', '2'], dir).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pki_dir');
  }, 60_000);

  it('max_monitored_items below the address space exits 2 naming it', async () => {
    const dir = await freshDir();
    const file = await config(
      dir,
      `port: ${await freePort()}, pki_dir: ${join(dir, 'pki')}, max_monitored_items: 5`,
    );
    const r = await cli(['run', '-c', file, '-d', '2'], dir).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('max_monitored_items');
  }, 60_000);

  it('a typo in an option exits 2 with did-you-mean', async () => {
    const dir = await freshDir();
    const file = await config(dir, `port: 4840, pki_dri: ${join(dir, 'pki')}`);
    const r = await cli(['run', '-c', file, '-d', '2'], dir).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean 'pki_dir'");
  }, 60_000);
});

describe('iotsim opcua-nodes (CLI)', () => {
  it('lists, as CSV, every node id the server serves for the same run', async () => {
    const r = await cli(['opcua-nodes', '-i', 'mining', '--devices', '2']).done;
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows[0]).toBe(
      'node_id,browse_path,industry,device_id,sensor_name,unit,min_value,max_value',
    );
    const plant = testPlant({ devicesPerIndustry: 2 });
    expect(rows.length - 1).toBe(plant.table.length);

    const values = plant.tick();
    const dir = await freshDir();
    const port = await freePort();
    const server = OpcUaServer.fromConfig({ port, pki_dir: join(dir, 'pki') });
    await server.start(plant.state, plant.context);
    const s = await openSession(port);
    try {
      const ns = await namespaceIndex(s.session);
      const ids = rows.slice(1).map((row) => row.split(',')[0]!);
      expect(ids.every((id) => id.startsWith('nsu=urn:iotsim;s='))).toBe(true);
      const dvs = await s.session.read(
        ids.map((id) => ({
          nodeId: id.replace('nsu=urn:iotsim;', `ns=${ns};`),
          attributeId: AttributeIds.Value,
        })),
      );
      expect(dvs.map((d) => d.value.value as number)).toEqual(Array.from(values));
    } finally {
      await s.close();
      await server.stop();
    }
  }, 60_000);

  it('writes pn.json for OPC Publisher with the endpoint and the tick interval', async () => {
    const r = await cli([
      'opcua-nodes',
      '--format',
      'pn.json',
      '-i',
      'mining',
      '--port',
      '4841',
      '--rate',
      '4',
    ]).done;
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      EndpointUrl: string;
      UseSecurity: boolean;
      OpcNodes: { Id: string; OpcSamplingInterval: number; OpcPublishingInterval: number }[];
    }[];
    expect(doc).toHaveLength(1);
    expect(doc[0]!.EndpointUrl).toBe('opc.tcp://127.0.0.1:4841');
    expect(doc[0]!.UseSecurity).toBe(false);
    expect(doc[0]!.OpcNodes[0]).toEqual({
      Id: 'nsu=urn:iotsim;s=mining/mining-001/conveyor_belt_1_speed',
      OpcSamplingInterval: 250,
      OpcPublishingInterval: 250,
    });
  });

  it('reads industries, devices, rate and the opcua port from a config', async () => {
    const dir = await freshDir();
    const file = join(dir, 'c.yaml');
    await writeFile(
      file,
      'simulator: { industries: [mining, utilities], devices_per_industry: 3, update_rate_hz: 10 }\nservers:\n  - { type: opcua, port: 4999, namespace_uri: "urn:plant" }\n',
    );
    const r = await cli(['opcua-nodes', '-c', file, '--format', 'pn.json']).done;
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      EndpointUrl: string;
      OpcNodes: { Id: string; OpcSamplingInterval: number }[];
    }[];
    expect(doc[0]!.EndpointUrl).toBe('opc.tcp://127.0.0.1:4999');
    expect(doc[0]!.OpcNodes[0]!.OpcSamplingInterval).toBe(100);
    expect(
      doc[0]!.OpcNodes.some(
        (n) => n.Id === 'nsu=urn:plant;s=utilities/utilities-003/' + n.Id.split('/').pop(),
      ),
    ).toBe(true);
  });

  it('a bad flag exits 2 naming it', async () => {
    const r = await cli(['opcua-nodes', '--format', 'xml', '--devices', '0']).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format');
    expect(r.stderr).toContain('--devices');
  });
});
