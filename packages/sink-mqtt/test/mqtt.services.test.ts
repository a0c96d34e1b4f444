import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { SinkConnectError, SinkRunner, type SensorRecordDict } from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  freePort,
  makeCertificates,
  makeRecords,
  runThrough,
  serviceCtl,
  serviceEnv,
  tempDirs,
} from '@iotsim/test-utils';
import { MqttSink } from '../src/index.js';
import { uniquePrefix } from './helpers.js';
import {
  mosquittoSub,
  ownMosquitto,
  pahoSub,
  type PeerMessage,
  type PeerSubscriber,
} from './peers.js';

const url = (): string => serviceEnv('IOTSIM_MQTT_URL');
const tempDir = tempDirs('iotsim-mqtt-');
const open: PeerSubscriber[] = [];
afterAll(async () => {
  for (const s of open.splice(0)) await s.stop();
});

function records(messages: readonly PeerMessage[]): SensorRecordDict[] {
  const out: SensorRecordDict[] = [];
  for (const m of messages) {
    const v = JSON.parse(m.payload) as SensorRecordDict | SensorRecordDict[];
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

// The suite against Mosquitto, read back by mosquitto_sub.
const conformanceSubs = new Map<MqttSink, PeerSubscriber>();
describeSinkConformance('mqtt → Mosquitto (mosquitto_sub)', {
  async create() {
    const prefix = uniquePrefix('conf');
    const sub = await mosquittoSub(url(), prefix, 2);
    open.push(sub);
    const sink = new MqttSink({ url: url(), topic: `${prefix}/{industry}/{device_id}` });
    conformanceSubs.set(sink, sub);
    return sink;
  },
  async readBack(sink) {
    const sub = conformanceSubs.get(sink)!;
    const m = sink.sinkMetrics().messages ?? 0;
    return records(await sub.settle(m));
  },
});

describe('MqttSink → Mosquitto, independent subscribers', () => {
  for (const qos of [0, 1, 2] as const) {
    for (const payload of ['record', 'batch'] as const) {
      it(`QoS ${qos}, ${payload} payloads: mosquitto_sub and paho get exactly what the run delivered`, async () => {
        const prefix = uniquePrefix(`q${qos}${payload}`);
        const mos = await mosquittoSub(url(), prefix, 2);
        const paho = await pahoSub(url(), prefix, 2, { protocolVersion: 5 });
        open.push(mos, paho);
        const sink = new MqttSink({
          url: url(),
          qos,
          payload,
          topic: `${prefix}/{industry}/{device_id}`,
          messageExpiryS: 3600,
        });
        const recs = makeRecords(3000, { seed: qos + 20 });
        const m = await runThrough(sink, recs, { throughput: { batchSize: 200 } });
        expect(m.delivered).toBe(3000);
        expect(m.failed).toBe(0);
        const messages = sink.sinkMetrics().messages!;
        const fromMos = await mos.settle(messages);
        const fromPaho = await paho.settle(messages);
        expect(fromMos).toHaveLength(messages);
        expect(fromPaho).toHaveLength(messages);
        const expected = dicts(recs);
        if (payload === 'record') {
          expect(records(fromMos)).toEqual(expected);
          expect(records(fromPaho)).toEqual(expected);
        } else {
          // one array per device per write: compare per device, in order
          const byDevice = (list: SensorRecordDict[]): Record<string, SensorRecordDict[]> => {
            const out: Record<string, SensorRecordDict[]> = {};
            for (const d of list) (out[`${d.industry}/${d.device_id}`] ??= []).push(d);
            return out;
          };
          expect(byDevice(records(fromMos))).toEqual(byDevice(expected));
          expect(byDevice(records(fromPaho))).toEqual(byDevice(expected));
        }
        // MQTT 5 properties as paho decodes them
        expect(fromPaho.every((x) => x.contentType === 'application/json')).toBe(true);
        expect(
          fromPaho.every(
            (x) => typeof x.expiry === 'number' && x.expiry <= 3600 && x.expiry > 3500,
          ),
        ).toBe(true);
        await mos.stop();
        await paho.stop();
      });
    }
  }

  it('the broker restarted mid-run: reconnects, nothing lost, exact accounting (QoS 1)', async () => {
    const prefix = uniquePrefix('restart');
    // A persistent session (clean false): Mosquitto keeps its queue across the restart.
    const paho = await pahoSub(url(), prefix, 1, {
      protocolVersion: 4,
      clean: false,
      clientId: `paho-restart-${process.pid}`,
    });
    open.push(paho);
    const sink = new MqttSink({ url: url(), qos: 1, topic: `${prefix}/{industry}/{device_id}` });
    const recs = makeRecords(6000, { seed: 31, awkward: false });
    const runner = new SinkRunner(sink, {
      throughput: { batchSize: 100, retryCount: 10, retryDelayS: 0.5, backpressure: 'block' },
    });
    await runner.start();
    let restarted: Promise<void> | undefined;
    for (let i = 0; i < recs.length; i += 50) {
      if (i === 3000) restarted = serviceCtl('mosquitto', 'restart');
      const w = runner.enqueue(recs.slice(i, i + 50), true);
      if (w) await w;
      await new Promise((r) => setTimeout(r, 2));
    }
    await restarted;
    await runner.stop(120);
    const m = runner.metrics();
    expect(m.generated).toBe(6000);
    expect(m.delivered).toBe(6000);
    expect(m.failed).toBe(0);
    expect(m.dropped.total).toBe(0);
    expect(sink.sinkMetrics().reconnects ?? 0).toBeGreaterThanOrEqual(1);
    const got = await paho.settle(6000, 90_000);
    const keys = got.map((x) => x.payload);
    const unique = new Set(keys);
    // QoS 1: a message may arrive twice around the restart, never be missing, never be invented.
    const expected = dicts(recs).map((d) => JSON.stringify(d));
    expect(unique.size).toBe(6000);
    expect([...unique].sort()).toEqual([...expected].sort());
    await paho.stop();
  }, 240_000);

  it('TLS: mqtts:// with the CA file delivers; without it the error says how to fix it', async () => {
    const dir = await tempDir();
    const certs = makeCertificates(dir);
    const port = await freePort();
    const broker = await ownMosquitto(dir, port, [
      `cafile ${certs.caFile}`,
      `certfile ${certs.cert}`,
      `keyfile ${certs.key}`,
      'allow_anonymous true',
    ]);
    try {
      const good = new MqttSink({ url: `mqtts://localhost:${port}`, ca: certs.caFile, qos: 1 });
      const m = await runThrough(good, makeRecords(100, { seed: 2 }));
      expect(m.delivered).toBe(100);
      const noCa = new MqttSink({ url: `mqtts://localhost:${port}` });
      const err = await noCa.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SinkConnectError);
      expect(String(err)).toMatch(/TLS handshake .* failed .*ca: FILE/);
      await noCa.close();
    } finally {
      await broker.stop();
    }
  });

  it('mutual TLS: a client certificate Mosquitto requires (require_certificate)', async () => {
    const dir = await tempDir();
    const certs = makeCertificates(dir);
    const port = await freePort();
    const broker = await ownMosquitto(dir, port, [
      `cafile ${certs.caFile}`,
      `certfile ${certs.cert}`,
      `keyfile ${certs.key}`,
      'require_certificate true',
      'allow_anonymous true',
    ]);
    try {
      // the test CA signed one certificate: it serves as the client's too
      const withCert = new MqttSink({
        url: `mqtts://localhost:${port}`,
        ca: certs.caFile,
        cert: certs.cert,
        key: certs.key,
      });
      const m = await runThrough(withCert, makeRecords(40, { seed: 4 }));
      expect(m.delivered).toBe(40);
      const without = new MqttSink({ url: `mqtts://localhost:${port}`, ca: certs.caFile });
      const err = await without.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SinkConnectError);
      expect(String(err)).toContain(`mqtts://localhost:${port}`);
      expect(String(err)).toContain('client certificate');
      await without.close();
    } finally {
      await broker.stop();
    }
  });

  it('a wrong password against a Mosquitto password file is a clear SinkConnectError', async () => {
    const dir = await tempDir();
    const file = `${dir}/passwd`;
    execFileSync('mosquitto_passwd', ['-b', '-c', file, 'iot', 'right-pw']);
    const port = await freePort();
    const broker = await ownMosquitto(dir, port, [
      'allow_anonymous false',
      `password_file ${file}`,
    ]);
    try {
      for (const protocolVersion of [4, 5] as const) {
        const bad = new MqttSink({
          url: `mqtt://127.0.0.1:${port}`,
          username: 'iot',
          password: 'wrong-pw',
          protocolVersion,
        });
        const err = await bad.connect().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SinkConnectError);
        expect(String(err)).toMatch(/bad user name or password|not authorized/);
        expect(String(err)).not.toContain('wrong-pw');
      }
      const good = new MqttSink({
        url: `mqtt://127.0.0.1:${port}`,
        username: 'iot',
        password: 'right-pw',
      });
      const m = await runThrough(good, makeRecords(50, { seed: 3 }));
      expect(m.delivered).toBe(50);
    } finally {
      await broker.stop();
    }
  });
});

describe('the CLI with MQTT', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const CLI = resolve(here, '../../../apps/cli/dist/bin.js');
  const cli = (args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((done) => {
      execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
      });
    });

  it('run --server mqtt_broker with an mqtt sink: a working feed, sink and broker started together', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const config = join(dir, 'run.yaml');
    writeFileSync(
      config,
      `simulator:\n  industries: [mining]\n  update_rate_hz: 5\n  duration_s: 2\nsinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:${port}\nservers:\n  - type: mqtt_broker\n    port: ${port}\n`,
    );
    const summary = join(dir, 'summary.json');
    const { code, out } = await cli(['run', '-c', config, '--summary-json', summary]);
    expect({ code, out }).toMatchObject({ code: 0 });
    const s = JSON.parse(readFileSync(summary, 'utf8')) as {
      sinks: { generated: number; delivered: number; failed: number }[];
    };
    expect(s.sinks[0]!.generated).toBeGreaterThan(0);
    expect(s.sinks[0]!.delivered).toBe(s.sinks[0]!.generated);
  });

  it('run -s mqtt publishes to the default broker url; an unreachable url exits 2 naming it', async () => {
    const sub = await mosquittoSub(url(), 'iotsim/mining', 1);
    open.push(sub);
    const ok = await cli(['run', '-i', 'mining', '-s', 'mqtt', '-d', '1', '--rate', '2']);
    expect(ok.code).toBe(0);
    expect((await sub.settle(17)).length).toBeGreaterThanOrEqual(17);
    await sub.stop();
    const dir = await tempDir();
    const config = join(dir, 'bad.yaml');
    writeFileSync(
      config,
      'simulator:\n  industries: [mining]\n  duration_s: 1\nsinks:\n  - type: mqtt\n    url: mqtt://127.0.0.1:1\n',
    );
    const bad = await cli(['run', '-c', config]);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('mqtt://127.0.0.1:1');
    expect(bad.out).toContain('connection refused');
  });
});
