// AWS IoT sink throughput (batch mode): backfill records from all 16 industries through a
// SinkRunner into an AWSIoTSink whose SDK publishes (SigV4-signed) to a local stand-in for the
// data-plane Publish API in a child process. The server parses every payload and counts records.
//   node bench/aws-iot.mjs batch500 | batch500-by-industry
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { AWSIoTSink } from '@iotsim/sink-aws-iot';
import { backfillThrough, checkedCpuFigures, measure, scenarioArg } from './lib.mjs';

export const scenarios = ['batch500', 'batch500-by-industry'];

const TOPICS = {
  batch500: 'iot/sensor-data',
  'batch500-by-industry': 'iot/{industry}',
};
const TARGET_RECORDS = 500_000;

function serve() {
  const stats = { requests: 0, records: 0, bytes: 0, topics: new Set() };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      const body = Buffer.concat(chunks);
      stats.bytes += body.length;
      stats.records += JSON.parse(body.toString('utf8')).length;
      stats.requests++;
      stats.topics.add(req.url.split('?')[0]);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'stats') process.send({ stats: { ...stats, topics: stats.topics.size } });
    if (m === 'exit') server.close(() => process.exit(0));
  });
}

async function main() {
  const scenario = scenarioArg('batch500');
  const topic = TOPICS[scenario];
  if (!topic) throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  const [{ port }] = await once(child, 'message');
  const sink = new AWSIoTSink({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    awsAccessKeyId: 'AKIABENCHMARK000000',
    awsSecretAccessKey: 'bench-secret-key-not-real',
    topic,
  });
  // Throughput goes beside the sink, to the runner (sink contract v2).
  const throughput = { batchSize: 500, maxBufferSize: 20_000 };

  await measure(
    scenario,
    async () => {
      const cpu = process.cpuUsage();
      const { generated, metrics: m } = await backfillThrough(sink, {
        records: TARGET_RECORDS,
        stopTimeoutS: 120,
        throughput,
      });
      child.send('stats');
      const [{ stats }] = await once(child, 'message');
      const cpuFigures = checkedCpuFigures(m, generated, stats.records, cpu);
      return {
        records: m.delivered,
        extra: {
          ...cpuFigures,
          publishes: stats.requests,
          topics: stats.topics,
          bodyMb: Math.round(stats.bytes / 1e5) / 10,
        },
      };
    },
    { batchSize: 500, topic },
  );
  child.send('exit');
  await once(child, 'exit');
}

if (process.argv.includes('--server')) serve();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
