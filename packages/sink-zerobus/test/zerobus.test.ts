import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  IotSimError,
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  type Logger,
  type SensorRecordDict,
} from '@iotsim/core';
import {
  describeSinkConformance,
  expectAccounting,
  makeRecords,
  runThrough,
  tempDir,
  writeRequest,
} from '@iotsim/test-utils';
import {
  StreamBrokenError,
  TokenError,
  ZerobusSink,
  type ZerobusSinkOptions,
} from '../src/index.js';
import { resolveCredentials } from '../src/internal/credentials.js';
import { TokenEndpoint, ZerobusServer } from './zerobus-server.js';

const TABLE = 'main.iot.sensor_data';
const CLIENT_ID = 'sp-7f3a';
const SECRET = 'dose-s3cret-Zq81';

let tokens: TokenEndpoint;
let server: ZerobusServer;

beforeAll(async () => {
  tokens = new TokenEndpoint(CLIENT_ID, SECRET);
  await tokens.start();
  server = new ZerobusServer(tokens, TABLE);
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  await tokens?.stop();
});

function sink(options: Partial<ZerobusSinkOptions> = {}): ZerobusSink {
  return new ZerobusSink({
    serverEndpoint: server.endpoint,
    tableName: TABLE,
    workspaceUrl: tokens.url,
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    ...options,
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

const stringMeta = (d: SensorRecordDict): SensorRecordDict => ({
  ...d,
  metadata: Object.fromEntries(
    Object.entries(d.metadata).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  ),
});

describeSinkConformance('zerobus (json)', {
  create: () => {
    server.reset();
    return sink();
  },
  readBack: async () => [...server.committed],
});

describeSinkConformance('zerobus (proto)', {
  create: () => {
    server.reset();
    return sink({ recordType: 'proto' });
  },
  readBack: async () => [...server.committed],
  expected: stringMeta,
});

describe('zerobus: protocol', () => {
  it('numbers requests 0, 1, 2, … on a stream and sends the token and table header', async () => {
    server.reset();
    tokens.requests.length = 0;
    const records = makeRecords(300, { seed: 21 });
    const m = await runThrough(sink({ maxRecordsPerRequest: 25 }), records, {
      throughput: { batchSize: 100, rateHz: 0.001 },
    });
    expect(m.delivered).toBe(300);
    expect(server.rejections).toEqual([]);
    expect(server.streams).toHaveLength(1);
    expect(server.streams[0]!.offsets).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(server.committed).toEqual(records.map((r) => r.toDict()));
    const form = tokens.requests[0]!.form;
    expect(form.grant_type).toBe('client_credentials');
    expect(form.scope).toBe('all-apis');
    expect(form.resource).toBe('api://databricks/workspaces/127/zerobusDirectWriteApi');
    const details = JSON.parse(form.authorization_details!) as Array<Record<string, unknown>>;
    expect(details.at(-1)).toMatchObject({
      object_type: 'TABLE',
      object_full_path: TABLE,
      operations: ['zerobuswrite'],
    });
  });

  it('re-creates a stream the server fails mid-batch and resends only what was not acknowledged', async () => {
    server.reset();
    server.faults = [
      { afterRequests: 3, kind: 'error' },
      { afterRequests: 9, kind: 'error' },
    ];
    const { logger, lines } = capture();
    const records = makeRecords(200, { seed: 22 });
    const s = sink({ maxRecordsPerRequest: 10 });
    const runner = new SinkRunner(s, { logger, throughput: { batchSize: 50 } });
    await runner.start();
    void runner.enqueue(records);
    await runner.stop(60);
    const m = runner.metrics();
    expectAccounting(m);
    expect(m.delivered).toBe(200);
    expect(m.failed).toBe(0);
    expect(m.retries).toBe(0); // recovered inside the write
    expect(server.streams.length).toBe(3);
    expect(server.committed).toEqual(records.map((r) => r.toDict())); // no loss, no duplicates
    expect(server.streams.every((st) => st.offsets.every((o, i) => o === i))).toBe(true);
    expect(lines.some((l) => /re-creating the stream/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('moves to a new stream after a close_stream_signal', async () => {
    server.reset();
    server.faults = [{ afterRequests: 2, kind: 'signal' }];
    const records = makeRecords(100, { seed: 23 });
    const m = await runThrough(sink({ maxRecordsPerRequest: 20 }), records, {
      throughput: { batchSize: 20 },
    });
    expect(m.delivered).toBe(100);
    expect(server.streams.length).toBe(2);
    expect(server.committed).toEqual(records.map((r) => r.toDict()));
  });

  it('reports exactly what was acknowledged when recovery is exhausted', async () => {
    server.reset();
    server.faults = [2, 3, 4].map((n) => ({ afterRequests: n, kind: 'error' as const }));
    const records = makeRecords(40, { seed: 24 });
    const s = sink({ maxRecordsPerRequest: 10, maxStreamRecoveries: 2 });
    const m = await runThrough(s, records, {
      throughput: { batchSize: 40, rateHz: 0.001, retryCount: 0 },
    });
    expectAccounting(m);
    expect(m.delivered).toBe(10);
    expect(m.failed).toBe(30);
    expect(server.committed).toEqual(records.slice(0, 10).map((r) => r.toDict()));
  });

  it('fails to connect with a clear error when the token endpoint rejects the credentials', async () => {
    const wrong = 'wrong-secret-991';
    const { logger, lines } = capture();
    const runner = new SinkRunner(sink({ clientSecret: wrong }), { logger });
    const error = await runner.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SinkConnectError);
    const text = (error as Error).message;
    expect(text).toMatch(/HTTP 401/);
    expect(text).toContain(`${tokens.url}/oidc/v1/token`);
    expect(text).toContain(CLIENT_ID);
    expect(`${text}\n${lines.join('\n')}`).not.toContain(wrong);
  });

  it('fails to connect when the gRPC server is down, naming the endpoint and table', async () => {
    const error = await sink({ serverEndpoint: 'http://127.0.0.1:9', ackTimeoutS: 5 })
      .connect()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(SinkConnectError);
    expect((error as Error).message).toMatch(
      /cannot create a stream to main\.iot\.sensor_data at 127\.0\.0\.1:9/,
    );
  });
});

describe('zerobus: what the sink says about itself, and how failures are classified', () => {
  afterAll(() => {
    tokens.failWith = undefined;
  });

  it('names itself with the version in package.json (x-zerobus-sdk and the gRPC user agent)', async () => {
    server.reset();
    const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
    const id = `iotsim-sink-zerobus/${(JSON.parse(text) as { version: string }).version}`;
    const m = await runThrough(sink(), makeRecords(20, { seed: 30 }));
    expect(m.delivered).toBe(20);
    expect(server.clients).toHaveLength(1);
    expect(server.clients[0]!.sdk).toBe(id);
    expect(String(server.clients[0]!.userAgent).split(' ')[0]).toBe(id);
  });

  /**
   * One batch of 40 records after `inject` (run once connected, before the batch): the error a
   * direct write throws, and the runner's metrics for the same failure (retry_count 1).
   */
  async function failure(
    inject: () => void,
  ): Promise<{ error: unknown; metrics: ReturnType<SinkRunner['metrics']> }> {
    const records = makeRecords(40, { seed: 31 });
    const options = { maxRecordsPerRequest: 10, maxStreamRecoveries: 2 };
    server.reset();
    tokens.failWith = undefined;
    const direct = sink(options);
    await direct.connect();
    inject();
    const error = await direct.write(writeRequest(records)).catch((e: unknown) => e);
    await direct.close();

    server.reset();
    tokens.failWith = undefined;
    const runner = new SinkRunner(sink(options), {
      throughput: { batchSize: 40, retryCount: 1, retryDelayS: 0.01 },
    });
    await runner.start();
    inject();
    void runner.enqueue(records);
    await runner.stop(30);
    tokens.failWith = undefined;
    return { error, metrics: runner.metrics() };
  }

  /** The server drops the stream and revokes its token; new tokens are refused with `status`. */
  const revoke = (status: number) => () => {
    server.faults = [{ afterRequests: 1, kind: 'error' }];
    tokens.issued.clear();
    tokens.failWith = status;
  };

  it('a token refused with HTTP 401 while re-creating the stream fails the batch at once (TokenError cause, not retried)', async () => {
    const { error, metrics } = await failure(revoke(401));
    expect(error).toBeInstanceOf(SinkWriteError);
    expect(error).toMatchObject({ retryable: false, delivered: 0 });
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(TokenError);
    expect(cause).toBeInstanceOf(IotSimError);
    expect(cause).toMatchObject({ name: 'TokenError', retryable: false });
    expect((error as Error).message).toMatch(/HTTP 401/);
    expect(metrics).toMatchObject({ delivered: 0, failed: 40, retries: 0 });
  });

  it('a token endpoint answering HTTP 503 is retried: recoveries, then the runner', async () => {
    const { error, metrics } = await failure(revoke(503));
    expect(error).toBeInstanceOf(SinkWriteError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).cause).toBeInstanceOf(TokenError);
    expect((error as Error).cause).toMatchObject({ retryable: true });
    expect(metrics).toMatchObject({ delivered: 0, failed: 40, retries: 1 });
  });

  it('PERMISSION_DENIED from the server is not retried (StreamBrokenError cause with the gRPC code)', async () => {
    const { error, metrics } = await failure(() => {
      server.faults = [{ afterRequests: 1, kind: 'denied' }];
    });
    expect(error).toBeInstanceOf(SinkWriteError);
    expect(error).toMatchObject({ retryable: false });
    const cause = (error as Error).cause;
    expect(cause).toBeInstanceOf(StreamBrokenError);
    expect(cause).toBeInstanceOf(IotSimError);
    expect(cause).toMatchObject({ name: 'StreamBrokenError', code: 7 });
    expect(metrics).toMatchObject({ delivered: 0, failed: 40, retries: 0 });
  });

  it('UNAVAILABLE past max_stream_recoveries is retried by the runner, which then delivers everything', async () => {
    const { error, metrics } = await failure(() => {
      server.faults = [1, 2, 3].map((n) => ({ afterRequests: n, kind: 'error' as const }));
    });
    expect(error).toBeInstanceOf(SinkWriteError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).cause).toMatchObject({ name: 'StreamBrokenError', code: 14 });
    expect(metrics).toMatchObject({ delivered: 40, failed: 0, retries: 1 });
  });

  it('a token refused at connect is a SinkConnectError whose cause is the TokenError', async () => {
    const error = await sink({ clientSecret: 'wrong-secret-992' })
      .connect()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkConnectError);
    expect((error as Error).cause).toBeInstanceOf(TokenError);
    expect((error as Error).cause).toMatchObject({ retryable: false });
  });
});

describe('zerobus: options and credentials', () => {
  it.each([
    ['main.iot', /three parts/],
    ['main..t', /schema name is empty/],
    ['a.b.c.d', /three parts/],
    ['main.iot.bad name', /table name "bad name"/],
  ])('rejects table_name %s', (table, message) => {
    expect(() =>
      ZerobusSink.fromConfig(
        { server_endpoint: 'x.zerobus.y.cloud.databricks.com', table_name: table },
        'sinks[0].',
      ),
    ).toThrow(message);
  });

  it('requires server_endpoint and table_name, reporting both', () => {
    expect(() => ZerobusSink.fromConfig({}, 'sinks[1].')).toThrow(
      /sinks\[1\]\.server_endpoint: is required[\s\S]*sinks\[1\]\.table_name: is required/,
    );
  });

  it('resolves explicit options before the environment before the profile file', async () => {
    const dir = await tempDir('iotsim-dbcfg-');
    try {
      const file = join(dir.path, 'cfg');
      await writeFile(
        file,
        '; comment\n[DEFAULT]\nhost = https://file-host.example\nclient_id = file-id\nclient_secret = file-secret\n\n[other]\nhost = other.example\nclient_id: other-id\nclient_secret = other-secret\n',
      );
      const env = { DATABRICKS_CONFIG_FILE: file, DATABRICKS_CLIENT_ID: 'env-id' };
      const c = await resolveCredentials({ clientSecret: 'opt-secret' }, env);
      expect([c.workspaceUrl, c.clientId, c.clientSecret]).toEqual([
        'https://file-host.example',
        'env-id',
        'opt-secret',
      ]);
      const o = await resolveCredentials({ profile: 'other' }, { DATABRICKS_CONFIG_FILE: file });
      expect([o.workspaceUrl, o.clientId, o.clientSecret]).toEqual([
        'https://other.example',
        'other-id',
        'other-secret',
      ]);
      await expect(
        resolveCredentials({ profile: 'nope' }, { DATABRICKS_CONFIG_FILE: file }),
      ).rejects.toThrow(/profile \[nope\] is not in/);
    } finally {
      await dir.remove();
    }
  });

  it('reads ~/.databrickscfg from HOME and lists where it looked when credentials are missing', async () => {
    const home = await tempDir('iotsim-home-');
    try {
      await writeFile(
        join(home.path, '.databrickscfg'),
        `[DEFAULT]\nhost = ${tokens.url}\nclient_id = ${CLIENT_ID}\nclient_secret = ${SECRET}\n`,
      );
      const c = await resolveCredentials({}, { HOME: home.path });
      expect(c.clientSecret).toBe(SECRET);
      expect(c.sources.clientSecret).toContain('.databrickscfg');
      const err = await resolveCredentials({}, { HOME: join(home.path, 'missing') }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as Error).message;
      expect(text).toMatch(
        /no client_secret found; looked in the option client_secret, the environment variable DATABRICKS_CLIENT_SECRET and .*\.databrickscfg \(not found\)/,
      );
      expect(text).toMatch(/no workspace_url found/);
    } finally {
      await home.remove();
    }
  });

  it('connects with credentials from the profile file', async () => {
    server.reset();
    const dir = await tempDir('iotsim-dbcfg-');
    const before = process.env.DATABRICKS_CONFIG_FILE;
    try {
      const file = join(dir.path, 'databrickscfg');
      await writeFile(
        file,
        `[ingest]\nhost = ${tokens.url}\nclient_id = ${CLIENT_ID}\nclient_secret = ${SECRET}\n`,
      );
      process.env.DATABRICKS_CONFIG_FILE = file;
      const s = new ZerobusSink({
        serverEndpoint: server.endpoint,
        tableName: TABLE,
        databricksProfile: 'ingest',
      });
      const m = await runThrough(s, makeRecords(10, { seed: 25 }));
      expect(m.delivered).toBe(10);
      expect(server.committed).toHaveLength(10);
    } finally {
      if (before === undefined) delete process.env.DATABRICKS_CONFIG_FILE;
      else process.env.DATABRICKS_CONFIG_FILE = before;
      await dir.remove();
    }
  });

  it('never shows the client secret in describe()', () => {
    const s = sink();
    expect(s.describe()).toBe(
      `zerobus → 127.0.0.1:${server.endpoint.split(':').at(-1)} table ${TABLE} (json, plaintext)`,
    );
    expect(s.describe()).not.toContain(SECRET);
  });
});
