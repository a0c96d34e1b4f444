import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ChannelTable,
  ConfigError,
  Frame,
  RecordBatch,
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  parseRetryAfter,
  resolveThroughput,
  splitSinkConfig,
  type Logger,
  type SinkMetrics,
  type SensorRecord,
  type ThroughputOptions,
} from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  expectAccounting,
  makeCertificates,
  makeRecords,
  tempDir,
} from '@iotsim/test-utils';
import { WebhookSink, type WebhookSinkOptions } from '../src/index.js';
import { bodyText, parseBody, RecordingServer } from './recording-server.js';

let server: RecordingServer;
beforeAll(async () => {
  server = await RecordingServer.start();
});
afterAll(async () => {
  await server.close();
});

/** A logger that keeps every line, for checking what is (not) logged. */
function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Runs records through a runner with a capturing logger; returns counters and log lines. */
async function run(
  options: WebhookSinkOptions,
  records: readonly SensorRecord[],
  throughput: ThroughputOptions = {},
): Promise<{ m: SinkMetrics; log: string[]; sink: WebhookSink }> {
  const logger = captureLogger();
  const sink = new WebhookSink(options);
  const runner = new SinkRunner(sink, { logger, throughput });
  await runner.start();
  await runner.enqueue(records, true);
  await runner.stop(60);
  const m = runner.metrics();
  expectAccounting(m);
  expect(m.buffered).toBe(0);
  return { m, log: logger.lines, sink };
}

let paths = 0;
/** A fresh path on the shared server, so every test reads back only its own requests. */
function freshPath(): string {
  return `/hook/${++paths}`;
}

const conformancePaths = new Map<WebhookSink, string>();
describeSinkConformance('webhook', {
  create() {
    const path = freshPath();
    server.handler = (_req, res) => res.writeHead(200).end();
    const sink = new WebhookSink({ url: server.url + path });
    conformancePaths.set(sink, path);
    return sink;
  },
  async readBack(sink) {
    return server.recordsAt(conformancePaths.get(sink)!);
  },
});

describe('webhook: payload and headers', () => {
  it('sends a JSON array of toDict() records with the configured headers', async () => {
    server.handler = (_req, res) => res.writeHead(204).end();
    const path = freshPath();
    const records = makeRecords(120);
    const { m } = await run(
      {
        url: server.url + path,
        headers: { 'X-Tenant': 'plant-7', Accept: 'application/json' },
      },
      records,
      { batchSize: 50 },
    );
    expect(m.delivered).toBe(120);
    expect(m.batches).toBe(3);
    expect(m.sinkMetrics).toEqual({ requests: 3 });
    const reqs = server.to(path);
    expect(reqs.map((r) => r.method)).toEqual(['POST', 'POST', 'POST']);
    for (const r of reqs) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-tenant']).toBe('plant-7');
      expect(r.headers.accept).toBe('application/json');
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(Number(r.headers['content-length'])).toBe(r.raw.length);
    }
    // Byte-exact: the body is what JSON.stringify of the dicts gives.
    expect(reqs.map((r) => r.raw.toString('utf8'))).toEqual([
      JSON.stringify(dicts(records.slice(0, 50))),
      JSON.stringify(dicts(records.slice(50, 100))),
      JSON.stringify(dicts(records.slice(100))),
    ]);
  });

  it("sends the engine's frames as the same JSON, read straight from their columns", async () => {
    server.handler = (_req, res) => res.writeHead(200).end();
    const path = freshPath();
    const table = new ChannelTable({
      channels: ['inlet', 'outlet "B"'].map((sensorName, i) => ({
        sensorName,
        industry: 'water',
        deviceId: 'water-1',
        deviceIndex: 0,
        unit: 'm³/h',
        sensorType: 'flow',
        minValue: 0,
        maxValue: 500,
        nominalValue: 120,
        metadata: i === 1 ? { site: 'Zürich' } : ({} as Record<string, string>),
      })),
    });
    const frame = Frame.allocate(table, 0, 30);
    for (let k = 0; k < frame.ticks; k++) frame.timestamps[k] = 1_700_000_000 + k * 0.5;
    for (let i = 0; i < frame.size; i++) {
      frame.values[i] = 100 + i / 3;
      frame.faults[i] = i % 5 === 0 ? 1 : 0;
    }
    const sink = new WebhookSink({ url: server.url + path });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 25 } });
    await runner.start();
    void runner.enqueue(frame);
    await runner.stop(10);
    expect(runner.metrics().delivered).toBe(60);
    const reqs = server.to(path);
    expect(reqs.map((r) => r.raw.toString('utf8'))).toEqual(
      [0, 25, 50].map((from) => JSON.stringify(dicts(frame.records().slice(from, from + 25)))),
    );
  });

  it('gzips the body when asked, and sends PUT when asked', async () => {
    const path = freshPath();
    const records = makeRecords(300);
    const { m } = await run({ url: server.url + path, gzip: true, method: 'PUT' }, records, {
      batchSize: 300,
    });
    expect(m.delivered).toBe(300);
    const [req] = server.to(path);
    expect(req!.method).toBe('PUT');
    expect(req!.headers['content-encoding']).toBe('gzip');
    expect(req!.raw[0]).toBe(0x1f); // gzip magic
    expect(req!.raw.length).toBeLessThan(bodyText(req!).length / 3);
    expect(parseBody(req!)).toEqual(dicts(records));
  });

  it('lets a custom content-type override the default, without duplicating it', async () => {
    const path = freshPath();
    await run(
      {
        url: server.url + path,
        headers: { 'Content-Type': 'application/vnd.iotsim+json' },
      },
      makeRecords(3),
    );
    const [req] = server.to(path);
    expect(req!.headers['content-type']).toBe('application/vnd.iotsim+json');
  });
});

describe('webhook: retries and failures', () => {
  it('retries a 500 and delivers on the next attempt', async () => {
    const path = freshPath();
    let n = 0;
    server.handler = (_req, res) => {
      n++;
      if (n === 1) res.writeHead(500).end('database is restarting');
      else res.writeHead(200).end();
    };
    const records = makeRecords(80);
    const { m, log } = await run({ url: server.url + path }, records, {
      batchSize: 80,
      retryCount: 3,
      retryDelayS: 0.01,
    });
    expect(m.delivered).toBe(80);
    expect(m.failed).toBe(0);
    expect(m.retries).toBe(1);
    expect(m.sinkMetrics).toEqual({ requests: 2 });
    expect(m.lastError).toContain('HTTP 500');
    expect(m.lastError).toContain('database is restarting');
    expect(log.some((l) => l.startsWith('warn') && l.includes('retry 1'))).toBe(true);
    const reqs = server.to(path);
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.raw.equals(reqs[0]!.raw)).toBe(true);
    expect(parseBody(reqs[1]!)).toEqual(dicts(records));
  });

  it('honours Retry-After seconds on 429 (measured by the server)', async () => {
    const path = freshPath();
    server.handler = (req, res) => {
      if (server.to(path).length === 1) res.writeHead(429, { 'retry-after': '1' }).end('slow down');
      else res.writeHead(200).end();
      void req;
    };
    const { m } = await run({ url: server.url + path }, makeRecords(10), {
      batchSize: 10,
      retryCount: 2,
      retryDelayS: 0.01,
    });
    expect(m.delivered).toBe(10);
    expect(m.retries).toBe(1);
    const [first, second] = server.to(path);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
  });

  it('retries 408 and 503 too', async () => {
    const path = freshPath();
    const statuses = [408, 503];
    server.handler = (_req, res) => {
      const s = statuses.shift();
      res.writeHead(s ?? 200).end();
    };
    const { m } = await run({ url: server.url + path }, makeRecords(5), {
      batchSize: 5,
      retryCount: 3,
      retryDelayS: 0.01,
    });
    expect(m.retries).toBe(2);
    expect(m.delivered).toBe(5);
    expect(server.to(path)).toHaveLength(3);
  });

  it('does not retry a 400: the batch fails with the status and the start of the body', async () => {
    const path = freshPath();
    server.handler = (_req, res) =>
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'field "value" must be a string', pad: 'x'.repeat(1000) }));
    const { m, log } = await run({ url: server.url + path }, makeRecords(20), {
      batchSize: 20,
      retryCount: 3,
      retryDelayS: 0.01,
    });
    expect(m.failed).toBe(20);
    expect(m.delivered).toBe(0);
    expect(m.retries).toBe(0);
    expect(m.failedBatches).toBe(1);
    expect(server.to(path)).toHaveLength(1);
    expect(m.lastError).toContain('HTTP 400');
    expect(m.lastError).toContain('field \\"value\\" must be a string');
    expect(m.lastError!.length).toBeLessThan(400); // only the first ~200 characters of the body
    expect(log.some((l) => l.startsWith('error') && l.includes('HTTP 400'))).toBe(true);
  });

  it('does not follow a redirect (the body would go elsewhere) and does not retry it', async () => {
    const path = freshPath();
    server.handler = (_req, res) => res.writeHead(301, { location: '/elsewhere' }).end();
    const { m } = await run({ url: server.url + path }, makeRecords(4), { retryCount: 2 });
    expect(m.failed).toBe(4);
    expect(server.to(path)).toHaveLength(1);
    expect(server.to('/elsewhere')).toHaveLength(0);
    expect(m.lastError).toContain('301 redirect to /elsewhere');
  });

  it('a server that never answers hits timeoutS; the batch fails after its retries', async () => {
    const path = freshPath();
    server.handler = () => {}; // reads the body, never answers
    const started = performance.now();
    const { m } = await run({ url: server.url + path, timeoutS: 0.3 }, makeRecords(15), {
      batchSize: 15,
      retryCount: 2,
      retryDelayS: 0.01,
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(m.failed).toBe(15);
    expect(m.delivered).toBe(0);
    expect(m.retries).toBe(2);
    expect(server.to(path)).toHaveLength(3);
    expect(m.lastError).toContain('no complete response within 0.3 s');
  });

  it("cancels a hung request when the write request's signal fires (the shutdown deadline)", async () => {
    const path = freshPath();
    let closed = false;
    server.handler = (_req, _res, msg) => {
      msg.socket.on('close', () => (closed = true));
    }; // never answers
    const sink = new WebhookSink({ url: server.url + path, timeoutS: 30 });
    await sink.connect();
    const deadline = new AbortController();
    const records = makeRecords(5);
    const batch = RecordBatch.of(records);
    const started = performance.now();
    const writing = sink.write({
      batchId: 1,
      attempt: 0,
      size: 5,
      records,
      batch,
      signal: deadline.signal,
    });
    setTimeout(() => deadline.abort(new Error('shutdown timeout of 0.2s reached')), 200);
    const err = await writing.catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(SinkWriteError);
    expect((err as SinkWriteError).retryable).toBe(false);
    expect((err as Error).message).toBe(
      `POST ${server.url}${path}: cancelled, the sink is stopping`,
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(true);
    await sink.close();
  });

  it('a runner stopped with a request hanging returns at its deadline, the batch counted failed', async () => {
    const path = freshPath();
    server.handler = () => {}; // never answers
    const started = performance.now();
    const sink = new WebhookSink({ url: server.url + path, timeoutS: 30 });
    const runner = new SinkRunner(sink, { throughput: { batchSize: 10 } });
    await runner.start();
    void runner.enqueue(makeRecords(10));
    await runner.stop(0.3);
    expect(performance.now() - started).toBeLessThan(5000);
    const m = runner.metrics();
    expectAccounting(m);
    expect(m).toMatchObject({ delivered: 0, failed: 10, buffered: 0 });
    expect(m.lastError).toContain('shutdown timeout of 0.3s reached');
  });

  it('retries after a connection reset', async () => {
    const path = freshPath();
    server.handler = (_req, res, msg) => {
      if (server.to(path).length === 1) msg.socket.destroy();
      else res.writeHead(200).end();
    };
    const records = makeRecords(30);
    const { m } = await run({ url: server.url + path }, records, {
      batchSize: 30,
      retryCount: 2,
      retryDelayS: 0.01,
    });
    expect(m.retries).toBe(1);
    expect(m.delivered).toBe(30);
    expect(m.lastError).toMatch(/ECONNRESET|socket hang up/);
    expect(server.recordsAt(path).slice(30)).toEqual(dicts(records));
  });

  it('an endpoint nobody listens on is a SinkConnectError at connect, naming the url', async () => {
    const closed = await RecordingServer.start();
    const url = `${closed.url}/gone?token=abc`;
    await closed.close();
    const sink = new WebhookSink({ url });
    const err = await sink.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkConnectError);
    expect(String(err)).toContain(`cannot reach ${closed.url}/gone?…: ECONNREFUSED`);
    expect(String(err)).toContain('check url');
  });

  it('counts a refused connection as failed after its retries (the server went away after connect)', async () => {
    const closed = await RecordingServer.start();
    const url = `${closed.url}/gone`;
    const logger = captureLogger();
    const sink = new WebhookSink({ url });
    const runner = new SinkRunner(sink, {
      logger,
      throughput: { batchSize: 10, retryCount: 1, retryDelayS: 0.01 },
    });
    await runner.start();
    await closed.close();
    await runner.enqueue(makeRecords(25), true);
    await runner.stop(60);
    const m = runner.metrics();
    expectAccounting(m);
    expect(m.failed).toBe(25);
    expect(m.failedBatches).toBe(3);
    expect(m.retries).toBe(3);
    expect(m.lastError).toContain('ECONNREFUSED');
  });
});

describe('webhook: secrets', () => {
  const token = 'Bearer s3cr3t-t0ken-4a2b9c';
  const apiKey = 'key-7f1e2d3c4b5a';

  it('never logs the Authorization or API-key values, even when the server echoes them', async () => {
    const path = freshPath();
    // The server echoes the request headers in its error body: the worst case for a log line.
    server.handler = (req, res) => {
      const status = server.to(path).length === 1 ? 503 : 401;
      res.writeHead(status).end(`denied: ${JSON.stringify(req.headers)}`);
    };
    const { m, log, sink } = await run(
      { url: server.url + path, headers: { Authorization: token, 'X-API-Key': apiKey } },
      makeRecords(5),
      { batchSize: 5, retryCount: 2, retryDelayS: 0.01 },
    );
    const [first] = server.to(path);
    expect(first!.headers.authorization).toBe(token);
    expect(first!.headers['x-api-key']).toBe(apiKey);
    expect(m.failed).toBe(5);
    expect(m.lastError).toContain('HTTP 401');
    expect(log.length).toBeGreaterThanOrEqual(2);
    const everything = [...log, m.lastError!, sink.describe()].join('\n');
    expect(everything).toContain('denied');
    expect(everything).not.toContain('s3cr3t-t0ken-4a2b9c');
    expect(everything).not.toContain(apiKey);
  });

  it('describe() shows the URL without credentials or query values', () => {
    const sink = new WebhookSink({
      url: 'https://ingest:pa55w0rd@example.com/api/in?code=abc123xyz',
    });
    expect(sink.describe()).toBe('webhook POST https://example.com/api/in?…');
    // Registered with the sink: its run redacts them from every log line and error.
    expect(sink.secrets).toEqual(['pa55w0rd', 'abc123xyz']);
  });
});

describe('webhook: TLS', () => {
  let tls: RecordingServer | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  beforeAll(async () => {
    dir = await tempDir();
    const { key, cert } = makeCertificates(dir.path);
    tls = await RecordingServer.start({
      key: readFileSync(key, 'utf8'),
      cert: readFileSync(cert, 'utf8'),
    });
  });
  afterAll(async () => {
    await tls?.close();
    await dir?.remove();
  });

  it('verifies certificates by default: a self-signed one fails at once, no retries', async () => {
    const { m } = await run({ url: `${tls!.url}/secure` }, makeRecords(5), {
      retryCount: 3,
      retryDelayS: 0.01,
    });
    expect(m.failed).toBe(5);
    expect(m.retries).toBe(0);
    expect(m.lastError).toContain('TLS certificate rejected');
    expect(tls!.to('/secure')).toHaveLength(0);
  });

  it('delivers over TLS with verification explicitly off, and warns about it', async () => {
    const records = makeRecords(12);
    const { m, log } = await run(
      { url: `${tls!.url}/insecure`, tlsRejectUnauthorized: false },
      records,
    );
    expect(m.delivered).toBe(12);
    expect(tls!.recordsAt('/insecure')).toEqual(dicts(records));
    expect(log.some((l) => l.startsWith('warn') && l.includes('verification is OFF'))).toBe(true);
  });
});

describe('webhook: options', () => {
  it('reports every problem at once', () => {
    let err: unknown;
    try {
      new WebhookSink({
        url: 'ftp://example.com/x',
        timeoutS: 0,
        method: 'PATCH' as never,
        headers: { 'bad header': 'x' },
        gzipp: true,
      } as WebhookSinkOptions);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['gzipp', 'headers.bad header', 'method', 'timeoutS', 'url']);
    expect((err as ConfigError).message).toContain("did you mean 'gzip'");
  });

  it('requires url', () => {
    // url is required in WebhookSinkOptions: only JavaScript or YAML callers can leave it out.
    expect(() => new WebhookSink({} as WebhookSinkOptions)).toThrow('url: is required');
  });

  it('rejects throughput options among its own: they go beside the sink', () => {
    expect(
      () => new WebhookSink({ url: 'https://example.com/in', batchSize: 5 } as WebhookSinkOptions),
    ).toThrow(
      "batchSize: is a throughput option: give it beside the sink (sim.addSink(sink, { batchSize: … })), not in the sink's options",
    );
  });

  it('reads the YAML keys of the original', () => {
    // The registry splits one YAML mapping into the sink's options and the throughput beside it.
    const { throughput, own } = splitSinkConfig({
      url: 'https://example.com/ingest',
      timeout_s: 5,
      tls_reject_unauthorized: false,
      rate_hz: 0.5,
      batch_size: 100,
      headers: { Authorization: 'Bearer yaml-token-123' },
    });
    const sink = WebhookSink.fromConfig(own, 'sinks[0].');
    expect(resolveThroughput(throughput)).toMatchObject({ rateHz: 0.5, batchSize: 100 });
    expect(sink.secrets).toEqual(['Bearer yaml-token-123', 'yaml-token-123']);
    expect(sink.describe()).toBe('webhook POST https://example.com/ingest');
    expect(() => WebhookSink.fromConfig({ url: 'x', timeout_s: -1 }, 'sinks[3].')).toThrow(
      /sinks\[3\]\.url: is not a valid URL[\s\S]*sinks\[3\]\.timeout_s: must be > 0/,
    );
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:03 GMT', now)).toBe(3);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
