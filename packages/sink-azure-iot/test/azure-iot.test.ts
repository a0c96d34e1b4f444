import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  SinkConnectError,
  SinkRunner,
  type Logger,
  type SensorRecordDict,
} from '@iotsim/core';
import { describeSinkConformance, makeRecords, runThrough, tempDir } from '@iotsim/test-utils';
import { AzureIoTSink, type AzureIoTSinkOptions } from '../src/index.js';
import { parseConnectionString } from '../src/options.js';
import { HubBroker, makeCertificates } from './hub-broker.js';

const HOST = 'localhost';
const DEVICE = 'sim-device-1';
const KEY = randomBytes(32).toString('base64');
const CONNECTION = `HostName=${HOST};DeviceId=${DEVICE};SharedAccessKey=${KEY}`;

let dir: { path: string; remove: () => Promise<void> };
let caFile = '';
let broker: HubBroker;

beforeAll(async () => {
  dir = await tempDir('iotsim-azure-');
  const files = makeCertificates(dir.path);
  caFile = files.caFile;
  broker = new HubBroker(HOST, DEVICE, KEY, files);
  await broker.start();
});

afterAll(async () => {
  await broker?.stop();
  await dir?.remove();
});

function sink(options: Partial<AzureIoTSinkOptions> = {}): AzureIoTSink {
  return new AzureIoTSink({ connectionString: CONNECTION, caFile, ...options });
}

function received(): SensorRecordDict[] {
  return broker.messages.flatMap((m) => {
    const body = JSON.parse(m.body) as SensorRecordDict | SensorRecordDict[];
    return Array.isArray(body) ? body : [body];
  });
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return {
    lines,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  };
}

for (const payloadMode of ['record', 'batch'] as const) {
  describeSinkConformance(`azure_iot (${payloadMode} mode)`, {
    create: () => {
      broker.messages.length = 0;
      return sink({ payloadMode });
    },
    readBack: async () => received(),
    count: payloadMode === 'record' ? 500 : 1000,
  });
}

describe('azure_iot: messages', () => {
  it('sets content type, encoding and routing properties on every record message', async () => {
    broker.messages.length = 0;
    const records = makeRecords(120, { seed: 3 });
    const m = await runThrough(sink(), records, { throughput: { batchSize: 50 } });
    expect(m.delivered).toBe(120);
    expect(broker.messages).toHaveLength(120);
    broker.messages.forEach((msg, i) => {
      const r = records[i]!;
      expect(msg.topic.startsWith(`devices/${DEVICE}/messages/events/`)).toBe(true);
      expect(msg.system['$.ct']).toBe('application/json');
      expect(msg.system['$.ce']).toBe('utf-8');
      expect(msg.properties).toEqual({
        industry: r.industry,
        sensor_type: r.sensor_type,
        fault_active: String(r.fault_active),
        device_id: r.device_id,
      });
      expect(JSON.parse(msg.body)).toEqual(r.toDict());
    });
  });

  it('in batch mode sets only the properties that are uniform across the batch', async () => {
    broker.messages.length = 0;
    const records = makeRecords(40, { industries: ['mining'], seed: 4, awkward: false });
    const mixed = makeRecords(40, { industries: ['mining', 'aerospace'], seed: 5 });
    const s = sink({ payloadMode: 'batch', contentType: 'application/json' });
    const runner = new SinkRunner(s, { throughput: { batchSize: 40 } });
    await runner.start();
    void runner.enqueue(records);
    await new Promise((r) => setTimeout(r, 100));
    void runner.enqueue(mixed);
    await runner.stop(30);
    expect(runner.metrics().delivered).toBe(80);
    expect(broker.messages).toHaveLength(2);
    const [uniform, varied] = broker.messages;
    expect(uniform!.properties.industry).toBe('mining');
    expect(JSON.parse(uniform!.body)).toHaveLength(40);
    expect(uniform!.system['$.ct']).toBe('application/json');
    expect(varied!.properties.industry).toBeUndefined();
    expect(new Set(mixed.map((r) => r.sensor_type)).size).toBeGreaterThan(1);
    expect(varied!.properties.sensor_type).toBeUndefined();
  });

  it('in batch mode splits a batch into messages under the 256 KiB IoT Hub limit', async () => {
    broker.messages.length = 0;
    const records = makeRecords(2000, { seed: 7 });
    const m = await runThrough(sink({ payloadMode: 'batch' }), records, {
      throughput: { batchSize: 2000, rateHz: 0.001 },
    });
    expect(m.delivered).toBe(2000);
    expect(broker.messages.length).toBeGreaterThan(1);
    for (const msg of broker.messages)
      expect(Buffer.byteLength(msg.body)).toBeLessThanOrEqual(255 * 1024);
    expect(received()).toEqual(records.map((r) => r.toDict()));
  });

  it('authenticates with a SharedAccessSignature connection string', async () => {
    broker.messages.length = 0;
    const { SharedAccessSignature } = (await import('azure-iot-device')).default;
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    const sas = SharedAccessSignature.create(HOST, DEVICE, KEY, expiry).toString();
    const s = new AzureIoTSink({
      connectionString: `HostName=${HOST};DeviceId=${DEVICE};SharedAccessSignature=${sas}`,
      caFile,
    });
    const before = broker.rejections.length;
    const m = await runThrough(s, makeRecords(10, { seed: 6 })).catch((err: unknown) => {
      throw new Error(`${String(err)}; broker: ${broker.rejections.slice(before).join('; ')}`);
    });
    expect(m.delivered).toBe(10);
    expect(broker.messages).toHaveLength(10);
  });
});

describe('azure_iot: connection strings and secrets', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['no HostName', `DeviceId=d;SharedAccessKey=${KEY}`, /no HostName/],
    ['no DeviceId', `HostName=h.azure-devices.net;SharedAccessKey=${KEY}`, /no DeviceId/],
    ['no credential', 'HostName=h.azure-devices.net;DeviceId=d', /neither SharedAccessKey/],
    ['key not base64', 'HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=abc$%', /base64/],
    [
      'both key and signature',
      `HostName=h;DeviceId=d;SharedAccessKey=${KEY};SharedAccessSignature=SharedAccessSignature sr=a&sig=b&se=1`,
      /both/,
    ],
    ['a part without =', `HostName=h;DeviceId;SharedAccessKey=${KEY}`, /part 2 .* not Name=value/],
    [
      'unknown part',
      `HostName=h;DeviceId=d;Sharedaccesskee=${KEY}`,
      /unknown part 'Sharedaccesskee'/,
    ],
    [
      'a hub connection string',
      `HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`,
      /hub \(service\) connection string/,
    ],
    ['empty DeviceId', `HostName=h;DeviceId=;SharedAccessKey=${KEY}`, /DeviceId is empty/],
    [
      'malformed signature',
      'HostName=h;DeviceId=d;SharedAccessSignature=sig=abc',
      /must look like/,
    ],
    [
      'gateway',
      `HostName=h;DeviceId=d;SharedAccessKey=${KEY};GatewayHostName=edge`,
      /GatewayHostName/,
    ],
  ];

  it.each(cases)('rejects a connection string with %s, naming the part', (_name, cs, message) => {
    let error: unknown;
    try {
      AzureIoTSink.fromConfig({ connection_string: cs }, 'sinks[0].');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text).toContain('sinks[0].connection_string');
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(cs);
  });

  it('requires a connection string and accepts a valid one', () => {
    expect(() => new AzureIoTSink({} as AzureIoTSinkOptions)).toThrow(
      /connectionString: is required/,
    );
    expect(parseConnectionString(CONNECTION)).toEqual({
      connection: {
        hostName: HOST,
        deviceId: DEVICE,
        moduleId: undefined,
        sharedAccessKey: KEY,
        sharedAccessSignature: undefined,
      },
      problems: [],
    });
    expect(sink().describe()).toBe(`azure_iot → ${HOST} device ${DEVICE} (record mode)`);
  });

  it('registers the connection string and its key as its own secrets', () => {
    expect([...sink().secrets].sort()).toEqual([CONNECTION, KEY].sort());
  });

  it('says where a throughput option belongs when it is given in the sink options', () => {
    expect(() => sink({ batchSize: 50 } as Partial<AzureIoTSinkOptions>)).toThrow(
      'batchSize: is a throughput option: give it beside the sink',
    );
  });

  it('reports a wrong key as a rejected device, never showing the key', async () => {
    const wrongKey = randomBytes(32).toString('base64');
    const { logger, lines } = capture();
    const s = new AzureIoTSink({
      connectionString: `HostName=${HOST};DeviceId=${DEVICE};SharedAccessKey=${wrongKey}`,
      caFile,
    });
    const rejectionsBefore = broker.rejections.length;
    const runner = new SinkRunner(s, { logger });
    const error = await runner.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SinkConnectError);
    const text = `${(error as Error).message}\n${String((error as Error).stack)}\n${lines.join('\n')}`;
    expect(text).toContain(HOST);
    expect(text).not.toContain(wrongKey);
    expect(text).not.toContain(KEY);
    expect(broker.rejections.slice(rejectionsBefore)).toContain('bad signature');
  });

  it('names the host when the hub is down, without the key', async () => {
    await broker.stop();
    try {
      const { logger, lines } = capture();
      const runner = new SinkRunner(sink(), { logger });
      const error = await runner.start().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(SinkConnectError);
      const text = (error as Error).message;
      expect(text).toMatch(/cannot connect to IoT Hub localhost:8883/);
      expect(`${text}\n${lines.join('\n')}`).not.toContain(KEY);
    } finally {
      await broker.start();
    }
  });
});
