import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { ConfigError, ServerStartError } from '@iotsim/core';
import {
  describeServerConformance,
  freePort,
  tempDirs,
  testPlant,
  type TestPlant,
} from '@iotsim/test-utils';
import {
  AttributeIds,
  BrowseDirection,
  ClientSubscription,
  MessageSecurityMode,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  DataType,
  type ClientSession,
} from 'node-opcua-client';
import { OpcUaServer } from '../src/index.js';
import { clientPki, namespaceIndex, openSession, readValues } from './client.js';

const freshDir = tempDirs('iotsim-opcua-');
const pkiDirs: string[] = [];
// One PKI folder for the suite: the server certificate is made once.
const suitePki = join(
  process.env.TMPDIR ?? '/tmp',
  `iotsim-opcua-suite-${process.pid}-${Date.now()}`,
);
pkiDirs.push(suitePki);

const idOf = (plant: TestPlant, c: number): string => {
  const ch = plant.table.channels[c]!;
  return `${ch.industry}/${ch.deviceId}/${ch.sensorName}`;
};

describeServerConformance('OpcUaServer', {
  create: (port) => OpcUaServer.fromConfig({ port, pki_dir: suitePki }),
  async read(_server, port, channels, plant) {
    const s = await openSession(port);
    try {
      const dvs = await readValues(
        s.session,
        channels.map((c) => idOf(plant, c)),
      );
      return dvs.map((dv) => dv.value.value as number);
    } finally {
      await s.close();
    }
  },
  async connect(port) {
    const s = await openSession(port);
    const closed = new Promise<void>((resolve) => {
      s.client.once('close', () => resolve());
      s.client.once('connection_lost', () => resolve());
    });
    return { closed, close: () => s.close() };
  },
});

describe('OpcUaServer', () => {
  const running: OpcUaServer[] = [];
  const runningPlants: TestPlant[] = [];
  const sessions: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close();
    for (const s of running.splice(0)) await s.stop();
  });
  afterAll(async () => {
    await import('node:fs/promises').then((fs) =>
      Promise.all(pkiDirs.map((d) => fs.rm(d, { recursive: true, force: true }))),
    );
  });

  async function started(
    options: Record<string, unknown> = {},
    plant = testPlant(),
  ): Promise<{ server: OpcUaServer; port: number; plant: TestPlant; first: Float64Array }> {
    const port = await freePort();
    const server = OpcUaServer.fromConfig({ port, pki_dir: suitePki, ...options });
    const first = plant.tick();
    await server.start(plant.state, plant.context);
    running.push(server);
    runningPlants.push(plant);
    return { server, port, plant, first };
  }

  async function session(port: number, options: Parameters<typeof openSession>[1] = {}) {
    const s = await openSession(port, options);
    sessions.push(s);
    return s.session;
  }

  async function browseNames(session: ClientSession, nodeId: string): Promise<string[]> {
    const r = await session.browse({
      nodeId,
      browseDirection: BrowseDirection.Forward,
      referenceTypeId: 'HierarchicalReferences',
      includeSubtypes: true,
      resultMask: 63,
    });
    return (r.references ?? []).map((x) => x.browseName.name ?? '');
  }

  it('builds Objects/IoTSim/<industry>/<device>/<sensor> with AnalogItems, EURange, units and Fault', async () => {
    const { port, plant } = await started();
    const s = await session(port);
    const ns = await namespaceIndex(s);
    expect(await browseNames(s, 'ns=0;i=85')).toContain('IoTSim');
    const rootNames = await browseNames(s, `ns=${ns};s=IoTSim`);
    expect(rootNames).toEqual(
      expect.arrayContaining([
        'mining',
        'InjectFault',
        'ClearFault',
        'OverrideValue',
        'ClearOverride',
      ]),
    );
    expect(await browseNames(s, `ns=${ns};s=mining`)).toEqual(['mining-001', 'mining-002']);
    const sensors = await browseNames(s, `ns=${ns};s=mining/mining-001`);
    const expected = plant.table.channels
      .filter((c) => c.deviceId === 'mining-001')
      .map((c) => c.sensorName);
    expect(sensors.sort()).toEqual([...expected].sort());

    const ch = plant.table.channels[0]!;
    const id = `ns=${ns};s=${idOf(plant, 0)}`;
    const children = await s.browse({
      nodeId: id,
      browseDirection: BrowseDirection.Forward,
      resultMask: 63,
    });
    const byName = new Map((children.references ?? []).map((r) => [r.browseName.name, r.nodeId]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['EURange', 'EngineeringUnits', 'Fault']),
    );
    const typeDef = await s.browse({
      nodeId: id,
      referenceTypeId: 'HasTypeDefinition',
      resultMask: 63,
    });
    expect(typeDef.references?.[0]?.browseName.name).toBe('AnalogItemType');
    const [range, units, fault] = await s.read([
      { nodeId: byName.get('EURange')!, attributeId: AttributeIds.Value },
      { nodeId: byName.get('EngineeringUnits')!, attributeId: AttributeIds.Value },
      { nodeId: `ns=${ns};s=${idOf(plant, 0)}/Fault`, attributeId: AttributeIds.Value },
    ]);
    expect(range!.value.value).toMatchObject({ low: ch.minValue, high: ch.maxValue });
    expect(units!.value.value.displayName.text).toBe(ch.unit);
    expect(fault!.value.value).toBe(false);
  });

  it('gives every sensor the UNECE code of its unit where there is one', async () => {
    const plant = testPlant();
    const mps = plant.table.channels.find((c) => c.unit === '°C');
    expect(mps).toBeDefined();
    const { port } = await started({}, plant);
    const s = await session(port);
    const ns = await namespaceIndex(s);
    const id = `${mps!.industry}/${mps!.deviceId}/${mps!.sensorName}`;
    const children = await s.browse({ nodeId: `ns=${ns};s=${id}`, resultMask: 63 });
    const eu = children.references!.find((r) => r.browseName.name === 'EngineeringUnits')!;
    const dv = await s.read({ nodeId: eu.nodeId, attributeId: AttributeIds.Value });
    // CEL: 0x43 0x45 0x4c
    expect(dv.value.value.unitId).toBe(0x43454c);
    expect(dv.value.value.namespaceUri).toBe('http://www.opcfoundation.org/UA/units/un/cefact');
  });

  it('reads every value of the tick with the tick as SourceTimestamp', async () => {
    const { port, plant } = await started();
    const s = await session(port);
    const values = plant.tick();
    const ts = plant.state.latest!.timestamp;
    const ids = plant.table.channels.map((_, i) => idOf(plant, i));
    const dvs = await readValues(s, ids);
    expect(dvs.map((d) => d.value.value as number)).toEqual(Array.from(values));
    for (const d of dvs) {
      expect(d.statusCode.value).toBe(StatusCodes.Good.value);
      expect(d.sourceTimestamp?.getTime()).toBe(ts * 1000);
    }
  });

  it('notifies a subscriber of every tick', async () => {
    const { port, plant } = await started();
    const s = await session(port);
    const ns = await namespaceIndex(s);
    const sub = ClientSubscription.create(s, {
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 20,
      publishingEnabled: true,
    });
    const seen: number[] = [];
    const item = await sub.monitor(
      { nodeId: `ns=${ns};s=${idOf(plant, 3)}`, attributeId: AttributeIds.Value },
      { samplingInterval: 0, discardOldest: true, queueSize: 100 },
      TimestampsToReturn.Both,
    );
    item.on('changed', (dv) => seen.push(dv.value.value as number));
    await waitFor(() => seen.length >= 1);
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) {
      expected.push(plant.tick()[3]!);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor(() => seen.length >= 4);
    expect(seen.slice(-3)).toEqual(expected);
    await sub.terminate();
  });

  it('InjectFault, ClearFault, OverrideValue and ClearOverride act on the model', async () => {
    const { port, plant } = await started();
    const s = await session(port);
    const ns = await namespaceIndex(s);
    const call = (method: string, args: { dataType: DataType; value: unknown }[]) =>
      s.call({
        objectId: `ns=${ns};s=IoTSim`,
        methodId: `ns=${ns};s=IoTSim/${method}`,
        inputArguments: args,
      });
    const str = (value: string) => ({ dataType: DataType.String, value });
    const dbl = (value: number) => ({ dataType: DataType.Double, value });
    const device = plant.table.channels
      .filter((c) => c.deviceId === 'mining-002')
      .map((c) => c.index);

    const inj = await call('InjectFault', [str('mining/mining-002'), dbl(60), str('offset')]);
    expect(inj.statusCode.value).toBe(StatusCodes.Good.value);
    plant.tick();
    for (const c of device) expect(plant.state.faultActive(c)).toBe(true);
    const faultIds = device.map((c) => `${idOf(plant, c)}/Fault`);
    expect((await readValues(s, faultIds)).map((d) => d.value.value)).toEqual(
      device.map(() => true),
    );
    const [faulty] = await readValues(s, [idOf(plant, device[0]!)]);
    expect(faulty!.statusCode.value).toBe(StatusCodes.UncertainSensorNotAccurate.value);
    expect(plant.state.faultActive(0)).toBe(false);

    await call('ClearFault', [str('mining/mining-002')]);
    plant.tick();
    for (const c of device) expect(plant.state.faultActive(c)).toBe(false);
    expect((await readValues(s, faultIds)).map((d) => d.value.value)).toEqual(
      device.map(() => false),
    );

    const target = idOf(plant, 1);
    expect((await call('OverrideValue', [str(target), dbl(123.5)])).statusCode.value).toBe(
      StatusCodes.Good.value,
    );
    plant.tick();
    expect((await readValues(s, [target]))[0]!.value.value).toBe(123.5);
    await call('OverrideValue', [str(target), dbl(NaN)]);
    expect(plant.tick()[1]).not.toBe(123.5);
    await call('OverrideValue', [str(target), dbl(7)]);
    expect(plant.tick()[1]).toBe(7);
    await call('ClearOverride', [str(target)]);
    expect(plant.tick()[1]).not.toBe(7);
  });

  it('a bad path is BadNotFound and a bad argument BadInvalidArgument, with a message', async () => {
    const { port, plant } = await started();
    const s = await session(port);
    const ns = await namespaceIndex(s);
    const call = (method: string, args: { dataType: DataType; value: unknown }[]) =>
      s.call({
        objectId: `ns=${ns};s=IoTSim`,
        methodId: `ns=${ns};s=IoTSim/${method}`,
        inputArguments: args,
      });
    const bad = await call('ClearFault', [{ dataType: DataType.String, value: 'mining/nope' }]);
    expect(bad.statusCode.value).toBe(StatusCodes.BadNotFound.value);
    const dur = await call('InjectFault', [
      { dataType: DataType.String, value: idOf(plant, 0) },
      { dataType: DataType.Double, value: -1 },
      { dataType: DataType.String, value: '' },
    ]);
    expect(dur.statusCode.value).toBe(StatusCodes.BadInvalidArgument.value);
    const kind = await call('InjectFault', [
      { dataType: DataType.String, value: idOf(plant, 0) },
      { dataType: DataType.Double, value: 5 },
      { dataType: DataType.String, value: 'wobble' },
    ]);
    expect(kind.statusCode.value).toBe(StatusCodes.BadInvalidArgument.value);
    expect(plant.logs.join('\n')).toContain("no sensor, device or industry 'mining/nope'");
    expect(plant.logs.join('\n')).toContain('wobble');
  });

  it('Basic256Sha256 SignAndEncrypt with a user and password; a wrong password is refused', async () => {
    const pkiDir = await freshDir();
    const { port, plant } = await started({
      pki_dir: pkiDir,
      allow_anonymous: false,
      trust_client_certificates: true,
      users: [{ username: 'operator', password: 's3cret-pw' }],
    });
    const s = await session(port, {
      securityPolicy: SecurityPolicy.Basic256Sha256,
      securityMode: MessageSecurityMode.SignAndEncrypt,
      user: { userName: 'operator', password: 's3cret-pw' },
    });
    const values = plant.tick();
    const [dv] = await readValues(s, [idOf(plant, 0)]);
    expect(dv!.value.value).toBe(values[0]);
    await expect(
      openSession(port, {
        securityPolicy: SecurityPolicy.Basic256Sha256,
        securityMode: MessageSecurityMode.Sign,
        user: { userName: 'operator', password: 'wrong' },
      }),
    ).rejects.toThrow();
    await expect(openSession(port)).rejects.toThrow(); // anonymous is off
  });

  it('rejects an unknown client certificate into pki_dir/rejected, and trusts one listed', async () => {
    const pkiDir = await freshDir();
    const { port } = await started({ pki_dir: pkiDir });
    const clientDir = clientPki();
    pkiDirs.push(clientDir);
    const secure = {
      securityPolicy: SecurityPolicy.Basic256Sha256,
      securityMode: MessageSecurityMode.SignAndEncrypt,
      pkiDir: clientDir,
    };
    await expect(openSession(port, secure)).rejects.toThrow();
    const rejected = await readdir(join(pkiDir, 'rejected')).catch(() => [] as string[]);
    expect(rejected.length).toBeGreaterThan(0);
    const logs = runningPlants.at(-1)!.logs;
    await waitFor(() => logs.some((l) => l.includes('refused a client certificate')), 5000).catch(
      () => undefined,
    );
    expect(logs.join('\n')).toContain(
      `it is in ${join(pkiDir, 'rejected')}; move it to ${join(pkiDir, 'trusted', 'certs')}`,
    );
    await running.splice(0)[0]!.stop();

    // The client's own certificate, listed in trust_client_certificates, is accepted.
    const own = join(clientDir, 'own', 'certs');
    const certFile = (await readdir(own)).find((f) => f.endsWith('.pem'))!;
    const again = await started({
      pki_dir: await freshDir(),
      trust_client_certificates: [join(own, certFile)],
    });
    const s = await session(again.port, secure);
    expect((await readValues(s, [idOf(again.plant, 0)]))[0]!.value.value).toBe(again.first[0]);
  });

  it('host 0.0.0.0 serves clients that connect on 127.0.0.1', async () => {
    const { port, plant, first } = await started({ host: '0.0.0.0' });
    const s = await session(port);
    expect((await readValues(s, [idOf(plant, 0)]))[0]!.value.value).toBe(first[0]);
  });

  it('max_sessions limits the sessions', async () => {
    const { port } = await started({ max_sessions: 1 });
    await session(port);
    await expect(openSession(port)).rejects.toThrow();
  });

  it('an unwritable pki_dir is a ServerStartError naming pki_dir', async () => {
    const parent = await freshDir();
    const file = join(parent, 'not-a-folder');
    await writeFile(file, 'x');
    const plant = testPlant();
    plant.tick();
    const server = OpcUaServer.fromConfig({ port: await freePort(), pki_dir: join(file, 'pki') });
    const err = await server.start(plant.state, plant.context).catch((e: unknown) => e);
    await server.stop();
    expect(err).toBeInstanceOf(ServerStartError);
    expect(String(err)).toContain('pki_dir');
    expect(String(err)).toContain(join(file, 'pki'));
    if (process.getuid?.() !== 0) {
      const ro = join(parent, 'ro');
      await mkdir(ro);
      await chmod(ro, 0o500);
      const s2 = OpcUaServer.fromConfig({ port: await freePort(), pki_dir: ro });
      await expect(s2.start(plant.state, plant.context)).rejects.toThrow(/pki_dir/);
      await s2.stop();
    }
  });

  it('an address space larger than max_monitored_items is a ServerStartError naming it', async () => {
    const plant = testPlant();
    plant.tick();
    const server = OpcUaServer.fromConfig({
      port: await freePort(),
      pki_dir: suitePki,
      max_monitored_items: 10,
    });
    const err = await server.start(plant.state, plant.context).catch((e: unknown) => e);
    await server.stop();
    expect(err).toBeInstanceOf(ServerStartError);
    expect(String(err)).toContain('max_monitored_items');
    expect(String(err)).toContain(String(2 * plant.table.length));
  });

  it('validates its options, each problem naming its YAML key', () => {
    const bad = (config: Record<string, unknown>): string => {
      try {
        OpcUaServer.fromConfig(config, 'servers[0].');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return String((err as Error).message);
      }
      throw new Error('no error');
    };
    expect(bad({ port: 70000 })).toContain('servers[0].port');
    expect(bad({ security_policies: ['Basic128'] })).toContain('servers[0].security_policies');
    expect(bad({ security_modes: ['Sign'] })).toContain("policy 'None' needs mode 'None'");
    expect(bad({ allow_anonymous: false })).toContain('servers[0].allow_anonymous');
    expect(bad({ users: [{ username: 'a' }] })).toContain('servers[0].users[0].password');
    expect(bad({ users: [{ username: 'a', password: 'b', role: 'x' }] })).toContain(
      'users[0].role',
    );
    expect(bad({ max_sessions: 0 })).toContain('servers[0].max_sessions');
    expect(bad({ pki_dirr: '/tmp' })).toContain("did you mean 'pki_dir'");
    // A bad entry has its own problem, not a second one from a check between entries.
    expect(bad({ security_policies: ['Basic128'] })).toBe(
      "servers[0].security_policies: unknown value \"Basic128\"; use 'None', 'Basic256Sha256'",
    );
    expect(bad({ allow_anonymous: false, users: [{ username: 'a' }] })).toBe(
      'servers[0].users[0].password: is required (a non-empty string)',
    );
    expect(bad({ security_policies: ['None'], security_modes: ['Sign'] })).toBe(
      "servers[0].security_modes: policy 'None' needs mode 'None' in security_modes",
    );
    expect(() => new OpcUaServer({ securityModes: ['Sign'] })).toThrow(
      "securityModes: policy 'None' needs mode 'None' in securityModes",
    );
  });

  it('describe() names the endpoint and security, never a password', async () => {
    const { server } = await started({ users: [{ username: 'op', password: 'hunter2-secret' }] });
    expect(server.describe()).toContain(`opc.tcp://127.0.0.1:${server.options.port}`);
    expect(server.describe()).toContain('Basic256Sha256');
    expect(server.describe()).not.toContain('hunter2-secret');
    expect(JSON.stringify(server.options.users)).toContain('hunter2'); // kept for the check only
  });

  it('importing the package does not load node-opcua (it loads in start())', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = [
      "import { registerHooks } from 'node:module';",
      'const seen = [];',
      'registerHooks({ resolve(s, c, next) { seen.push(s); return next(s, c); } });',
      "const m = await import('@iotsim/server-opcua');",
      "console.log(JSON.stringify({ sdk: seen.filter((s) => s.includes('node-opcua')), exports: Object.keys(m).sort() }));",
    ].join('\n');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, NODE_OPTIONS: '' },
      encoding: 'utf8',
    });
    const { sdk, exports } = JSON.parse(out) as { sdk: string[]; exports: string[] };
    expect(sdk).toEqual([]);
    expect(exports).toEqual(['OpcUaServer', 'opcUaNodeManifest']);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
