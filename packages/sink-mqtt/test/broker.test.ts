import { describe, expect, it } from '@jest/globals';
import { ServerStartError } from '@iotsim/core';
import {
  describeServerConformance,
  freePort,
  makeRecords,
  occupiedPort,
  runThrough,
  testPlant,
  type TestPlant,
} from '@iotsim/test-utils';
import mqtt from 'mqtt';
import { MqttBroker, MqttSink } from '../src/index.js';
import { Subscriber } from './helpers.js';

interface LiveValue {
  value: number | null;
  unit: string;
  timestamp: number;
  fault_active: boolean;
}

/**
 * Reads the broker's retained live values of `channels` with an independent mqtt.js client: it
 * subscribes to each channel's topic and waits for the value of the newest tick (the broker
 * publishes at most once per live_interval_s, the newest frame at the latest then).
 */
async function readLive(
  url: string,
  channels: readonly number[],
  plant: TestPlant,
  prefix = 'iotsim/live',
): Promise<number[]> {
  const topics = channels.map((i) => {
    const c = plant.table.channels[i]!;
    return `${prefix}/${c.industry}/${c.deviceId}/${c.sensorName}`;
  });
  const want = plant.state.latest!.timestamp;
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    const latest = new Map<string, LiveValue>();
    client.on('message', (topic, payload) => {
      latest.set(topic, JSON.parse(payload.toString()) as LiveValue);
    });
    await client.subscribeAsync(topics, { qos: 0 });
    const until = Date.now() + 5000;
    while (Date.now() < until && !topics.every((t) => latest.get(t)?.timestamp === want)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return topics.map((t) => {
      const v = latest.get(t);
      if (v?.timestamp !== want) throw new Error(`no live value of tick ${want} on ${t}`);
      return v.value ?? NaN;
    });
  } finally {
    await client.endAsync(true);
  }
}

describeServerConformance('mqtt_broker', {
  create: (port) => MqttBroker.fromConfig({ host: '127.0.0.1', port }),
  read: (_server, port, channels, plant) => readLive(`mqtt://127.0.0.1:${port}`, channels, plant),
  async connect(port) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    return { closed, close: () => client.endAsync(true) };
  },
});

describe('MqttBroker', () => {
  it('relays what the MqttSink publishes, with the sink defaults but the url', async () => {
    const plant = testPlant();
    plant.tick();
    const broker = new MqttBroker({ port: 0 });
    await broker.start(plant.state, plant.context);
    try {
      const sub = await Subscriber.open(broker.address!, 'iotsim/mining/#');
      const sink = new MqttSink({ url: broker.address! });
      const records = makeRecords(200, { industries: ['mining'], awkward: false });
      const m = await runThrough(sink, records);
      expect(m.delivered).toBe(200);
      const got = await sub.settle(200);
      expect(got.map((x) => JSON.parse(x.payload.toString()) as unknown)).toEqual(
        records.map((r) => r.toDict()),
      );
      expect(got.map((x) => x.topic)).toEqual(
        records.map((r) => `iotsim/${r.industry}/${r.device_id}`),
      );
      await sub.close();
    } finally {
      await broker.stop();
    }
  });

  it('serves MQTT over WebSocket on ws_port', async () => {
    const plant = testPlant();
    plant.tick();
    const broker = new MqttBroker({ port: 0, wsPort: 0 });
    await broker.start(plant.state, plant.context);
    try {
      expect(broker.wsAddress).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      const values = await readLive(broker.wsAddress!, [0, 1], plant);
      expect(values).toEqual([plant.state.value(0), plant.state.value(1)]);
    } finally {
      await broker.stop();
    }
  });

  it('with username/password rejects other credentials, and never shows the password', async () => {
    const plant = testPlant();
    plant.tick();
    const broker = MqttBroker.fromConfig({ port: 0, username: 'iot', password: 'broker-pw' });
    expect(broker.describe()).not.toContain('broker-pw');
    await broker.start(plant.state, plant.context);
    try {
      const bad = await mqtt
        .connectAsync(broker.address!, {
          username: 'iot',
          password: 'nope',
          reconnectPeriod: 0,
          protocolVersion: 4,
        })
        .then(
          (c) => c.endAsync(),
          (e: unknown) => e,
        );
      expect(String(bad)).toMatch(/Bad username or password|Not authorized/i);
      const sink = new MqttSink({ url: broker.address!, username: 'iot', password: 'broker-pw' });
      await sink.connect();
      await sink.close();
      expect(plant.logs.join('\n')).not.toContain('broker-pw');
    } finally {
      await broker.stop();
    }
  });

  it('an occupied ws_port is a ServerStartError naming it, and the TCP port is freed', async () => {
    const plant = testPlant();
    const port = await freePort();
    const { port: wsPort, blocker } = await occupiedPort();
    try {
      const broker = new MqttBroker({ port, wsPort });
      const err = await broker.start(plant.state, plant.context).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ServerStartError);
      expect(String(err)).toContain(`port ${wsPort}`);
      expect(String(err)).toContain('ws_port');
      const again = new MqttBroker({ port });
      await again.start(plant.state, plant.context);
      await again.stop();
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('publishes live values of every frame with live_interval_s: 0, under live_topic', async () => {
    const plant = testPlant();
    plant.tick();
    const broker = new MqttBroker({ port: 0, liveIntervalS: 0, liveTopic: 'plant/live/' });
    await broker.start(plant.state, plant.context);
    try {
      for (let k = 0; k < 3; k++) {
        const v = plant.tick();
        const last = plant.table.length - 1;
        expect(await readLive(broker.address!, [0, last], plant, 'plant/live')).toEqual([
          v[0],
          v[last],
        ]);
      }
    } finally {
      await broker.stop();
    }
  });
});
