import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { DataGenerator, SinkRunner } from '@iotsim/core';
import { runPython, serviceEnv, tempDirs } from '@iotsim/test-utils';
import { SparkplugSink } from '../src/index.js';
import { pythonSubscriber, type PeerSubscriber } from './peers.js';
import { checkSession, type SpMessage } from './sparkplug-check.js';

const url = (): string => serviceEnv('IOTSIM_MQTT_URL');
const tempDir = tempDirs('iotsim-sp-');
const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../../apps/cli/dist/bin.js');
const open: PeerSubscriber[] = [];
afterAll(async () => {
  for (const s of open.splice(0)) await s.stop();
});

// paho-mqtt 1.6.1 subscriber that decodes with pysparkplug 0.6.1: births and deaths with its
// payload classes, DDATA with DData.decode(raw, birth=<the device's DBIRTH>) (an alias missing
// from the birth fails there), and the raw protobuf from pysparkplug for the wire fields.
const SUBSCRIBER = `
import json, sys
import paho.mqtt.client as mqtt
import pysparkplug as sp
from pysparkplug._protobuf import Payload
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
births = {}
def value_of(x):
    f = x.WhichOneof('value')
    return getattr(x, f) if f else None
def on_message(client, userdata, m):
    parts = m.topic.split('/')
    out = {'topic': m.topic, 'qos': m.qos, 'retain': bool(m.retain)}
    if len(parts) < 4:
        out['kind'] = 'probe'
        print(json.dumps(out), flush=True); return
    kind = parts[2]
    out.update(kind=kind, group=parts[1], edge=parts[3])
    if len(parts) > 4: out['device'] = parts[4]
    raw = Payload.FromString(m.payload)
    if raw.HasField('timestamp'): out['timestamp'] = raw.timestamp
    if raw.HasField('seq'): out['seq'] = raw.seq
    metrics = []
    for x in raw.metrics:
        d = {'datatype': x.datatype, 'value': value_of(x)}
        if x.HasField('name'): d['name'] = x.name
        if x.HasField('alias'): d['alias'] = x.alias
        if x.HasField('timestamp'): d['timestamp'] = x.timestamp
        if x.is_null: d['isNull'] = True; d.pop('value')
        if x.HasField('properties'):
            d['properties'] = {k: {'type': v.type, 'value': value_of(v)} for k, v in zip(x.properties.keys, x.properties.values)}
        metrics.append(d)
    out['metrics'] = metrics
    try:
        if kind == 'NBIRTH': sp.NBirth.decode(m.payload)
        elif kind == 'DBIRTH': births[(parts[1], parts[3], parts[4])] = sp.DBirth.decode(m.payload)
        elif kind == 'DDATA':
            dd = sp.DData.decode(m.payload, birth=births[(parts[1], parts[3], parts[4])])
            out['names'] = [x.name for x in dd.metrics]
        elif kind == 'NDEATH':
            nd = sp.NDeath.decode(m.payload)
            out['bdSeqDecoded'] = nd.bd_seq_metric.value
        elif kind == 'DDEATH': sp.DDeath.decode(m.payload)
    except Exception as e:
        out['error'] = repr(e)
    print(json.dumps(out), flush=True)
c = mqtt.Client(client_id='sp-sub-' + prefix.replace('/', '-'))
c.on_connect = lambda client, u, f, rc: client.subscribe(prefix + '/#', qos=1)
c.on_message = on_message
c.connect(host, port)
c.loop_forever()
`;

let groups = 0;
async function spSubscriber(group: string): Promise<PeerSubscriber & { all: SpMessage[] }> {
  const u = new URL(url());
  const sub = await pythonSubscriber(url(), `spBv1.0/${group}`, SUBSCRIBER, [
    u.hostname,
    u.port || '1883',
    `spBv1.0/${group}`,
  ]);
  open.push(sub);
  return sub as unknown as PeerSubscriber & { all: SpMessage[] };
}

function sparkplugOnly(all: readonly SpMessage[]): SpMessage[] {
  return all.filter((m) => m.kind !== 'probe' && m.kind !== 'NCMD');
}

async function until(
  sub: { all: SpMessage[] },
  predicate: (m: SpMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<SpMessage[]> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !predicate(sparkplugOnly(sub.all)))
    await new Promise((r) => setTimeout(r, 50));
  const msgs = sparkplugOnly(sub.all);
  if (!predicate(msgs))
    throw new Error(`condition not met; got ${msgs.map((m) => m.kind).join(',')}`);
  return msgs;
}

describe('SparkplugSink → Mosquitto, decoded by pysparkplug', () => {
  it('births before data, every alias declared, seq continuity and wrap, values as generated', async () => {
    const group = `g${process.pid}s${groups++}`;
    const sub = await spSubscriber(group);
    const gen = new DataGenerator({ industries: ['mining'], devicesPerIndustry: 2, seed: 3 });
    const table = gen.channelTable();
    const sink = new SparkplugSink({ url: url(), groupId: group, edgeNodeId: 'edge' });
    const runner = new SinkRunner(sink, { throughput: { batchSize: table.length } });
    await runner.start();
    const expected = new Map<string, number>();
    for (let k = 0; k < 140; k++) {
      const t = 1_767_225_600 + k;
      const frame = gen.generate(k, Float64Array.of(t), 1);
      for (const c of table.channels)
        expected.set(`${c.deviceId}/${c.sensorName}@${t * 1000}`, frame.values[c.index]!);
      const w = runner.enqueue(frame, true);
      if (w) await w;
    }
    await runner.stop(30);
    expect(runner.metrics().delivered).toBe(runner.metrics().generated);
    const msgs = await until(sub, (m) => m.some((x) => x.kind === 'NDEATH'));
    expect(msgs.filter((m) => (m as { error?: string }).error)).toEqual([]);
    const { wrapped, aliases } = checkSession(msgs);
    expect(wrapped).toBe(true);
    const got = new Map<string, number>();
    for (const m of msgs.filter((x) => x.kind === 'DDATA')) {
      const names = (m as { names?: string[] }).names!;
      m.metrics.forEach((x, i) => {
        expect(aliases.get(x.alias!)!.name).toBe(names[i]); // pysparkplug resolved the same name
        got.set(`${m.device}/${names[i]}@${x.timestamp}`, x.value as number);
      });
    }
    expect(got).toEqual(expected);
  });

  it('rebirth on an NCMD published from Python (pysparkplug), same bdSeq', async () => {
    const group = `g${process.pid}s${groups++}`;
    const sub = await spSubscriber(group);
    const gen = new DataGenerator({ industries: ['mining'], seed: 4 });
    const sink = new SparkplugSink({ url: url(), groupId: group });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 100 } });
    await runner.start();
    let k = 0;
    const tick = async (): Promise<void> => {
      const w = runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
      k++;
      if (w) await w;
    };
    await tick();
    await until(sub, (m) => m.some((x) => x.kind === 'DDATA'));
    const u = new URL(url());
    await runPython(
      `
import sys, paho.mqtt.publish as publish, pysparkplug as sp
now = sp.get_current_timestamp()
cmd = sp.NCmd(timestamp=now, metrics=(sp.Metric(timestamp=now, name='Node Control/Rebirth', datatype=sp.DataType.BOOLEAN, value=True),))
publish.single(sys.argv[3], cmd.encode(include_dtypes=True), qos=1, hostname=sys.argv[1], port=int(sys.argv[2]))
`,
      [u.hostname, u.port || '1883', `spBv1.0/${group}/NCMD/iotsim`],
    );
    await until(sub, (m) => m.filter((x) => x.kind === 'NBIRTH').length === 2);
    await tick();
    await runner.stop(30);
    const msgs = await until(sub, (m) => m.some((x) => x.kind === 'NDEATH'));
    const second = msgs.findIndex((x, i) => i > 0 && x.kind === 'NBIRTH');
    expect(checkSession(msgs.slice(0, second)).bdSeq).toBe(checkSession(msgs.slice(second)).bdSeq);
    expect(msgs[second + 1]!.kind).toBe('DBIRTH');
  });

  it('kill -9 of a CLI run: Mosquitto delivers the NDEATH will with the NBIRTH bdSeq; the next run increments it (state_dir)', async () => {
    const group = `g${process.pid}s${groups++}`;
    const dir = await tempDir();
    const config = join(dir, 'run.yaml');
    writeFileSync(
      config,
      [
        'simulator:',
        '  industries: [mining]',
        '  update_rate_hz: 5',
        'sinks:',
        '  - type: sparkplug',
        `    url: ${url()}`,
        `    group_id: ${group}`,
        `    state_dir: ${join(dir, 'state')}`,
        '',
      ].join('\n'),
    );
    const sub = await spSubscriber(group);
    for (let run = 0; run < 2; run++) {
      const child = spawn(process.execPath, [CLI, 'run', '-c', config], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      try {
        await until(
          sub,
          (m) => m.filter((x) => x.kind === 'DDATA').length >= 3 * (run + 1),
          30_000,
        );
      } catch (err) {
        child.kill('SIGKILL');
        throw new Error(`${String(err)}; CLI log: ${log}`);
      }
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await until(sub, (m) => m.filter((x) => x.kind === 'NDEATH').length === run + 1);
    }
    const msgs = sparkplugOnly(sub.all);
    const nbirths = msgs
      .filter((x) => x.kind === 'NBIRTH')
      .map((x) => x.metrics.find((y) => y.name === 'bdSeq')!.value);
    const deaths = msgs.filter((x) => x.kind === 'NDEATH');
    expect(nbirths).toEqual([0, 1]);
    expect(deaths.map((x) => x.metrics[0]!.value)).toEqual([0, 1]);
    expect(deaths.map((x) => (x as { bdSeqDecoded?: number }).bdSeqDecoded)).toEqual([0, 1]);
    expect(deaths.every((x) => x.qos === 1 && x.seq === undefined)).toBe(true);
    const first = msgs.indexOf(deaths[0]!);
    checkSession(msgs.slice(0, first + 1));
    checkSession(msgs.slice(first + 1));
  }, 120_000);

  it('two shards of one run (IOTSIM_SHARD 0/2 and 1/2, one client_id) are two edge nodes, together every device once', async () => {
    const group = `g${process.pid}s${groups++}`;
    const dir = await tempDir();
    const config = join(dir, 'shards.yaml');
    const TICKS = 20;
    writeFileSync(
      config,
      [
        'simulator:',
        '  industries: [mining]',
        '  devices_per_industry: 4',
        '  seed: 8',
        '  start: 2024-05-01T00:00:00Z',
        `  end: 2024-05-01T00:00:${TICKS}Z`,
        'sinks:',
        '  - type: sparkplug',
        `    url: ${url()}`,
        `    group_id: ${group}`,
        '    edge_node_id: plant',
        '    client_id: plant',
        '    batch_size: 17',
        '',
      ].join('\n'),
    );
    const sub = await spSubscriber(group);
    const runs = await Promise.all(
      ['0/2', '1/2'].map(
        (shard) =>
          new Promise<{ code: number | null; log: string }>((done) => {
            const child = spawn(process.execPath, [CLI, 'run', '-c', config], {
              stdio: ['ignore', 'ignore', 'pipe'],
              env: { ...process.env, IOTSIM_SHARD: shard },
            });
            let log = '';
            child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
            // two clients with one id take the session from each other: do not wait for ever
            const stuck = setTimeout(() => child.kill('SIGKILL'), 60_000);
            child.once('exit', (code) => {
              clearTimeout(stuck);
              done({ code, log });
            });
          }),
      ),
    );
    for (const r of runs) expect(r).toMatchObject({ code: 0 });
    const msgs = await until(sub, (m) => m.filter((x) => x.kind === 'NDEATH').length === 2);
    expect(msgs.filter((m) => (m as { error?: string }).error)).toEqual([]);
    expect([...new Set(msgs.map((m) => m.edge))].sort()).toEqual([
      'plant-shard0of2',
      'plant-shard1of2',
    ]);
    const owners = new Map<string, string>();
    let values = 0;
    for (const edge of ['plant-shard0of2', 'plant-shard1of2']) {
      const session = msgs.filter((m) => m.edge === edge);
      checkSession(session); // one session each: neither connection was taken over by the other
      expect(session.filter((m) => m.kind === 'NBIRTH')).toHaveLength(1);
      for (const m of session.filter((x) => x.kind === 'DBIRTH')) {
        expect(owners.has(m.device!)).toBe(false);
        owners.set(m.device!, edge);
      }
      for (const m of session.filter((x) => x.kind === 'DDATA')) values += m.metrics.length;
    }
    expect([...owners.keys()].sort()).toEqual([
      'mining-001',
      'mining-002',
      'mining-003',
      'mining-004',
    ]);
    expect(values).toBe(TICKS * 4 * 17); // 17 mining sensors per device
  }, 120_000);
});
