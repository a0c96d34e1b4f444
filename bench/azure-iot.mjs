// Azure IoT sink (azure-iot-device over MQTT/TLS) against an in-process aedes broker on
// 127.0.0.1:8883 with a throwaway openssl certificate: `node bench/azure-iot.mjs record|batch`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { makeCertificates } from '@iotsim/test-utils/tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { Aedes } from 'aedes';
import { AzureIoTSink } from '@iotsim/sink-azure-iot';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['record', 'batch'];
const scenario = scenarioArg('batch');
const TOTAL = scenario === 'record' ? 20_000 : 200_000;

const dir = mkdtempSync(join(tmpdir(), 'iotsim-bench-azure-'));
const certs = makeCertificates(dir);

let bytes = 0;
const broker = await Aedes.createBroker({
  authorizePublish: (_c, packet, done) => {
    bytes += packet.payload.length;
    done(null);
  },
});
const server = createServer(
  { key: readFileSync(certs.key), cert: readFileSync(certs.cert) },
  (socket) => broker.handle(socket),
);
await new Promise((r) => server.listen(8883, '127.0.0.1', r));

const key = Buffer.alloc(32, 7).toString('base64');
const batchSize = scenario === 'record' ? 500 : 1000;
const sink = new AzureIoTSink({
  connectionString: `HostName=localhost;DeviceId=bench;SharedAccessKey=${key}`,
  caFile: certs.caFile,
  payloadMode: scenario,
});
// Throughput goes beside the sink, to the runner (sink contract v2).
const throughput = { batchSize, rateHz: 0.001 };
await measure(`azure-iot-${scenario}`, async () => {
  const { generated: n, metrics: m } = await backfillThrough(sink, {
    records: TOTAL,
    stopTimeoutS: 120,
    throughput,
  });
  if (m.delivered !== n) throw new Error(`delivered ${m.delivered} of ${n}`);
  return { records: m.delivered, extra: { payloadMB: Math.round(bytes / 1e5) / 10, batchSize } };
});
await new Promise((r) => broker.close(r));
await new Promise((r) => server.close(r));
rmSync(dir, { recursive: true, force: true });
