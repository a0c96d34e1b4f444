// KafkaSink's own logic with kafkajs faked at its boundary (the Kafka class) behind the producer
// port; the real kafkajs error classes, codec table and partitioners are used. The real broker is
// in kafka.services.test.ts.
import { createRequire } from 'node:module';
import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  ChannelTable,
  ConfigError,
  Frame,
  RecordBatch,
  recordToJson,
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  THROUGHPUT_DEFAULTS,
  type Logger,
  type SensorRecord,
  type SinkContext,
  type WriteRequest,
} from '@iotsim/core';
import { makeRecords } from '@iotsim/test-utils';
import type * as KafkaJs from 'kafkajs';

const real = createRequire(import.meta.url)('kafkajs') as typeof KafkaJs & Record<string, unknown>;
type ErrorClass = new (e: unknown, o?: Record<string, unknown>) => Error;
const errors = real as unknown as Record<string, ErrorClass>;

interface SendRequest {
  topic: string;
  acks: number;
  compression: number;
  messages: { key?: string; value: string }[];
}

const state = {
  configs: [] as KafkaJs.KafkaConfig[],
  producerConfigs: [] as KafkaJs.ProducerConfig[],
  sends: [] as SendRequest[],
  sendErrors: [] as (Error | undefined)[],
  connectError: undefined as Error | undefined,
  disconnects: 0,
};

class FakeKafka {
  constructor(config: KafkaJs.KafkaConfig) {
    state.configs.push(config);
  }
  producer(config: KafkaJs.ProducerConfig) {
    state.producerConfigs.push(config);
    return {
      connect: async () => {
        if (state.connectError) throw state.connectError;
      },
      send: async (req: SendRequest) => {
        state.sends.push(req);
        const err = state.sendErrors.shift();
        if (err) throw err;
        return [];
      },
      disconnect: async () => {
        state.disconnects++;
      },
    };
  }
}

jest.unstable_mockModule('kafkajs', () => {
  const mod = { ...real, Kafka: FakeKafka };
  return { ...mod, default: mod };
});
jest.unstable_mockModule('@platformatic/wasm-utils', () => {
  // What Node raises when the package is not installed.
  throw Object.assign(
    new Error(
      "Cannot find package '@platformatic/wasm-utils' imported from /app/node_modules/@iotsim/sink-kafka/dist/internal/codecs.js",
    ),
    { code: 'ERR_MODULE_NOT_FOUND' },
  );
});

const { KafkaSink } = await import('../src/index.js');
const { MAX_IN_FLIGHT } = await import('../src/kafka-sink.js');
const { messageKey, toMessages } = await import('../src/internal/messages.js');
const { logMethod, formatLogEntry, MAX_MESSAGES_PER_REQUEST } =
  await import('../src/internal/kafkajs-producer.js');

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** What the runner hands a sink, with one write in flight unless told otherwise. */
function context(logger: Logger, maxInFlight = 1): SinkContext {
  return { logger, throughput: { ...THROUGHPUT_DEFAULTS, maxInFlight }, name: 'kafka' };
}

/** A write request for `records` (first attempt), as the runner builds it. */
function request(
  records: readonly SensorRecord[],
  signal = new AbortController().signal,
): WriteRequest {
  const batch = RecordBatch.of(records);
  return { batchId: 1, attempt: 0, size: batch.size, records, batch, signal };
}

async function connected(options: ConstructorParameters<typeof KafkaSink>[0] = {}) {
  const sink = new KafkaSink({ compression: 'none', ...options });
  const logger = capture();
  sink.attach(context(logger));
  await sink.connect();
  return { sink, logger };
}

/** A frame of `ticks` ticks over three channels (one with metadata), values 0.5, 1.5, …. */
function frame(ticks: number): Frame {
  const base = { unit: '°C', sensorType: 'temperature', minValue: 0, maxValue: 100 };
  const table = new ChannelTable({
    channels: [
      {
        ...base,
        sensorName: 'inlet',
        industry: 'mining',
        deviceId: 'mining-1',
        deviceIndex: 0,
        nominalValue: 20,
        metadata: {},
      },
      {
        ...base,
        sensorName: 'outlet',
        industry: 'mining',
        deviceId: 'mining-1',
        deviceIndex: 0,
        nominalValue: 30,
        metadata: { site: 'B "2"' },
      },
      {
        ...base,
        sensorName: 'inlet',
        industry: 'mining',
        deviceId: 'mining-2',
        deviceIndex: 1,
        nominalValue: 20,
        metadata: {},
      },
    ],
  });
  const f = Frame.allocate(table, 0, ticks);
  for (let k = 0; k < ticks; k++) f.timestamps[k] = 1_700_000_000 + k;
  for (let i = 0; i < f.size; i++) {
    f.values[i] = i + 0.5;
    f.faults[i] = i % 7 === 0 ? 1 : 0;
  }
  return f;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

beforeEach(() => {
  state.configs = [];
  state.producerConfigs = [];
  state.sends = [];
  state.sendErrors = [];
  state.connectError = undefined;
  state.disconnects = 0;
});

describe('message keys and payloads', () => {
  const [r] = makeRecords(1, { awkward: false });

  it('keys by sensor_name, industry or device_id, or sends no key', () => {
    expect(messageKey(r!, 'sensor_name')).toBe(r!.sensor_name);
    expect(messageKey(r!, 'industry')).toBe(r!.industry);
    expect(messageKey(r!, 'device_id')).toBe(r!.device_id);
    expect(messageKey(r!, null)).toBeNull();
    expect(new Set([r!.sensor_name, r!.industry, r!.device_id]).size).toBe(3);
  });

  it('sends each record as its JSON, keyed as configured', () => {
    const records = makeRecords(120);
    const [run, more] = toMessages(records, 'device_id', 1_000_000);
    expect(more).toBeUndefined();
    expect(run!.map((m) => ({ key: m.key, value: String(m.value) }))).toEqual(
      records.map((x) => ({ key: x.device_id, value: recordToJson(x) })),
    );
    const [plain] = toMessages(records, null, 1_000_000);
    expect(plain!.every((m) => !('key' in m))).toBe(true);
  });

  it("reads a batch of frames straight from its columns: the same messages as the batch's records", () => {
    const f = frame(40);
    // A batch that starts and ends inside ticks, across two frames.
    const batch = new RecordBatch(
      [
        { frame: f, start: 4, end: 119 },
        { frame: f, start: 0, end: 5 },
      ],
      120,
    );
    const records = batch.records;
    const fromFrames = toMessages(batch, 'device_id', 1_000_000);
    expect(fromFrames.flat().map((m) => ({ key: m.key, value: String(m.value) }))).toEqual(
      records.map((x) => ({ key: x.device_id, value: recordToJson(x) })),
    );
    expect(
      toMessages(batch, 'sensor_name', 4096)
        .flat()
        .map((m) => m.key),
    ).toEqual(records.map((x) => x.sensor_name));
  });

  it('caps a produce request at MAX_MESSAGES_PER_REQUEST messages', () => {
    const records = makeRecords(MAX_MESSAGES_PER_REQUEST * 2 + 1, { awkward: false });
    const runs = toMessages(records, null, 1e9, MAX_MESSAGES_PER_REQUEST);
    expect(toMessages(records, null, 1e9)).toHaveLength(1);
    expect(runs.map((r) => r.length)).toEqual([
      MAX_MESSAGES_PER_REQUEST,
      MAX_MESSAGES_PER_REQUEST,
      1,
    ]);
  });

  it('splits a batch into requests of at most maxRequestSize bytes, in order', () => {
    const records = makeRecords(300);
    const runs = toMessages(records, 'sensor_name', 8192);
    expect(runs.length).toBeGreaterThan(5);
    for (const run of runs) {
      const bytes = run.reduce(
        (n, m) => n + Buffer.byteLength(m.value as Buffer) + String(m.key).length + 24,
        0,
      );
      expect(bytes).toBeLessThanOrEqual(8192);
    }
    expect(runs.flat().map((m) => String(m.value))).toEqual(records.map(recordToJson));
  });
});

describe('KafkaSink with kafkajs faked at its boundary', () => {
  it('configures kafkajs: brokers, client id, SASL, bounded retries and timeouts, our partitioner', async () => {
    await connected({
      bootstrapServers: 'b1:9093,b2',
      clientId: 'plant-7',
      securityProtocol: 'SASL_PLAINTEXT',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: 'u',
      saslPassword: 'pw-unit-1',
    });
    const [config] = state.configs;
    expect(config).toMatchObject({
      brokers: ['b1:9093', 'b2:9092'],
      clientId: 'plant-7',
      ssl: undefined,
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'pw-unit-1' },
    });
    expect(config!.retry!.retries).toBeLessThanOrEqual(5);
    expect(config!.connectionTimeout).toBeLessThanOrEqual(5000);
    const [pc] = state.producerConfigs;
    expect(pc!.idempotent).toBe(false);
    expect(pc!.retry!.retries).toBeLessThan(10);
    // kafkajs's default partitioner behind a per-key cache (its results: fast-produce.test.ts)
    const partition = pc!.createPartitioner!();
    const partitionMetadata = [0, 1, 2].map((p) => ({
      partitionId: p,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    const message = { key: 'temp-1', value: 'v' };
    expect(partition({ topic: 't', partitionMetadata, message })).toBe(
      real.Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message }),
    );
  });

  it('sends one request per batch with topic, acks and compression', async () => {
    const { sink } = await connected({
      topic: 't1',
      acks: 1,
      compression: 'gzip',
      keyField: 'industry',
    });
    const records = makeRecords(250);
    await sink.write(request(records));
    expect(state.sends).toHaveLength(1);
    const [req] = state.sends;
    expect(req).toMatchObject({ topic: 't1', acks: 1, compression: real.CompressionTypes.GZIP });
    expect(req!.messages.map((m) => m.key)).toEqual(records.map((r) => r.industry));
    expect(req!.messages.map((m) => String(m.value))).toEqual(records.map(recordToJson));
  });

  it('registers the zstd codec in kafkajs at connect', async () => {
    await connected({ compression: 'zstd' });
    const codec = (real.CompressionCodecs as unknown as Record<number, () => unknown>)[
      real.CompressionTypes.ZSTD
    ]!() as unknown as { compress(e: { buffer: Buffer }): Promise<Buffer> };
    const packed = await codec.compress({ buffer: Buffer.from('x'.repeat(1000)) });
    expect(packed.readUInt32LE(0)).toBe(0xfd2fb528); // zstd frame magic
  });

  it('a codec whose package is missing fails connect with a ConfigError, before any connection', async () => {
    const sink = new KafkaSink({ compression: 'lz4' });
    const err = await failure(sink.connect());
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(
      "compression: 'lz4' needs the package @platformatic/wasm-utils, which is not installed; install it with: npm install @platformatic/wasm-utils (or choose another compression)",
    );
    expect(state.configs).toHaveLength(0);
  });

  it('a send that fails after a partial delivery reports the records that landed', async () => {
    const { sink } = await connected({ maxRequestSize: 4096 });
    const records = makeRecords(100);
    const first = toMessages(records, 'sensor_name', 4096)[0]!.length;
    const refused = new errors.KafkaJSConnectionError!(
      'Connection error: connect ECONNREFUSED 127.0.0.1:19092',
      {
        broker: '127.0.0.1:19092',
      },
    );
    state.sendErrors = [
      undefined,
      new errors.KafkaJSNumberOfRetriesExceeded!(refused, {
        retryCount: 5,
        retryTime: 4000,
        cause: refused,
      }),
    ];
    const err = await failure(sink.write(request(records)));
    expect(err).toBeInstanceOf(SinkWriteError);
    const w = err as SinkWriteError;
    expect(w.delivered).toBe(first);
    expect(w.retryable).toBe(true);
    expect(w.message).toBe(
      `kafka: send of ${100 - first} records to topic 'iot-sensor-data' failed: Connection error: connect ECONNREFUSED 127.0.0.1:19092`,
    );
  });

  it('a broker error that retrying cannot fix is not retried, with a hint', async () => {
    const { sink } = await connected();
    const tooLarge = new errors.KafkaJSProtocolError!({
      message:
        'The request included a message larger than the max message size the server will accept',
      type: 'MESSAGE_TOO_LARGE',
      code: 10,
      retriable: false,
    });
    state.sendErrors = [new errors.KafkaJSNonRetriableError!(tooLarge, { cause: tooLarge })];
    const err = (await failure(sink.write(request(makeRecords(10))))) as SinkWriteError;
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /larger than the max message size.*lower batch_size or max_request_size/,
    );
  });

  it('a batch sent as several requests stops at the shutdown deadline, reporting what landed', async () => {
    const { sink } = await connected({ maxRequestSize: 4096 });
    const records = makeRecords(100);
    const first = toMessages(records, 'sensor_name', 4096)[0]!.length;
    const deadline = new AbortController();
    const send = state.sends.push.bind(state.sends);
    state.sends.push = (...reqs: SendRequest[]) => {
      deadline.abort(new Error('shutdown timeout of 1s reached'));
      return send(...reqs);
    };
    const err = (await failure(sink.write(request(records, deadline.signal)))) as SinkWriteError;
    expect(state.sends).toHaveLength(1);
    expect(err.delivered).toBe(first);
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      `kafka: ${100 - first} records not sent to topic 'iot-sensor-data': the sink is stopping`,
    );
  });

  it('counts the produce requests it sent in its own metrics', async () => {
    const { sink } = await connected({ maxRequestSize: 4096 });
    const records = makeRecords(100);
    await sink.write(request(records));
    expect(sink.sinkMetrics()).toEqual({ requests: state.sends.length });
    expect(state.sends.length).toBe(toMessages(records, 'sensor_name', 4096).length);
  });

  it('pipelines up to MAX_IN_FLIGHT writes, and one at a time by default', async () => {
    expect(KafkaSink.capabilities).toMatchObject({
      maxInFlight: MAX_IN_FLIGHT,
      defaultInFlight: 1,
    });
    expect(new SinkRunner(new KafkaSink()).throughput.maxInFlight).toBe(1);
    const runner = new SinkRunner(new KafkaSink({ compression: 'none' }), {
      throughput: { batchSize: 10, maxInFlight: MAX_IN_FLIGHT },
    });
    await runner.start();
    void runner.enqueue(makeRecords(200));
    await runner.stop(10);
    expect(runner.metrics()).toMatchObject({ delivered: 200, failed: 0, batches: 20 });
    expect(runner.metrics().sinkMetrics).toEqual({ requests: 20 });
    expect(() => new SinkRunner(new KafkaSink(), { throughput: { maxInFlight: 6 } })).toThrow(
      'maxInFlight: must be <= 5 for the kafka sink, got 6',
    );
  });

  it('an idempotent producer with more than one write in flight fails at start, before connecting', async () => {
    const sink = new KafkaSink({ idempotent: true, compression: 'none' });
    const err = await failure(new SinkRunner(sink, { throughput: { maxInFlight: 2 } }).start());
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([
      {
        path: 'maxInFlight',
        message:
          'must be 1 for an idempotent producer (its sequence numbers allow one send at a time), got 2',
      },
    ]);
    expect(state.configs).toHaveLength(0);
    const one = new SinkRunner(new KafkaSink({ idempotent: true, compression: 'none' }));
    await one.start();
    expect(state.producerConfigs[0]!.idempotent).toBe(true);
    await one.stop(10);
  });

  it('the runner retries a failed send, then counts the batch failed with the broker error', async () => {
    const sink = new KafkaSink({ compression: 'none' });
    const refused = new errors.KafkaJSConnectionError!(
      'Connection error: connect ECONNREFUSED 127.0.0.1:19092',
    );
    const exhausted = () => new errors.KafkaJSNumberOfRetriesExceeded!(refused, { cause: refused });
    state.sendErrors = [exhausted(), undefined, exhausted(), exhausted(), exhausted()];
    const runner = new SinkRunner(sink, {
      throughput: { batchSize: 50, retryCount: 2, retryDelayS: 0 },
    });
    await runner.start();
    void runner.enqueue(makeRecords(100));
    await runner.stop(10);
    const m = runner.metrics();
    expect(m.delivered).toBe(50);
    expect(m.failed).toBe(50);
    expect(m.retries).toBe(3);
    expect(m.lastError).toMatch(/ECONNREFUSED 127\.0\.0\.1:19092/);
    expect(state.disconnects).toBe(1);
  });

  it('connection refused at connect is a SinkConnectError naming the bootstrap servers', async () => {
    const refused = new errors.KafkaJSConnectionError!(
      'Connection error: connect ECONNREFUSED 127.0.0.1:1',
    );
    state.connectError = new errors.KafkaJSNonRetriableError!(refused, { cause: refused });
    const err = await failure(
      new KafkaSink({ bootstrapServers: '127.0.0.1:1', compression: 'none' }).connect(),
    );
    expect(err).toBeInstanceOf(SinkConnectError);
    expect(err.message).toBe(
      'kafka sink: cannot connect to Kafka at 127.0.0.1:1: Connection error: connect ECONNREFUSED 127.0.0.1:1; check bootstrap_servers and that the broker is running',
    );
    expect(state.disconnects).toBe(1);
  });

  it('a rejected SASL login is a SinkConnectError saying authentication failed, without the password', async () => {
    const password = 'wrong-pw-unit-2';
    state.connectError = new errors.KafkaJSSASLAuthenticationError!(
      `SASL PLAIN authentication failed: Authentication failed: Invalid username or password (password=${password})`,
    );
    const sink = new KafkaSink({
      bootstrapServers: 'k:19093',
      compression: 'none',
      securityProtocol: 'SASL_PLAINTEXT',
      saslMechanism: 'PLAIN',
      saslUsername: 'iotsim',
      saslPassword: password,
    });
    const err = await failure(sink.connect());
    expect(err).toBeInstanceOf(SinkConnectError);
    expect(err.message).toMatch(
      /^kafka sink: authentication failed at k:19093 \(SASL_PLAINTEXT PLAIN, user 'iotsim'\): SASL PLAIN authentication failed: .*; check sasl_username, sasl_password and sasl_mechanism$/,
    );
    expect(err.message).not.toContain(password);
  });

  it('logs at info whether the patched kafkajs fast produce path is on, and its client at debug', async () => {
    const { logger } = await connected();
    expect(logger.lines).toContain(
      'info kafka: kafkajs fast produce path on (patched kafkajs 2.2.4)',
    );
    expect(logger.lines).toContain('debug kafka: client kafkajs 2.2.4');
  });

  it('the default client id comes from package.json (name and version)', async () => {
    await connected();
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    expect(state.configs[0]!.clientId).toBe(`iotsim-sink-kafka-${pkg.version}`);
  });

  it("routes kafkajs logs to the sink's logger at debug (no retry warnings) with the password redacted", async () => {
    const password = 'pw-in-a-log-3';
    const { logger } = await connected({
      securityProtocol: 'SASL_PLAINTEXT',
      saslMechanism: 'PLAIN',
      saslUsername: 'u',
      saslPassword: password,
    });
    const log = state.configs[0]!.logCreator!(real.logLevel.INFO);
    const entry = (level: number, message: string, extra: Record<string, unknown> = {}) =>
      log({
        namespace: 'Connection',
        level,
        label: 'x',
        log: { timestamp: 't', message, ...extra },
      });
    entry(real.logLevel.ERROR, `Connection error for ${password}`, {
      broker: 'k:1',
      sasl: { password },
    });
    entry(real.logLevel.WARN, 'slow');
    entry(real.logLevel.INFO, 'Starting', { stack: 'at x' });
    entry(real.logLevel.ERROR, 'Response Metadata(key: 3, version: 6)', { error: 'not hosted' });
    expect(logger.lines.filter((l) => /^\w+ kafkajs /.test(l))).toEqual([
      'debug kafkajs Connection: Connection error for *** (broker=k:1 sasl={"password":"***"})',
      'debug kafkajs Connection: slow',
      'debug kafkajs Connection: Starting',
      'debug kafkajs Connection: Response Metadata(key: 3, version: 6) (error=not hosted)',
    ]);
    expect(logMethod({ level: real.logLevel.ERROR })).toBe('debug');
    expect(logger.lines.filter((l) => /^(warn|error) /.test(l))).toEqual([]);
    expect(
      formatLogEntry({
        namespace: 'P',
        level: 1,
        label: 'ERROR',
        log: { timestamp: 't', message: 'm' },
      }),
    ).toBe('kafkajs P: m');
  });

  it('close disconnects the producer; a write before connect is not retryable', async () => {
    const { sink } = await connected();
    await sink.close();
    expect(state.disconnects).toBe(1);
    const err = (await failure(sink.write(request(makeRecords(1))))) as SinkWriteError;
    expect(err.retryable).toBe(false);
  });
});
