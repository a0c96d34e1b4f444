import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  SinkConnectError,
  SinkRunner,
  sinkShard,
  type SensorRecordDict,
} from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  makeCertificates,
  makeRecords,
  runThrough,
  writeRequest,
} from '@iotsim/test-utils';
import { MqttSink, type MqttSinkOptions } from '../src/index.js';
import { Subscriber, TestBroker, uniquePrefix } from './helpers.js';

const broker = new TestBroker();
const subscribers = new Map<MqttSink, Subscriber>();

beforeAll(async () => {
  await broker.start();
});

afterAll(async () => {
  for (const s of subscribers.values()) await s.close();
  await broker.stop();
});

/** A sink on its own topic prefix, with a subscriber on that prefix already listening. */
async function sinkWithSubscriber(options: MqttSinkOptions = {}): Promise<MqttSink> {
  const prefix = uniquePrefix('conf');
  const sub = await Subscriber.open(broker.url, `${prefix}/#`);
  const sink = new MqttSink({
    url: broker.url,
    topic: `${prefix}/{industry}/{device_id}`,
    ...options,
  });
  subscribers.set(sink, sub);
  return sink;
}

function parseAll(sub: Subscriber): SensorRecordDict[] {
  const out: SensorRecordDict[] = [];
  for (const m of sub.messages) {
    if (m.topic.endsWith('/status')) continue;
    const v = JSON.parse(m.payload.toString('utf8')) as SensorRecordDict | SensorRecordDict[];
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

async function readBack(sink: MqttSink): Promise<SensorRecordDict[]> {
  const sub = subscribers.get(sink)!;
  // every data message, and the retained online and the offline status
  await sub.settle((sink.sinkMetrics().messages ?? 0) + 2);
  return parseAll(sub);
}

describeSinkConformance('mqtt (record payloads, QoS 1, aedes)', {
  create: () => sinkWithSubscriber(),
  readBack,
});

describeSinkConformance('mqtt (batch payloads, QoS 2, MQTT 3.1.1, aedes)', {
  create: () => sinkWithSubscriber({ payload: 'batch', qos: 2, protocolVersion: 4 }),
  readBack,
  // one array per topic per write: records of one device keep their order, devices interleave
  ordered: false,
});

describeSinkConformance('mqtt (record payloads, QoS 0, aedes)', {
  create: () => sinkWithSubscriber({ qos: 0 }),
  readBack,
});

describe('MqttSink', () => {
  it('publishes each record to the topic of its fields (MQTT 3.1.1 when the broker has no MQTT 5)', async () => {
    const prefix = uniquePrefix('fields');
    const sub = await Subscriber.open(broker.url, `${prefix}/#`);
    const sink = new MqttSink({
      url: broker.url,
      topic: `${prefix}/{industry}/{device_id}/{sensor_name}`,
      retain: true,
    });
    const records = makeRecords(120, { seed: 3, awkward: false });
    const m = await runThrough(sink, records);
    expect(m.delivered).toBe(120);
    const got = await sub.settle(122);
    const data = got.filter((x) => !x.topic.endsWith('/status'));
    expect(data.map((x) => x.topic)).toEqual(
      records.map((r) => `${prefix}/${r.industry}/${r.device_id}/${r.sensor_name}`),
    );
    expect(data.map((x) => JSON.parse(x.payload.toString()) as unknown)).toEqual(dicts(records));
    expect(data.every((x) => x.retain)).toBe(false); // live delivery, not the retained copy
    await sub.close();
  });

  it('sets a retained online status, offline on close, and offline as the will', async () => {
    const prefix = uniquePrefix('status');
    const sink = new MqttSink({ url: broker.url, topic: `${prefix}/{device_id}` });
    expect(sink.describe()).toContain(`topic ${prefix}/{device_id}`);
    await sink.connect();
    const sub = await Subscriber.open(broker.url, `${prefix}/status`);
    await sub.settle(1);
    expect(sub.messages[0]).toMatchObject({ topic: `${prefix}/status`, retain: true });
    expect(sub.messages[0]!.payload.toString()).toBe('online');
    await sink.close();
    await sub.settle(2);
    expect(sub.messages[1]!.payload.toString()).toBe('offline');
    await sub.close();

    // A sink that dies without close(): the broker publishes its will.
    const dying = new MqttSink({ url: broker.url, topic: `${prefix}/{device_id}`, keepaliveS: 1 });
    await dying.connect();
    const watcher = await Subscriber.open(broker.url, `${prefix}/status`);
    await watcher.settle(1);
    expect(watcher.messages[0]!.payload.toString()).toBe('online');
    (
      dying as unknown as {
        client: {
          stream: { destroy(): void };
          end(force: boolean): void;
          options: { reconnectPeriod: number };
        };
      }
    ).client.options.reconnectPeriod = 0;
    (dying as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    await watcher.settle(2);
    expect(watcher.messages[1]!.payload.toString()).toBe('offline');
    await dying.close();
    await watcher.close();
  });

  it('in a sharded run a given client id and the default status topic carry the shard', async () => {
    const prefix = uniquePrefix('shard');
    const sub = await Subscriber.open(broker.url, `${prefix}/status/#`);
    const shard = sinkShard({ index: 1, count: 3 }, 42, 0, 2);
    const runner = new SinkRunner(
      new MqttSink({ url: broker.url, topic: `${prefix}/{device_id}`, clientId: `${prefix}-c` }),
      { shard },
    );
    await runner.start();
    await runner.stop(10);
    await sub.settle(2);
    expect(sub.messages.map((m) => [m.topic, m.payload.toString()])).toEqual([
      [`${prefix}/status/shard1of3-w0`, 'online'],
      [`${prefix}/status/shard1of3-w0`, 'offline'],
    ]);
    expect(broker.clientIds).toContain(`${prefix}-c-shard1of3-w0`);
    expect(broker.clientIds).not.toContain(`${prefix}-c`);
    // a status topic given in the options is the same for every shard
    const given = new SinkRunner(
      new MqttSink({ url: broker.url, topic: `${prefix}/{device_id}`, statusTopic: `${prefix}/s` }),
      { shard },
    );
    const sub2 = await Subscriber.open(broker.url, `${prefix}/s`);
    await given.start();
    await given.stop(10);
    await sub2.settle(2);
    expect(sub2.messages.map((m) => m.topic)).toEqual([`${prefix}/s`, `${prefix}/s`]);
    await sub.close();
    await sub2.close();
  });

  it('redacts the password and keeps it out of describe()', () => {
    const sink = new MqttSink({
      url: 'mqtts://broker.example:8883',
      username: 'u',
      password: 'hunter22',
    });
    expect(sink.secrets).toContain('hunter22');
    expect(sink.describe()).not.toContain('hunter22');
    const fromUrl = new MqttSink({ url: 'mqtt://user:s3cr3t-pw@127.0.0.1:1883' });
    expect(fromUrl.secrets).toContain('s3cr3t-pw');
    expect(fromUrl.describe()).not.toContain('s3cr3t-pw');
  });

  it('rejects bad options with the option and the fix', () => {
    const bad = (options: Record<string, unknown>): string => {
      try {
        MqttSink.fromConfig(options, 'sinks[0].');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad({ topic: 'x/{devce_id}' })).toMatch(
      /sinks\[0\]\.topic: unknown field \{devce_id\}.*known fields: .*\{device_id\}/,
    );
    expect(bad({ topic: 'x/#' })).toContain('sinks[0].topic');
    expect(bad({ qos: 3 })).toContain('sinks[0].qos: must be 0, 1 or 2');
    expect(bad({ payload: 'batches' })).toContain("did you mean 'batch'");
    expect(bad({ url: 'http://x' })).toContain('sinks[0].url');
    expect(bad({ protocol_version: 3 })).toContain('sinks[0].protocol_version');
    expect(bad({ qoss: 1 })).toContain("sinks[0].qoss: unknown option (did you mean 'qos'?)");
    expect(bad({ batch_size: 10 })).toContain('throughput option');
    expect(bad({ protocol_version: 4, message_expiry_s: 5 })).toContain('message_expiry_s');
    expect(bad({ password: 'abc' })).toContain('needs a username');
    expect(bad({ url: 'mqtt://u%zz:pw@127.0.0.1' })).toContain(
      'sinks[0].url: has a user name or password that is not valid percent-encoding',
    );
  });

  it("names other options in the caller's spelling, and reports every problem at once", () => {
    const ts = (options: MqttSinkOptions): ConfigError => {
      try {
        new MqttSink(options);
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('no error');
    };
    expect(ts({ protocolVersion: 4, messageExpiryS: 5 }).message).toBe(
      'messageExpiryS: is an MQTT 5 property: set protocolVersion: 5 or leave it out',
    );
    expect(() => MqttSink.fromConfig({ protocol_version: 4, message_expiry_s: 5 })).toThrow(
      'message_expiry_s: is an MQTT 5 property: set protocol_version: 5 or leave it out',
    );
    const all = ts({ url: 'http://x', qos: 3 as never, password: 'pw', cert: 'c.pem' });
    expect(all.issues.map((i) => i.path)).toEqual(['url', 'qos', 'password', 'key']);
  });

  it('an unreachable broker is a SinkConnectError naming the URL', async () => {
    const sink = new MqttSink({ url: 'mqtt://127.0.0.1:1' });
    const err = await sink.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SinkConnectError);
    expect(String(err)).toContain('mqtt://127.0.0.1:1');
    expect(String(err)).toContain('connection refused');
  });

  it('a wrong password is a SinkConnectError that says so', async () => {
    const secured = await new TestBroker().start({ username: 'iot', password: 'right-one' });
    try {
      const sink = new MqttSink({ url: secured.url, username: 'iot', password: 'wrong-one' });
      const err = await sink.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SinkConnectError);
      expect(String(err)).toMatch(/bad user name or password|not authorized/);
      const ok = new MqttSink({ url: secured.url, username: 'iot', password: 'right-one' });
      await ok.connect();
      await ok.write(writeRequest(makeRecords(3, { awkward: false })));
      await ok.close();
    } finally {
      await secured.stop();
    }
  });

  it('bad TLS files are a ConfigError naming the option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iotsim-mqtt-'));
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    const missing = new MqttSink({ url: 'mqtts://127.0.0.1:8883', ca: join(dir, 'nope.pem') });
    await expect(missing.connect()).rejects.toThrow(/ca: cannot read .*nope\.pem.*ENOENT/);
    const certs = makeCertificates(dir);
    const mismatch = new MqttSink({
      url: 'mqtts://127.0.0.1:8883',
      cert: certs.cert,
      key: join(dir, 'ca.key'),
    });
    await expect(mismatch.connect()).rejects.toThrow(/^key: does not match cert/);
    expect(() => new MqttSink({ cert: certs.cert })).toThrow(
      /key: client TLS needs both cert and key/,
    );
    const junk = new MqttSink({ url: 'mqtts://127.0.0.1:8883', ca: join(dir, 'junk.pem') });
    const err = await junk.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toContain('ca:');
  });
});
