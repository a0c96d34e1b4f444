// Webhook sink throughput: backfill records from all 16 industries through a SinkRunner into a
// WebhookSink posting to a node:http server in a child process (so the server has its own core).
// The server parses every body (JSON.parse, after answering) and counts records, so "delivered"
// is checked against what actually arrived.
//   node bench/webhook.mjs batch500 | batch500-gzip | batch500-inflight2
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { WebhookSink } from '@iotsim/sink-webhook';
import { backfillThrough, checkedCpuFigures, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['batch500', 'batch500-gzip', 'batch500-inflight2'];

const SETTINGS = {
  batch500: { gzip: false, maxInFlight: 1 },
  'batch500-gzip': { gzip: true, maxInFlight: 1 },
  'batch500-inflight2': { gzip: false, maxInFlight: 2 },
};
const TARGET_RECORDS = 1_000_000;

function serve() {
  const stats = { requests: 0, records: 0, bytes: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // Answer first, then count: the server's parsing is not the sink's cost.
      res.writeHead(200, { 'content-length': '0' }).end();
      let body = Buffer.concat(chunks);
      stats.bytes += body.length;
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      stats.records += JSON.parse(body.toString('utf8')).length;
      stats.requests++;
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'stats') process.send({ stats });
    if (m === 'exit') server.close(() => process.exit(0));
  });
}

async function main() {
  const scenario = scenarioArg('batch500');
  const settings = SETTINGS[scenario];
  if (!settings) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);

  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const [{ port }] = await once(child, 'message');
  const ask = async () => {
    child.send('stats');
    const [{ stats }] = await once(child, 'message');
    return stats;
  };

  const sink = new WebhookSink({
    url: `http://127.0.0.1:${port}/ingest`,
    gzip: settings.gzip,
  });
  // Throughput goes beside the sink, to the runner (sink contract v2).
  const throughput = { batchSize: 500, maxBufferSize: 20_000, maxInFlight: settings.maxInFlight };

  await measure(
    scenario,
    async () => {
      const cpu = process.cpuUsage();
      const { generated, metrics: m } = await backfillThrough(sink, {
        records: TARGET_RECORDS,
        stopTimeoutS: 120,
        throughput,
      });
      const stats = await ask();
      const cpuFigures = checkedCpuFigures(m, generated, stats.records, cpu);
      return {
        records: m.delivered,
        extra: {
          ...cpuFigures,
          requests: stats.requests,
          bodyMb: Math.round(stats.bytes / 1e5) / 10,
          bytesPerRecord: Math.round((stats.bytes / stats.records) * 10) / 10,
        },
      };
    },
    { batchSize: 500, gzip: settings.gzip, maxInFlight: settings.maxInFlight },
  );
  child.send('exit');
  await once(child, 'exit');
}

if (process.argv.includes('--server')) serve();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
