import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  DataGenerator,
  SinkRunner,
  sinkShard,
  type SensorRecordDict,
} from '@iotsim/core';
import { describeSinkConformance } from '@iotsim/test-utils';
import mqtt, { type MqttClient } from 'mqtt';
import { SparkplugSink, type SparkplugSinkOptions } from '../src/index.js';
import { TestBroker } from './helpers.js';
import { decodeSparkplug } from './protobuf-decode.js';
import { checkSession, topicParts, type SpMessage } from './sparkplug-check.js';

const broker = new TestBroker();
beforeAll(async () => {
  await broker.start();
});
afterAll(async () => {
  await broker.stop();
});

/** An mqtt.js subscriber on spBv1.0/# that decodes every payload with the test's own decoder. */
class SpSubscriber {
  readonly messages: SpMessage[] = [];
  constructor(private readonly client: MqttClient) {}
  static async open(group: string): Promise<SpSubscriber> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const s = new SpSubscriber(client);
    client.on('message', (topic, payload, packet) => {
      if (topic.startsWith('spBv1.0/STATE/') || topic.includes('/NCMD/')) return;
      const p = decodeSparkplug(payload);
      s.messages.push({
        topic,
        ...topicParts(topic),
        qos: packet.qos,
        retain: packet.retain,
        ...p,
      });
    });
    await client.subscribeAsync(`spBv1.0/${group}/#`, { qos: 1 });
    return s;
  }
  async until(predicate: (m: SpMessage[]) => boolean, timeoutMs = 10_000): Promise<SpMessage[]> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && !predicate(this.messages))
      await new Promise((r) => setTimeout(r, 20));
    if (!predicate(this.messages))
      throw new Error(`condition not met; got ${this.messages.map((m) => m.kind).join(',')}`);
    return this.messages;
  }
  publish(topic: string, payload: Buffer | string, retain = false): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, retain });
  }
  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

let groups = 0;
function group(): string {
  return `g${process.pid}x${groups++}`;
}

/** Runs `ticks` frames of `gen` through the sink; returns the values of each tick. */
async function runFrames(
  sink: SparkplugSink,
  gen: DataGenerator,
  ticks: number,
  batchSize = 1000,
  t0 = 1_767_225_600,
): Promise<{ values: Float64Array[]; timestamps: number[] }> {
  const runner = new SinkRunner(sink, { throughput: { batchSize } });
  await runner.start();
  const values: Float64Array[] = [];
  const timestamps: number[] = [];
  for (let k = 0; k < ticks; k++) {
    const frame = gen.generate(t0 + k, Float64Array.of(t0 + k), 1);
    values.push(frame.values.slice());
    timestamps.push(t0 + k);
    const w = runner.enqueue(frame, true);
    if (w) await w;
  }
  await runner.stop(30);
  const m = runner.metrics();
  expect(m.failed).toBe(0);
  expect(m.delivered).toBe(m.generated);
  return { values, timestamps };
}

function sink(options: SparkplugSinkOptions): SparkplugSink {
  return new SparkplugSink({ url: broker.url, ...options });
}

describe('SparkplugSink (aedes, decoded by an independent protobuf reader)', () => {
  it('a full session: NBIRTH, DBIRTHs, DDATA with aliases and the generated values, seq wrap, DDEATH and NDEATH on close', async () => {
    const g = group();
    const sub = await SpSubscriber.open(g);
    const gen = new DataGenerator({ industries: ['mining'], devicesPerIndustry: 2, seed: 5 });
    const table = gen.channelTable();
    const s = sink({ groupId: g, edgeNodeId: 'edge1' });
    // one DDATA per device per write of one tick: 2 per tick, 150 ticks wrap seq past 255
    const { values, timestamps } = await runFrames(s, gen, 150, table.length);
    const msgs = await sub.until((m) => m.some((x) => x.kind === 'NDEATH'));
    const { bdSeq, aliases, wrapped } = checkSession(msgs);
    expect(bdSeq).toBe(0);
    expect(wrapped).toBe(true);
    expect(
      msgs
        .filter((m) => m.kind === 'DBIRTH')
        .map((m) => m.device)
        .sort(),
    ).toEqual(['mining-001', 'mining-002']);
    expect(msgs.every((m) => m.group === g && m.edge === 'edge1')).toBe(true);
    // every generated value arrived, under its alias, with its timestamp
    const got = new Map<string, number>();
    for (const m of msgs.filter((x) => x.kind === 'DDATA'))
      for (const x of m.metrics) {
        const a = aliases.get(x.alias!)!;
        got.set(`${a.device}/${a.name}@${x.timestamp}`, x.value as number);
      }
    let n = 0;
    for (let k = 0; k < values.length; k++)
      for (const c of table.channels) {
        expect(got.get(`${c.deviceId}/${c.sensorName}@${timestamps[k]! * 1000}`)).toBe(
          values[k]![c.index],
        );
        n++;
      }
    expect(got.size).toBe(n);
    // DBIRTH units and ranges
    const birth = msgs.find((m) => m.kind === 'DBIRTH' && m.device === 'mining-001')!;
    const c0 = table.channels.find((c) => c.deviceId === 'mining-001')!;
    const m0 = birth.metrics.find((x) => x.name === c0.sensorName)!;
    expect(m0.properties).toMatchObject({
      engUnit: { type: 12, value: c0.unit },
      engLow: { type: 10, value: c0.minValue },
      engHigh: { type: 10, value: c0.maxValue },
      Quality: { type: 3, value: 192 },
    });
    // the end: a DDEATH per device, then NDEATH with the same bdSeq and no seq
    const tail = msgs.slice(-3);
    expect(tail.map((m) => m.kind)).toEqual(['DDEATH', 'DDEATH', 'NDEATH']);
    expect(tail[2]!.metrics).toEqual([
      expect.objectContaining({ name: 'bdSeq', datatype: 4, value: 0 }),
    ]);
    expect(s.sinkMetrics()).toMatchObject({ births: 1, ddata: 300, metrics: n });
    await sub.close();
  });

  it('the will is the NDEATH with the NBIRTH bdSeq; a reconnect increments bdSeq and births again', async () => {
    const g = group();
    const sub = await SpSubscriber.open(g);
    const gen = new DataGenerator({ industries: ['mining'], seed: 6 });
    const s = sink({ groupId: g, keepaliveS: 1 });
    const runner = new SinkRunner(s, {
      throughput: { batchSize: 100, retryDelayS: 0.2, retryCount: 20 },
    });
    await runner.start();
    let k = 0;
    const tick = async (): Promise<void> => {
      const w = runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
      k++;
      if (w) await w;
    };
    for (let i = 0; i < 3; i++) await tick();
    await sub.until((m) => m.filter((x) => x.kind === 'DDATA').length >= 1);
    // drop the connection without a DISCONNECT: the broker publishes the will
    const node = [...(s as unknown as { nodes: Map<string, unknown> }).nodes.values()][0]!;
    (node as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    const withDeath = await sub.until((m) => m.some((x) => x.kind === 'NDEATH'));
    const death = withDeath.find((x) => x.kind === 'NDEATH')!;
    expect(death.qos).toBe(1);
    expect(death.retain).toBe(false);
    expect(death.seq).toBeUndefined();
    expect(death.metrics).toEqual([
      expect.objectContaining({ name: 'bdSeq', datatype: 4, value: 0 }),
    ]);
    // mqtt.js reconnects; the new session carries bdSeq 1 and births before data
    const births = await sub.until((m) => m.filter((x) => x.kind === 'NBIRTH').length === 2);
    for (let i = 0; i < 3; i++) await tick();
    await runner.stop(30);
    expect(runner.metrics().delivered).toBe(runner.metrics().generated);
    const msgs = await sub.until((m) => m.filter((x) => x.kind === 'NDEATH').length === 2);
    const second = msgs.indexOf(births.filter((x) => x.kind === 'NBIRTH')[1]!);
    const first = checkSession(msgs.slice(0, msgs.indexOf(death)));
    const again = checkSession(msgs.slice(second));
    expect(first.bdSeq).toBe(0);
    expect(again.bdSeq).toBe(1);
    expect(msgs.at(-1)!.metrics[0]!.value).toBe(1);
    await sub.close();
  });

  it('bdSeq goes up by one per CONNECT sent, not per failed reconnect attempt', async () => {
    const own = await new TestBroker().start();
    const s = new SparkplugSink({ url: own.url, groupId: group() });
    const gen = new DataGenerator({ industries: ['mining'], seed: 11 });
    const runner = new SinkRunner(s, {
      throughput: { batchSize: 100, retryDelayS: 0.5, retryCount: 20 },
    });
    await runner.start();
    await runner.enqueue(gen.generate(0, Float64Array.of(1_767_225_600), 1), true);
    const node = [
      ...(s as unknown as { nodes: Map<string, { currentBdSeq: number }> }).nodes.values(),
    ][0]!;
    expect(node.currentBdSeq).toBe(0);
    await own.stop();
    await new Promise((r) => setTimeout(r, 3500)); // several refused attempts
    expect(s.sinkMetrics().reconnect_attempts).toBeGreaterThanOrEqual(2);
    await own.start();
    const until = Date.now() + 10_000;
    while (Date.now() < until && !s.sinkMetrics().reconnects)
      await new Promise((r) => setTimeout(r, 50));
    expect(node.currentBdSeq).toBe(1);
    await runner.enqueue(gen.generate(1, Float64Array.of(1_767_225_601), 1), true);
    await runner.stop(30);
    expect(runner.metrics().delivered).toBe(runner.metrics().generated);
    await own.stop();
  });

  it('rebirths on NCMD Node Control/Rebirth = true, with the same bdSeq', async () => {
    const g = group();
    const sub = await SpSubscriber.open(g);
    const gen = new DataGenerator({ industries: ['mining'], seed: 7 });
    const s = sink({ groupId: g });
    const runner = new SinkRunner(s, { throughput: { batchSize: 100 } });
    await runner.start();
    for (let k = 0; k < 2; k++)
      await runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
    await sub.until((m) => m.some((x) => x.kind === 'DDATA'));
    const { get } = (await import('sparkplug-payload')).default;
    const ncmd = Buffer.from(
      get('spBv1.0')!.encodePayload({
        timestamp: Date.now(),
        metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
      }),
    );
    await sub.publish(`spBv1.0/${g}/NCMD/iotsim`, ncmd);
    await sub.until(
      (m) =>
        m.filter((x) => x.kind === 'NBIRTH').length === 2 &&
        m.filter((x) => x.kind === 'DBIRTH').length === 2,
    );
    for (let k = 2; k < 4; k++)
      await runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
    await runner.stop(30);
    const msgs = await sub.until((m) => m.some((x) => x.kind === 'NDEATH'));
    const nbirths = msgs.filter((x) => x.kind === 'NBIRTH');
    const second = msgs.indexOf(nbirths[1]!);
    expect(checkSession(msgs.slice(0, second)).bdSeq).toBe(0);
    expect(checkSession(msgs.slice(second)).bdSeq).toBe(0);
    expect(msgs[second + 1]!.kind).toBe('DBIRTH');
    expect(s.sinkMetrics().rebirths).toBe(1);
    await sub.close();
  });

  it('keeps bdSeq across restarts in state_dir', async () => {
    const g = group();
    const dir = mkdtempSync(join(tmpdir(), 'iotsim-sp-'));
    const sub = await SpSubscriber.open(g);
    const gen = new DataGenerator({ industries: ['mining'], seed: 8 });
    for (let run = 0; run < 3; run++) {
      await runFrames(sink({ groupId: g, stateDir: dir }), gen, 1);
    }
    const msgs = await sub.until((m) => m.filter((x) => x.kind === 'NDEATH').length === 3);
    expect(
      msgs
        .filter((x) => x.kind === 'NBIRTH')
        .map((x) => x.metrics.find((y) => y.name === 'bdSeq')!.value),
    ).toEqual([0, 1, 2]);
    await sub.close();
  });

  it('waits for the primary host online STATE before the birth, and starts a new session when it goes offline', async () => {
    const g = group();
    const host = `scada${process.pid}`;
    const sub = await SpSubscriber.open(g);
    await sub.publish(
      `spBv1.0/STATE/${host}`,
      JSON.stringify({ online: false, timestamp: 1 }),
      true,
    );
    const gen = new DataGenerator({ industries: ['mining'], seed: 9 });
    const s = sink({ groupId: g, primaryHostId: host });
    const runner = new SinkRunner(s, { throughput: { batchSize: 100 } });
    await runner.start();
    void runner.enqueue(gen.generate(0, Float64Array.of(1_767_225_600), 1));
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.messages).toHaveLength(0); // no birth while the host is offline
    await sub.publish(
      `spBv1.0/STATE/${host}`,
      JSON.stringify({ online: true, timestamp: Date.now() }),
      true,
    );
    await sub.until((m) => m.some((x) => x.kind === 'DDATA'));
    await sub.publish(
      `spBv1.0/STATE/${host}`,
      JSON.stringify({ online: false, timestamp: Date.now() }),
      true,
    );
    await sub.until((m) => m.some((x) => x.kind === 'NDEATH'));
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.messages.filter((x) => x.kind === 'NBIRTH')).toHaveLength(1);
    await sub.publish(
      `spBv1.0/STATE/${host}`,
      JSON.stringify({ online: true, timestamp: Date.now() }),
      true,
    );
    const msgs = await sub.until((m) => m.filter((x) => x.kind === 'NBIRTH').length === 2);
    expect(
      msgs.filter((x) => x.kind === 'NBIRTH')[1]!.metrics.find((y) => y.name === 'bdSeq')!.value,
    ).toBe(1);
    await runner.stop(30);
    await sub.publish(`spBv1.0/STATE/${host}`, '', true); // clear the retained STATE
    await sub.close();
  });

  it('one edge node per industry without group_id; Quality 0 while a fault is active; report by exception', async () => {
    const gen = new DataGenerator({ industries: ['mining', 'utilities'], seed: 10 });
    const table = gen.channelTable();
    const sub = await SpSubscriber.open('+');
    const edge = `e${process.pid}${groups++}`;
    const s = sink({ edgeNodeId: edge, reportByException: true });
    const faulty = table.channels.find((c) => c.industry === 'utilities')!;
    const fixed = table.channels.find((c) => c.industry === 'mining')!;
    gen.control.override([fixed.index], 42);
    const runner = new SinkRunner(s, { throughput: { batchSize: table.length } });
    await runner.start();
    for (let k = 0; k < 6; k++) {
      if (k === 2) gen.control.injectFault([faulty.index], 2);
      const w = runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
      if (w) await w;
    }
    await runner.stop(30);
    const mine = (m: SpMessage): boolean => m.edge === edge;
    const msgs = await sub.until(
      (m) => m.filter((x) => mine(x) && x.kind === 'NDEATH').length === 2,
    );
    for (const industry of ['mining', 'utilities']) {
      const session = msgs.filter((m) => mine(m) && m.group === industry);
      const { aliases } = checkSession(session);
      const aliasOf = (name: string): number => [...aliases].find(([, v]) => v.name === name)![0];
      const data = session.filter((m) => m.kind === 'DDATA');
      if (industry === 'mining') {
        // 42 every tick: reported in the DBIRTH, never in a DDATA
        const a = aliasOf(fixed.sensorName);
        const birth = session.find((m) => m.kind === 'DBIRTH')!;
        expect(birth.metrics.find((x) => x.alias === a)!.value).toBe(42);
        expect(
          data
            .flatMap((m) => m.metrics)
            .filter((x) => x.alias === a)
            .map((x) => x.value),
        ).toEqual([]);
      } else {
        const a = aliasOf(faulty.sensorName);
        const q = data
          .flatMap((m) => m.metrics)
          .filter((x) => x.alias === a && x.properties?.Quality);
        expect(q.map((x) => x.properties!.Quality!.value)).toEqual([0, 192]); // 192 was in the DBIRTH;
      }
    }
    await sub.close();
  });

  it('each shard of a sharded run is its own edge node, with its own client id and bdSeq file', async () => {
    const g = group();
    const sub = await SpSubscriber.open(g);
    const stateDir = mkdtempSync(join(tmpdir(), 'iotsim-sp-shards-'));
    const all = new DataGenerator({ industries: ['mining'], devicesPerIndustry: 6, seed: 3 });
    const devices: string[][] = [];
    for (const index of [0, 1]) {
      const gen = new DataGenerator({
        industries: ['mining'],
        devicesPerIndustry: 6,
        seed: 3,
        shard: { index, count: 2 },
      });
      const s = sink({ groupId: g, edgeNodeId: 'plant', clientId: `cid-${g}`, stateDir });
      const runner = new SinkRunner(s, {
        throughput: { batchSize: gen.channelTable().length },
        shard: sinkShard({ index, count: 2 }, 3),
      });
      await runner.start();
      expect(s.describe()).toContain(`/plant-shard${index}of2`);
      for (let k = 0; k < 3; k++) {
        const w = runner.enqueue(gen.generate(k, Float64Array.of(1_767_225_600 + k), 1), true);
        if (w) await w;
      }
      await runner.stop(30);
      devices.push([...new Set(gen.channelTable().channels.map((c) => c.deviceId))]);
    }
    const msgs = await sub.until((m) => m.filter((x) => x.kind === 'NDEATH').length === 2);
    expect([...new Set(msgs.map((m) => m.edge))].sort()).toEqual([
      'plant-shard0of2',
      'plant-shard1of2',
    ]);
    for (const [index, own] of devices.entries()) {
      const session = msgs.filter((m) => m.edge === `plant-shard${index}of2`);
      checkSession(session);
      const born = session.filter((m) => m.kind === 'DBIRTH').map((m) => m.device);
      expect(born.sort()).toEqual([...own].sort());
    }
    // together the two edge nodes have every device, each once
    expect(devices.flat().sort()).toEqual(
      [...new Set(all.channelTable().channels.map((c) => c.deviceId))].sort(),
    );
    expect(broker.clientIds).toEqual(
      expect.arrayContaining([`cid-${g}-shard0of2`, `cid-${g}-shard1of2`]),
    );
    expect(broker.clientIds).not.toContain(`cid-${g}`);
    expect(readdirSync(stateDir).sort()).toEqual([
      `bdseq-${g}-plant-shard0of2.txt`,
      `bdseq-${g}-plant-shard1of2.txt`,
    ]);
    await sub.close();
  });

  it('rejects group ids with / # +, naming the option', () => {
    for (const bad of ['a/b', 'a#', '+']) {
      expect(() => SparkplugSink.fromConfig({ group_id: bad }, 'sinks[0].')).toThrow(ConfigError);
      expect(() => SparkplugSink.fromConfig({ group_id: bad }, 'sinks[0].')).toThrow(
        /sinks\[0\]\.group_id: must not contain/,
      );
    }
    expect(() => SparkplugSink.fromConfig({ edge_node_id: 'a/b' }, 'sinks[0].')).toThrow(
      /sinks\[0\]\.edge_node_id: must not contain/,
    );
    expect(() => SparkplugSink.fromConfig({ edge_node: 'x' }, 'sinks[0].')).toThrow(
      /did you mean 'edge_node_id'/,
    );
    const s = SparkplugSink.fromConfig({ password: 'sp-secret', username: 'u' });
    expect(s.secrets).toContain('sp-secret');
    expect(s.describe()).not.toContain('sp-secret');
  });
});

// The sink suite, read back from DDATA by the test's decoder: a Sparkplug metric carries the
// value, its timestamp, the device and sensor, and (from the DBIRTH) unit and range; the fault
// flag is the Quality last reported for the metric. Other record fields are not on the wire.
const conformanceSubs = new Map<SparkplugSink, { messages: SpMessage[]; close(): Promise<void> }>();
afterAll(async () => {
  for (const s of conformanceSubs.values()) await s.close();
});

function onTheWire(d: SensorRecordDict): Partial<SensorRecordDict> {
  return {
    industry: d.industry,
    device_id: d.device_id,
    sensor_name: d.sensor_name,
    value: d.value,
    timestamp: d.timestamp,
    unit: d.unit,
    min_value: d.min_value,
    max_value: d.max_value,
    fault_active: d.fault_active,
  };
}

describeSinkConformance('sparkplug (aedes, DDATA decoded independently)', {
  async create() {
    const edge = `conf${process.pid}x${groups++}`;
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    const messages: SpMessage[] = [];
    client.on('message', (topic, payload, packet) => {
      messages.push({
        topic,
        ...topicParts(topic),
        qos: packet.qos,
        retain: packet.retain,
        ...decodeSparkplug(payload),
      });
    });
    await client.subscribeAsync(`spBv1.0/+/+/${edge}/#`, { qos: 1 });
    const s = sink({ edgeNodeId: edge });
    conformanceSubs.set(s, { messages, close: () => client.endAsync(true) });
    return s;
  },
  async readBack(s) {
    const sub = conformanceSubs.get(s)!;
    const want = s.sinkMetrics().ddata ?? 0;
    const end = Date.now() + 10_000;
    while (Date.now() < end && sub.messages.filter((m) => m.kind === 'DDATA').length < want)
      await new Promise((r) => setTimeout(r, 20));
    // each industry's edge node kept the session rules, devices and metrics appearing as they came
    for (const g of new Set(sub.messages.map((m) => m.group)))
      checkSession(sub.messages.filter((m) => m.group === g));
    const out: SensorRecordDict[] = [];
    const defs = new Map<
      string,
      { name: string; unit: string; low: number; high: number; fault: boolean }
    >();
    for (const m of sub.messages) {
      if (m.kind === 'DBIRTH')
        for (const x of m.metrics)
          defs.set(`${m.group}/${x.alias}`, {
            name: x.name!,
            unit: x.properties!.engUnit!.value as string,
            low: x.properties!.engLow!.value as number,
            high: x.properties!.engHigh!.value as number,
            fault: x.properties!.Quality!.value === 0,
          });
      if (m.kind !== 'DDATA') continue;
      for (const x of m.metrics) {
        const d = defs.get(`${m.group}/${x.alias}`)!;
        if (x.properties?.Quality) d.fault = x.properties.Quality.value === 0;
        out.push(
          onTheWire({
            industry: m.group,
            device_id: m.device!,
            sensor_name: d.name,
            value: x.value as number,
            timestamp: x.timestamp! / 1000,
            unit: d.unit,
            min_value: d.low,
            max_value: d.high,
            fault_active: d.fault,
          } as SensorRecordDict) as SensorRecordDict,
        );
      }
    }
    return out;
  },
  expected: (d) => onTheWire(d) as SensorRecordDict,
  // one DDATA per device per write: devices interleave within a write
  ordered: false,
});
