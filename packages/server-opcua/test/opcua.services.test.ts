// The OPC UA server read by an independent client: Python asyncua 2.1 from the services venv
// (IOTSIM_PYTHON, `bash scripts/services/up.sh python`).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, runPython, tempDirs, testPlant, type TestPlant } from '@iotsim/test-utils';
import { OpcUaServer } from '../src/index.js';

const freshDir = tempDirs('iotsim-opcua-services-');

const COMMON = `
import asyncio, json, sys
from asyncua import Client, ua
URL = sys.argv[1]
async def ns_of(c):
    return await c.get_namespace_index('urn:iotsim')
`;

describe('OpcUaServer read by Python asyncua', () => {
  let plant: TestPlant;
  let server: OpcUaServer;
  let port: number;
  let url: string;
  let pkiDir: string;
  /** Values per tick timestamp (seconds), recorded as the plant publishes them. */
  const byTimestamp = new Map<number, Float64Array>();
  let ticker: NodeJS.Timeout | undefined;

  const tick = (): Float64Array => {
    const values = plant.tick();
    byTimestamp.set(plant.state.latest!.timestamp, values);
    return values;
  };
  const idOf = (c: number): string => {
    const ch = plant.table.channels[c]!;
    return `${ch.industry}/${ch.deviceId}/${ch.sensorName}`;
  };
  /** Ticks every `ms` while `fn` runs. */
  async function ticking<T>(fn: () => Promise<T>, ms = 200): Promise<T> {
    ticker = setInterval(tick, ms);
    try {
      return await fn();
    } finally {
      clearInterval(ticker);
    }
  }

  beforeAll(async () => {
    plant = testPlant();
    port = await freePort();
    url = `opc.tcp://127.0.0.1:${port}`;
    pkiDir = join(await freshDir(), 'pki');
    server = OpcUaServer.fromConfig({
      port,
      pki_dir: pkiDir,
      trust_client_certificates: true,
      users: [{ username: 'operator', password: 'op-secret-1' }],
    });
    tick();
    await server.start(plant.state, plant.context);
  });
  afterAll(async () => {
    clearInterval(ticker);
    await server.stop();
  });

  it('browses the whole tree and reads every value and SourceTimestamp of the tick', async () => {
    const values = tick();
    const ts = plant.state.latest!.timestamp;
    const out = await runPython(
      `${COMMON}
async def main():
    async with Client(URL) as c:
        ns = await ns_of(c)
        root = c.get_node(ua.NodeId('IoTSim', ns))
        sensors = {}
        async def walk(node, path):
            for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
                name = (await child.read_browse_name()).Name
                cls = await child.read_node_class()
                if cls == ua.NodeClass.Object:
                    await walk(child, path + [name])
                elif cls == ua.NodeClass.Variable and len(path) == 2:
                    type_def = await c.get_node(await child.read_type_definition()).read_browse_name()
                    props = {}
                    for p in await child.get_children():
                        props[(await p.read_browse_name()).Name] = p
                    rng = await props['EURange'].read_value()
                    eu = await props['EngineeringUnits'].read_value()
                    fault = await props['Fault'].read_value()
                    dv = await child.read_data_value()
                    sensors['/'.join(path + [name])] = {
                        'node_id': child.nodeid.to_string(),
                        'type': type_def.Name,
                        'value': dv.Value.Value,
                        'status': dv.StatusCode.value,
                        'ts': dv.SourceTimestamp.timestamp(),
                        'low': rng.Low, 'high': rng.High,
                        'unit': eu.DisplayName.Text, 'unit_id': eu.UnitId,
                        'fault': fault,
                    }
        await walk(root, [])
        print(json.dumps(sensors))
asyncio.run(main())
`,
      [url],
    );
    const sensors = JSON.parse(out) as Record<
      string,
      {
        node_id: string;
        type: string;
        value: number;
        status: number;
        ts: number;
        low: number;
        high: number;
        unit: string;
        unit_id: number;
        fault: boolean;
      }
    >;
    expect(Object.keys(sensors).sort()).toEqual(plant.table.channels.map((_, i) => idOf(i)).sort());
    for (const c of plant.table.channels) {
      const s = sensors[idOf(c.index)]!;
      expect(s.node_id).toMatch(
        new RegExp(`^ns=\\d+;s=${idOf(c.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`),
      );
      expect(s.type).toBe('AnalogItemType');
      expect(s.value).toBe(values[c.index]);
      expect(s.status).toBe(0);
      expect(s.ts).toBe(ts);
      expect([s.low, s.high]).toEqual([c.minValue, c.maxValue]);
      expect(s.unit).toBe(c.unit);
      expect(s.fault).toBe(false);
    }
  });

  it('a subscription gets every tick, each value the one generated at its SourceTimestamp', async () => {
    const ids = [0, 5, plant.table.length - 1].map(idOf);
    const out = await ticking(() =>
      runPython(
        `${COMMON}
class Handler:
    def __init__(self): self.seen = []
    def datachange_notification(self, node, val, data):
        dv = data.monitored_item.Value
        self.seen.append({'id': node.nodeid.Identifier, 'value': val, 'ts': dv.SourceTimestamp.timestamp()})
async def main():
    async with Client(URL) as c:
        ns = await ns_of(c)
        h = Handler()
        sub = await c.create_subscription(50, h)
        await sub.subscribe_data_change([c.get_node(ua.NodeId(i, ns)) for i in sys.argv[2:]], sampling_interval=0, queuesize=50)
        await asyncio.sleep(3)
        await sub.delete()
        print(json.dumps(h.seen))
asyncio.run(main())
`,
        [url, ...ids],
      ),
    );
    const seen = JSON.parse(out) as { id: string; value: number; ts: number }[];
    for (const id of ids) {
      const mine = seen.filter((s) => s.id === id);
      // ~3 s at a tick every 200 ms: at least 10 notifications per node, none missing.
      expect(mine.length).toBeGreaterThanOrEqual(10);
      const stamps = mine.map((s) => s.ts);
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]! - stamps[i - 1]!).toBe(1);
    }
    for (const s of seen) {
      const c = plant.table.indexOf(...(s.id.split('/') as [string, string, string]));
      expect(byTimestamp.get(s.ts)?.[c]).toBe(s.value);
    }
  });

  it('calls InjectFault, OverrideValue, ClearOverride and ClearFault and sees their effect', async () => {
    const sensor = idOf(1);
    const device = 'mining/mining-002';
    const out = await ticking(() =>
      runPython(
        `${COMMON}
async def main():
    async with Client(URL) as c:
        ns = await ns_of(c)
        obj = c.get_node(ua.NodeId('IoTSim', ns))
        m = lambda name: ua.NodeId('IoTSim/' + name, ns)
        sensor, device, first_of_device = sys.argv[2], sys.argv[3], sys.argv[4]
        r = {}
        r['inject'] = await obj.call_method(m('InjectFault'), ua.Variant(device, ua.VariantType.String), ua.Variant(60.0, ua.VariantType.Double), ua.Variant('offset', ua.VariantType.String))
        await asyncio.sleep(0.8)
        dv = await c.get_node(ua.NodeId(first_of_device, ns)).read_data_value(raise_on_bad_status=False)
        r['fault_status'] = dv.StatusCode.name
        r['fault_flag'] = await c.get_node(ua.NodeId(first_of_device + '/Fault', ns)).read_value()
        r['override'] = await obj.call_method(m('OverrideValue'), ua.Variant(sensor, ua.VariantType.String), ua.Variant(42.5, ua.VariantType.Double))
        await asyncio.sleep(0.8)
        r['overridden'] = await c.get_node(ua.NodeId(sensor, ns)).read_value()
        await obj.call_method(m('ClearOverride'), ua.Variant(sensor, ua.VariantType.String))
        await obj.call_method(m('ClearFault'), ua.Variant(device, ua.VariantType.String))
        await asyncio.sleep(0.8)
        r['after_override'] = await c.get_node(ua.NodeId(sensor, ns)).read_value()
        r['after_flag'] = await c.get_node(ua.NodeId(first_of_device + '/Fault', ns)).read_value()
        try:
            await obj.call_method(m('ClearFault'), ua.Variant('mining/nope', ua.VariantType.String))
            r['bad'] = 'no error'
        except ua.UaStatusCodeError as e:
            r['bad'] = type(e).__name__
        try:
            await obj.call_method(m('OverrideValue'), ua.Variant(sensor, ua.VariantType.String), ua.Variant(float('inf'), ua.VariantType.Double))
            r['bad_value'] = 'no error'
        except ua.UaStatusCodeError as e:
            r['bad_value'] = type(e).__name__
        print(json.dumps(r))
asyncio.run(main())
`,
        [
          url,
          sensor,
          device,
          idOf(plant.table.channels.findIndex((c) => c.deviceId === 'mining-002')),
        ],
      ),
    );
    const r = JSON.parse(out) as Record<string, unknown>;
    expect(String(r.inject)).toContain('offset for 60 s');
    expect(r.fault_status).toBe('UncertainSensorNotAccurate');
    expect(r.fault_flag).toBe(true);
    expect(r.overridden).toBe(42.5);
    expect(r.after_override).not.toBe(42.5);
    expect(r.after_flag).toBe(false);
    expect(r.bad).toBe('BadNotFound');
    expect(r.bad_value).toBe('BadInvalidArgument');
  });

  it('connects with Basic256Sha256 SignAndEncrypt and a user/password; a wrong password is refused', async () => {
    const dir = await freshDir();
    const values = tick();
    const out = await runPython(
      `${COMMON}
import socket
from pathlib import Path
from cryptography.x509.oid import ExtendedKeyUsageOID
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
async def connect(password):
    c = Client(URL)
    c.application_uri = 'urn:iotsim:test:asyncua'
    await c.set_security(SecurityPolicyBasic256Sha256, str(CERT), str(KEY), mode=ua.MessageSecurityMode.SignAndEncrypt)
    c.set_user('operator')
    c.set_password(password)
    return c
async def main():
    global CERT, KEY
    d = Path(sys.argv[2]); CERT = d / 'cert.der'; KEY = d / 'key.pem'
    await setup_self_signed_certificate(KEY, CERT, 'urn:iotsim:test:asyncua', socket.gethostname(),
        [ExtendedKeyUsageOID.CLIENT_AUTH], {'countryName': 'US', 'organizationName': 'iotsim', 'commonName': 'asyncua test'})
    r = {}
    c = await connect('op-secret-1')
    async with c:
        ns = await ns_of(c)
        r['value'] = await c.get_node(ua.NodeId(sys.argv[3], ns)).read_value()
        r['policy'] = c.security_policy.URI
    try:
        async with await connect('wrong'):
            r['wrong'] = 'connected'
    except Exception as e:
        r['wrong'] = type(e).__name__
    print(json.dumps(r))
asyncio.run(main())
`,
      [url, dir, idOf(0)],
    );
    const r = JSON.parse(out) as { value: number; policy: string; wrong: string };
    expect(r.value).toBe(values[0]);
    expect(r.policy).toBe('http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256');
    expect(r.wrong).not.toBe('connected');
  });
});
