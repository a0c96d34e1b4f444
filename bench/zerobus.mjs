// Zerobus sink against a local gRPC server speaking the EphemeralStream protocol (acks every
// request at once) and a local token endpoint: `node bench/zerobus.mjs json|proto`.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { ZerobusSink } from '@iotsim/sink-zerobus';
import { backfillThrough, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['json', 'proto'];
const TOTAL = 200_000;

const require = createRequire(import.meta.url);
const proto = join(
  dirname(require.resolve('@iotsim/sink-zerobus/package.json')),
  'proto/zerobus.proto',
);

async function servers() {
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ access_token: 'bench-token', expires_in: 3600 })));
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  let bytes = 0;
  const def = await loader.load(proto, {
    keepCase: true,
    longs: Number,
    enums: String,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const server = new grpc.Server();
  server.addService(pkg.databricks.zerobus.Zerobus.service, {
    EphemeralStream(call) {
      call.on('data', (m) => {
        if (m.create_stream) return call.write({ create_stream_response: { stream_id: 's1' } });
        const b = m.ingest_record_batch;
        for (const r of (b.json_batch ?? b.proto_encoded_batch).records) bytes += r.length;
        call.write({ ingest_record_response: { durability_ack_up_to_offset: b.offset_id } });
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  return {
    tokenUrl: `http://127.0.0.1:${http.address().port}`,
    endpoint: `http://127.0.0.1:${port}`,
    bytes: () => bytes,
    stop: () =>
      new Promise((r) => {
        http.close();
        server.tryShutdown(r);
      }),
  };
}

const scenario = scenarioArg('json');
const srv = await servers();
const sink = new ZerobusSink({
  serverEndpoint: srv.endpoint,
  tableName: 'main.bench.sensors',
  workspaceUrl: srv.tokenUrl,
  clientId: 'bench',
  clientSecret: 'bench-secret',
  recordType: scenario,
});
// Throughput goes beside the sink, to the runner (sink contract v2).
const throughput = { batchSize: 1000, rateHz: 0.001 };
await measure(`zerobus-${scenario}`, async () => {
  const { generated: n, metrics: m } = await backfillThrough(sink, {
    records: TOTAL,
    stopTimeoutS: 120,
    throughput,
  });
  if (m.delivered !== n) throw new Error(`delivered ${m.delivered} of ${n}`);
  return {
    records: m.delivered,
    extra: { payloadMB: Math.round(srv.bytes() / 1e5) / 10, batchSize: 1000 },
  };
});
await srv.stop();
