// MQTT sinks throughput to a broker on loopback (the harness's Mosquitto: IOTSIM_MQTT_URL, default
// mqtt://127.0.0.1:1883): backfill all 16 industries through a SinkRunner into an MqttSink (QoS 0
// and 1, record and batch payloads) or a SparkplugSink (one edge node per industry). A
// mosquitto_sub child subscribed to the sink's topics counts what arrived, so "delivered" is
// checked against the broker's output (QoS 0 may lose messages under load: reported, not fatal).
//   node bench/mqtt.mjs qos0-record | qos1-record | qos0-batch | qos1-batch | sparkplug
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { MqttSink, SparkplugSink } from '@iotsim/sink-mqtt';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['qos0-record', 'qos1-record', 'qos0-batch', 'qos1-batch', 'sparkplug'];

const SETTINGS = {
  'qos0-record': { qos: 0, payload: 'record', records: 300_000 },
  'qos1-record': { qos: 1, payload: 'record', records: 300_000 },
  'qos0-batch': { qos: 0, payload: 'batch', records: 1_000_000 },
  'qos1-batch': { qos: 1, payload: 'batch', records: 1_000_000 },
  sparkplug: { sparkplug: true, records: 1_000_000 },
};

/** mosquitto_sub on `filter`, counting messages and records (`"sensor_name":` per record) as they stream. */
function counter(url, filter, qos, binary) {
  const u = new URL(url);
  // binary payloads (Sparkplug): one line per message with its length only
  const child = spawn(
    'mosquitto_sub',
    [
      '-h',
      u.hostname,
      '-p',
      u.port || '1883',
      '-t',
      filter,
      '-q',
      String(qos),
      '-F',
      binary ? '%l' : '%p',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stats = { messages: 0, records: 0, bytes: 0 };
  const needle = Buffer.from('{"sensor_name":');
  let tail = Buffer.alloc(0);
  child.stdout.on('data', (chunk) => {
    stats.bytes += chunk.length;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) stats.messages++;
    // the previous chunk's last bytes (shorter than the needle) catch a needle cut in two
    const buf = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length))
      stats.records++;
    tail = Buffer.from(buf.subarray(Math.max(0, buf.length - needle.length + 1)));
  });
  return {
    stats,
    async settle(expected, key, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      let last = -1;
      while (Date.now() < end && stats[key] < expected) {
        await new Promise((r) => setTimeout(r, 200));
        if (stats[key] === last && key === 'messages') break;
        last = stats[key];
      }
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      await once(child, 'exit');
      return stats;
    },
  };
}

async function main() {
  const scenario = scenarioArg('qos0-record');
  const s = SETTINGS[scenario];
  if (!s) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
  const url = process.env.IOTSIM_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  const run = `bench${process.pid}`;
  const sink = s.sparkplug
    ? new SparkplugSink({ url, edgeNodeId: run })
    : new MqttSink({
        url,
        qos: s.qos,
        payload: s.payload,
        topic: `${run}/{industry}/{device_id}`,
        ...(process.env.BENCH_MQTT_V4 ? { protocolVersion: 4 } : {}),
      });
  const sub = counter(
    url,
    s.sparkplug ? `spBv1.0/+/DDATA/${run}/#` : `${run}/+/+`,
    s.sparkplug ? 0 : s.qos,
    s.sparkplug,
  );
  await new Promise((r) => setTimeout(r, 500)); // mosquitto_sub is subscribed
  const throughput = s.sparkplug
    ? { batchSize: 5000, maxBufferSize: 100_000 }
    : { batchSize: s.payload === 'batch' ? 5000 : 1000, maxBufferSize: 100_000, maxInFlight: 4 };
  await measure(
    scenario,
    async () => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const { generated, metrics: m } = await backfillThrough(sink, {
        records: s.records,
        stopTimeoutS: 300,
        throughput,
        exact: true,
      });
      if (m.failed !== 0 || m.delivered !== generated)
        throw new Error(
          `bench: generated ${generated}, delivered ${m.delivered}, failed ${m.failed}`,
        );
      const seconds = (performance.now() - started) / 1000;
      const own = m.sinkMetrics ?? {};
      const messages = s.sparkplug ? own.ddata : own.messages;
      const got = await sub.settle(messages, 'messages');
      const used = process.cpuUsage(cpu);
      const cpuS = (used.user + used.system) / 1e6;
      return {
        records: m.delivered,
        extra: {
          cpuS: Math.round(cpuS * 100) / 100,
          messages,
          received: got.messages,
          ...(s.sparkplug
            ? {
                metrics: own.metrics,
                metricsPerMessage: Math.round(own.metrics / own.ddata),
                ddataPerSec: Math.round(own.ddata / seconds),
                metricsPerSec: Math.round(own.metrics / seconds),
              }
            : { receivedRecords: got.records }),
          p50WriteMs: Math.round(m.writeLatencyMs.p50 * 100) / 100,
        },
      };
    },
    s.sparkplug
      ? { batchSize: 5000, edgeNodes: 16 }
      : { qos: s.qos, payload: s.payload, ...throughput },
  );
}

await main();
