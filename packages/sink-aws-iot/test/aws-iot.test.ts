import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  SensorRecord,
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  RecordBatch,
  resolveThroughput,
  splitSinkConfig,
  type Logger,
  type SinkMetrics,
  type ThroughputOptions,
  type WriteRequest,
} from '@iotsim/core';
import { describeSinkConformance, dicts, expectAccounting, makeRecords } from '@iotsim/test-utils';
import { AWSIoTSink, type AWSIoTSinkOptions } from '../src/index.js';
import { MAX_PAYLOAD_BYTES } from '../src/aws-iot-sink.js';
import { FakeIoTData, SIGV4_AUTHORIZATION, payloadRecords } from './fake-iot-data.js';

const REGION = 'eu-central-1';
const KEY_ID = 'AKIAIOTSIMTEST000001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYiotsimSECRET';
const TEMP_KEY_ID = 'ASIAIOTSIMTEMP000002';
const TEMP_SECRET = 'tempSecretKeyForIotsimTests0123456789abcd';
const SESSION_TOKEN = 'FwoGZXIvYXdzEIotsimSessionToken//////////wEaDExample';

let fake: FakeIoTData;
beforeAll(async () => {
  fake = await FakeIoTData.start(REGION, {
    [KEY_ID]: { secret: SECRET },
    [TEMP_KEY_ID]: { secret: TEMP_SECRET, sessionToken: SESSION_TOKEN },
  });
});
afterAll(async () => {
  await fake.close();
});

let topics = 0;
/** A topic no other test publishes to. */
function freshTopic(prefix = 'test'): string {
  return `${prefix}/t${++topics}`;
}

function options(extra: Partial<AWSIoTSinkOptions>): AWSIoTSinkOptions {
  return {
    endpoint: fake.endpoint,
    region: REGION,
    awsAccessKeyId: KEY_ID,
    awsSecretAccessKey: SECRET,
    ...extra,
  };
}

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function run(
  opts: AWSIoTSinkOptions,
  records: readonly SensorRecord[],
  throughput: ThroughputOptions = {},
): Promise<{ m: SinkMetrics; log: string[] }> {
  const logger = captureLogger();
  const runner = new SinkRunner(new AWSIoTSink(opts), { logger, throughput });
  await runner.start();
  await runner.enqueue(records, true);
  await runner.stop(60);
  const m = runner.metrics();
  expectAccounting(m);
  expect(m.buffered).toBe(0);
  return { m, log: logger.lines };
}

/** A write request as the runner makes it: `attempt` > 0 with the same `batchId` is a retry. */
function request(records: readonly SensorRecord[], batchId: number, attempt = 0): WriteRequest {
  const batch = RecordBatch.of(records);
  const signal = new AbortController().signal;
  return { batchId, attempt, size: batch.size, records, batch, signal };
}

const conformanceTopics = new Map<AWSIoTSink, string>();
describeSinkConformance('aws_iot (batch mode)', {
  create() {
    const topic = freshTopic('conformance');
    fake.fault = () => undefined;
    const sink = new AWSIoTSink(options({ topic }));
    conformanceTopics.set(sink, topic);
    return sink;
  },
  async readBack(sink) {
    return fake.records(conformanceTopics.get(sink)!);
  },
});

describeSinkConformance('aws_iot (record mode, 4 publishes in parallel)', {
  ordered: false,
  count: 300,
  create() {
    const topic = freshTopic('conformance-record');
    fake.fault = () => undefined;
    const sink = new AWSIoTSink(options({ topic, payloadMode: 'record', concurrency: 4 }));
    conformanceTopics.set(sink, topic);
    return sink;
  },
  async readBack(sink) {
    const got = fake.accepted(conformanceTopics.get(sink)!);
    for (const r of got)
      expect(JSON.parse(r.payload.toString()) as unknown).not.toBeInstanceOf(Array);
    return fake.records(conformanceTopics.get(sink)!);
  },
});

describe('aws_iot: the Publish request', () => {
  it('is SigV4-signed for iotdata in the region, on /topics/<topic>?qos=1, with the JSON array', async () => {
    const topic = freshTopic('shape');
    const records = makeRecords(40);
    const { m } = await run(options({ topic }), records, { batchSize: 40 });
    expect(m.delivered).toBe(40);
    const [req, ...rest] = fake.requests.filter((r) => r.topic === topic);
    expect(rest).toHaveLength(0);
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe(`/topics/${encodeURIComponent(topic)}?qos=1`);
    expect(req!.headers.authorization).toMatch(SIGV4_AUTHORIZATION);
    const [, keyId, day, region, service] = SIGV4_AUTHORIZATION.exec(req!.headers.authorization!)!;
    expect([keyId, region, service]).toEqual([KEY_ID, REGION, 'iotdata']);
    expect(req!.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(req!.headers['x-amz-date']!.slice(0, 8)).toBe(day);
    expect(req!.authProblem).toBeUndefined(); // the fake recomputed the signature
    expect(req!.payload.toString('utf8')).toBe(JSON.stringify(dicts(records)));
  });

  it('sends qos 0 when asked, and signs with a session token', async () => {
    const topic = freshTopic('qos0');
    const { m } = await run(
      {
        endpoint: fake.endpoint,
        region: REGION,
        awsAccessKeyId: TEMP_KEY_ID,
        awsSecretAccessKey: TEMP_SECRET,
        awsSessionToken: SESSION_TOKEN,
        topic,
        qos: 0,
      },
      makeRecords(5),
    );
    expect(m.delivered).toBe(5);
    const [req] = fake.accepted(topic);
    expect(req!.url).toBe(`/topics/${encodeURIComponent(topic)}?qos=0`);
    expect(req!.headers['x-amz-security-token']).toBe(SESSION_TOKEN);
    expect(req!.headers.authorization).toContain('x-amz-security-token');
  });

  it('is rejected (403, not retried) when signed for the wrong region', async () => {
    const topic = freshTopic('wrong-region');
    const { m } = await run(options({ topic, region: 'us-west-2' }), makeRecords(10), {
      retryCount: 3,
      retryDelayS: 0.01,
    });
    expect(m.failed).toBe(10);
    expect(m.retries).toBe(0);
    expect(m.lastError).toContain('HTTP 403');
    expect(m.lastError).toContain("not 'us-west-2'");
    expect(m.lastError).toContain('region matches the endpoint');
    expect(fake.accepted(topic)).toHaveLength(0);
  });

  it('is rejected when the secret is wrong: the fake really checks the signature', async () => {
    const topic = freshTopic('wrong-secret');
    const { m } = await run(options({ topic, awsSecretAccessKey: `${SECRET}x` }), makeRecords(3), {
      retryCount: 1,
    });
    expect(m.failed).toBe(3);
    expect(m.lastError).toContain('signature we calculated does not match');
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(1);
  });

  it('uses the default credential chain when no keys are given', async () => {
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    try {
      const topic = freshTopic('chain');
      const { m } = await run({ endpoint: fake.endpoint, region: REGION, topic }, makeRecords(4));
      expect(m.delivered).toBe(4);
      expect(fake.accepted(topic)[0]!.headers.authorization).toContain(`Credential=${KEY_ID}/`);
    } finally {
      process.env = saved;
    }
  });

  it('fails at connect with a clear error when the chain finds no credentials', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_CONFIG_FILE = '/nonexistent/iotsim/config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/iotsim/credentials';
    try {
      const sink = new AWSIoTSink({ endpoint: fake.endpoint, region: REGION });
      const err = await sink.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SinkConnectError);
      expect((err as Error).message).toContain('no AWS credentials for http://127.0.0.1:');
      expect((err as Error).message).toContain('aws_access_key_id');
    } finally {
      process.env = saved;
    }
  });
});

describe('aws_iot: topics and payloads', () => {
  it('publishes one JSON array per distinct topic of a template, in order', async () => {
    const prefix = freshTopic('tpl');
    const records = makeRecords(200, { industries: ['mining', 'aerospace', 'utilities'] });
    const { m } = await run(options({ topic: `${prefix}/{industry}/{device_id}` }), records, {
      batchSize: 200,
    });
    expect(m.delivered).toBe(200);
    const mine = fake.accepted().filter((r) => r.topic.startsWith(`${prefix}/`));
    const expectedTopics = [
      ...new Set(records.map((r) => `${prefix}/${r.industry}/${r.device_id}`)),
    ];
    expect(mine.map((r) => r.topic)).toEqual(expect.arrayContaining(expectedTopics));
    expect(mine).toHaveLength(expectedTopics.length);
    for (const t of expectedTopics) {
      const want = records.filter((r) => `${prefix}/${r.industry}/${r.device_id}` === t);
      expect(fake.records(t)).toEqual(dicts(want));
    }
  });

  it('keeps substituted values inside one topic level (no /, +, #)', async () => {
    const prefix = freshTopic('sanitize');
    const base = makeRecords(1, { awkward: false })[0]!.toDict();
    const odd = SensorRecord.fromDict({ ...base, sensor_name: 'a/b+c#d "quoted", ü' });
    const { m } = await run(
      options({ topic: `${prefix}/{sensor_type}/{sensor_name}`, payloadMode: 'record' }),
      [odd],
    );
    expect(m.delivered).toBe(1);
    const [req] = fake.accepted().filter((r) => r.topic.startsWith(`${prefix}/`));
    expect(req!.topic).toBe(`${prefix}/${base.sensor_type}/a_b_c_d "quoted", ü`);
    expect(payloadRecords(req!.payload)).toEqual([odd.toDict()]);
  });

  it('splits a batch whose JSON would exceed 128 KB into several messages', async () => {
    const topic = freshTopic('split');
    const records = makeRecords(1500);
    const { m } = await run(options({ topic }), records, { batchSize: 1500 });
    expect(m.delivered).toBe(1500);
    expect(m.batches).toBe(1);
    const msgs = fake.accepted(topic);
    expect(msgs.length).toBeGreaterThanOrEqual(3);
    for (const r of msgs) expect(r.payload.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(fake.records(topic)).toEqual(dicts(records));
  });
});

describe('aws_iot: limits', () => {
  it('fails (not retried) a record whose JSON alone is over 128 KB, naming it', async () => {
    const topic = freshTopic('huge');
    const base = makeRecords(1, { awkward: false })[0]!.toDict();
    const huge = SensorRecord.fromDict({ ...base, metadata: { blob: 'x'.repeat(140_000) } });
    for (const payloadMode of ['batch', 'record'] as const) {
      const { m } = await run(options({ topic, payloadMode }), [huge], { retryCount: 2 });
      expect(m.failed).toBe(1);
      expect(m.retries).toBe(0);
      expect(m.lastError).toContain(
        `record ${base.device_id}/${base.sensor_name} is ${Buffer.byteLength(huge.toJsonString()) + (payloadMode === 'batch' ? 2 : 0)} bytes as JSON, over AWS IoT's 128 KB message limit`,
      );
    }
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(0);
  });
});

describe('aws_iot: split arrays', () => {
  it('publishes the parts of a split array in order; a failed part reports the parts before it', async () => {
    const topic = freshTopic('split-fail');
    let n = 0;
    fake.fault = (req) =>
      req.topic === topic && ++n === 2
        ? { status: 500, type: 'InternalFailureException' }
        : undefined;
    const records = makeRecords(1500);
    const sink = new AWSIoTSink(options({ topic }));
    await sink.connect();
    const err = await sink.write(request(records, 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    const firstPart = payloadRecords(fake.accepted(topic)[0]!.payload).length;
    expect(firstPart).toBeGreaterThan(0);
    expect((err as SinkWriteError).delivered).toBe(firstPart);
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(2); // stopped at the failure
    await sink.write(request(records.slice(firstPart), 1, 1)); // the runner's retry
    await sink.close();
    fake.fault = () => undefined;
    expect(fake.records(topic)).toEqual(dicts(records));
  });
});

describe('aws_iot: retries and failures', () => {
  it('retries a 429 ThrottlingException, honouring Retry-After (measured by the server)', async () => {
    const topic = freshTopic('throttle');
    fake.fault = (req) =>
      req.topic === topic && fake.requests.filter((r) => r.topic === topic).length === 1
        ? {
            status: 429,
            type: 'ThrottlingException',
            message: 'Rate exceeded',
            headers: { 'retry-after': '1' },
          }
        : undefined;
    const records = makeRecords(30);
    const { m } = await run(options({ topic }), records, {
      retryCount: 2,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.delivered).toBe(30);
    expect(m.retries).toBe(1);
    expect(m.lastError).toContain('ThrottlingException, HTTP 429');
    const [first, second] = fake.requests.filter((r) => r.topic === topic);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1000);
    expect(fake.records(topic)).toEqual(dicts(records));
  });

  it('retries 500 InternalFailureException and a plain-text 502', async () => {
    const topic = freshTopic('5xx');
    let n = 0;
    fake.fault = (req) => {
      if (req.topic !== topic) return undefined;
      n++;
      if (n === 1) return { status: 500, type: 'InternalFailureException' };
      if (n === 2) return { status: 502, raw: '<html>Bad Gateway</html>' };
      return undefined;
    };
    const { m } = await run(options({ topic }), makeRecords(20), {
      retryCount: 3,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.delivered).toBe(20);
    expect(m.retries).toBe(2);
    expect(m.lastError).toContain('HTTP 502');
    expect(fake.accepted(topic)).toHaveLength(1);
  });

  it('does not retry a 403 ForbiddenException', async () => {
    const topic = freshTopic('forbidden');
    fake.fault = (req) =>
      req.topic === topic
        ? { status: 403, type: 'ForbiddenException', message: 'not authorized to iot:Publish' }
        : undefined;
    const { m, log } = await run(options({ topic }), makeRecords(8), {
      retryCount: 3,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.failed).toBe(8);
    expect(m.retries).toBe(0);
    expect(m.lastError).toContain('ForbiddenException, HTTP 403');
    expect(m.lastError).toContain('not authorized to iot:Publish');
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(1);
    expect(log.some((l) => l.startsWith('error'))).toBe(true);
  });

  it('record mode, in order: reports the delivered prefix and re-sends only the rest', async () => {
    const topic = freshTopic('partial');
    let n = 0;
    fake.fault = (req) =>
      req.topic === topic && ++n === 4
        ? { status: 503, type: 'ServiceUnavailableException' }
        : undefined;
    const records = makeRecords(10);
    const sink = new AWSIoTSink(options({ topic, payloadMode: 'record', concurrency: 1 }));
    await sink.connect();
    const err = await sink.write(request(records, 7)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SinkWriteError);
    expect((err as SinkWriteError).delivered).toBe(3);
    expect((err as SinkWriteError).retryable).toBe(true);
    expect((err as SinkWriteError).message).toContain('ServiceUnavailableException, HTTP 503');
    await sink.write(request(records.slice(3), 7, 1)); // what the runner re-sends
    await sink.close();
    fake.fault = () => undefined;
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(11);
    expect(fake.records(topic)).toEqual(dicts(records)); // exactly once each, in order
  });

  it('skips published records only in retries of the same batch (batchId), not in a new one', async () => {
    const topic = freshTopic('batch-id');
    let n = 0;
    fake.fault = (req) =>
      req.topic === topic && ++n === 3
        ? { status: 500, type: 'InternalFailureException' }
        : undefined;
    const records = makeRecords(6);
    const sink = new AWSIoTSink(options({ topic, payloadMode: 'record', concurrency: 1 }));
    await sink.connect();
    const err = await sink.write(request(records, 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as SinkWriteError).delivered).toBe(2);
    // A new batch that happens to hold the same record objects is published in full.
    await sink.write(request(records, 2));
    await sink.close();
    fake.fault = () => undefined;
    expect(fake.records(topic)).toEqual(dicts([...records.slice(0, 2), ...records]));
  });

  it('record mode, in parallel: a failed publish is re-sent without duplicating the others', async () => {
    const topic = freshTopic('parallel');
    let n = 0;
    fake.fault = (req) =>
      req.topic === topic && ++n === 3
        ? { status: 500, type: 'InternalFailureException' }
        : undefined;
    const records = makeRecords(40);
    const { m } = await run(options({ topic, payloadMode: 'record', concurrency: 8 }), records, {
      batchSize: 40,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.delivered).toBe(40);
    expect(m.retries).toBe(1);
    const got = fake.records(topic);
    expect(got).toHaveLength(40);
    const key = (d: { device_id: string; sensor_name: string; timestamp: number }): string =>
      `${d.device_id}|${d.sensor_name}|${d.timestamp}`;
    expect(new Set(got.map(key)).size).toBe(40);
    expect(got.map(key).sort()).toEqual(dicts(records).map(key).sort());
  });

  it('batch mode with several topics: only the failed topic is re-published', async () => {
    const prefix = freshTopic('multi');
    const records = makeRecords(120, { industries: ['mining', 'aerospace'] });
    let failedOnce = false;
    fake.fault = (req) => {
      if (!failedOnce && req.topic === `${prefix}/aerospace`) {
        failedOnce = true;
        return { status: 503, type: 'ServiceUnavailableException' };
      }
      return undefined;
    };
    const { m } = await run(options({ topic: `${prefix}/{industry}` }), records, {
      batchSize: 120,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.delivered).toBe(120);
    expect(m.retries).toBe(1);
    for (const industry of ['mining', 'aerospace', 'smart_office']) {
      const want = records.filter((r) => r.industry === industry);
      expect(fake.records(`${prefix}/${industry}`)).toEqual(dicts(want));
    }
  });

  it('times out on a server that never answers, then fails after retries', async () => {
    const topic = freshTopic('hang');
    fake.fault = (req) => (req.topic === topic ? { status: 0, hang: true } : undefined);
    const { m } = await run(options({ topic, timeoutS: 0.3 }), makeRecords(6), {
      retryCount: 1,
      retryDelayS: 0.01,
    });
    fake.fault = () => undefined;
    expect(m.failed).toBe(6);
    expect(m.retries).toBe(1);
    expect(m.lastError).toContain('(ETIMEDOUT): no response within 0.3 s');
    expect(fake.requests.filter((r) => r.topic === topic)).toHaveLength(2);
  });

  it('retries a refused connection and counts the batch failed after retries', async () => {
    const gone = await FakeIoTData.start(REGION, {});
    const endpoint = gone.endpoint;
    await gone.close();
    const { m } = await run(options({ endpoint, topic: 'x' }), makeRecords(5), {
      retryCount: 2,
      retryDelayS: 0.01,
    });
    expect(m.failed).toBe(5);
    expect(m.retries).toBe(2);
    expect(m.lastError).toContain('ECONNREFUSED');
  });
});

describe('aws_iot: secrets', () => {
  it('never logs the secret key or session token, even when the server echoes them', async () => {
    const topic = freshTopic('secret');
    fake.fault = (req) =>
      req.topic === topic
        ? {
            status: 403,
            type: 'ForbiddenException',
            message: `denied for token ${String(req.headers['x-amz-security-token'])} secret ${TEMP_SECRET}`,
          }
        : undefined;
    const { m, log } = await run(
      {
        endpoint: fake.endpoint,
        region: REGION,
        awsAccessKeyId: TEMP_KEY_ID,
        awsSecretAccessKey: TEMP_SECRET,
        awsSessionToken: SESSION_TOKEN,
        topic,
      },
      makeRecords(3),
    );
    fake.fault = () => undefined;
    expect(m.failed).toBe(3);
    const all = [...log, m.lastError!].join('\n');
    expect(all).toContain('denied for token');
    expect(all).not.toContain(TEMP_SECRET);
    expect(all).not.toContain(SESSION_TOKEN);
  });
});

describe('aws_iot: options', () => {
  it('turns a plain host into an https endpoint, and describes without secrets', () => {
    const sink = new AWSIoTSink({
      endpoint: 'abc123-ats.iot.us-east-1.amazonaws.com',
      awsAccessKeyId: 'AKIAEXAMPLE',
      awsSecretAccessKey: 'describe-secret-123',
    });
    expect(sink.describe()).toBe(
      "aws_iot https://abc123-ats.iot.us-east-1.amazonaws.com topic 'iot/sensor-data' (us-east-1, qos 1, batch mode)",
    );
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      new AWSIoTSink({
        endpoint: 'ftp://x',
        topic: 'iot/{plant}/#',
        region: 'Frankfurt',
        awsAccessKeyId: 'AKIA',
        qos: 2 as 0,
        payloadMode: 'records' as 'record',
        concurrency: 0,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues.map((i) => i.path).sort()).toEqual([
      'awsSecretAccessKey',
      'concurrency',
      'endpoint',
      'payloadMode',
      'qos',
      'region',
      'topic',
      'topic',
    ]);
    expect((err as ConfigError).message).toContain('unknown placeholder {plant}');
    expect((err as ConfigError).message).toContain("did you mean 'record'");
  });

  it('reads the YAML keys of the original (throughput beside the sink)', () => {
    const { throughput, own } = splitSinkConfig({
      endpoint: 'abc123-ats.iot.eu-west-1.amazonaws.com',
      topic: 'plant/{industry}',
      region: 'eu-west-1',
      aws_access_key_id: 'AKIAYAML',
      aws_secret_access_key: 'yaml-secret-value',
      payload_mode: 'record',
      rate_hz: 1,
      batch_size: 50,
    });
    const sink = AWSIoTSink.fromConfig(own, 'sinks[1].');
    expect(resolveThroughput(throughput).batchSize).toBe(50);
    expect(sink.describe()).toContain('record mode');
    expect(sink.secrets).toEqual(['yaml-secret-value']);
    expect(() =>
      AWSIoTSink.fromConfig({ endpoint: 'h', aws_secret_access_key: 'x1y2z3' }, 'sinks[1].'),
    ).toThrow('sinks[1].aws_access_key_id: is required');
    // A message naming other options names them as the caller writes them.
    expect(() =>
      AWSIoTSink.fromConfig({ endpoint: 'h', aws_session_token: 'tok' }, 'sinks[1].'),
    ).toThrow('sinks[1].aws_session_token: needs aws_access_key_id and aws_secret_access_key');
    expect(() => new AWSIoTSink({ endpoint: 'h', awsSessionToken: 'tok' })).toThrow(
      'awsSessionToken: needs awsAccessKeyId and awsSecretAccessKey',
    );
  });

  it('says where a throughput option belongs when it is given in the sink options', () => {
    expect(() => new AWSIoTSink({ endpoint: 'h', batchSize: 50 } as AWSIoTSinkOptions)).toThrow(
      'batchSize: is a throughput option: give it beside the sink',
    );
  });

  it('registers the secret key and session token as its own secrets', () => {
    const sink = new AWSIoTSink(
      options({
        awsAccessKeyId: TEMP_KEY_ID,
        awsSecretAccessKey: TEMP_SECRET,
        awsSessionToken: SESSION_TOKEN,
      }),
    );
    expect([...sink.secrets].sort()).toEqual([SESSION_TOKEN, TEMP_SECRET].sort());
  });
});
