// KafkaSink against the real Apache Kafka broker of scripts/services (pnpm test:services).
// Everything is read back with Kafka's own Java console consumer, never through kafkajs.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  SinkConnectError,
  SinkRunner,
  type SensorRecord,
  type SensorRecordDict,
} from '@iotsim/core';
import {
  describeSinkConformance,
  expectAccounting,
  makeRecords,
  runThrough,
  serviceCtl,
  serviceEnv,
} from '@iotsim/test-utils';
import { KafkaSink, type Compression, type KafkaSinkOptions } from '../src/index.js';

// The request counters of the patched kafkajs's fast encoder (patches/kafkajs@2.2.4.patch).
const fastProduceStats = (
  createRequire(createRequire(import.meta.url).resolve('kafkajs'))(
    './src/protocol/requests/produce/v3/fastRequest.js',
  ) as { stats: { fast: number; fallback: number } }
).stats;

const run = promisify(execFile);
const BROKERS = serviceEnv('IOTSIM_KAFKA_BROKERS');
const SASL_BROKERS = serviceEnv('IOTSIM_KAFKA_SASL_BROKERS');
const SASL_USER = serviceEnv('IOTSIM_KAFKA_SASL_USER');
const SASL_PASSWORD = serviceEnv('IOTSIM_KAFKA_SASL_PASSWORD');
const CLIENT = process.env.IOTSIM_KAFKA_CLIENT ?? 'kafkajs';
const SSL_BROKERS = serviceEnv('IOTSIM_KAFKA_SSL_BROKERS');
const SASL_SSL_BROKERS = serviceEnv('IOTSIM_KAFKA_SASL_SSL_BROKERS');
const CA = serviceEnv('IOTSIM_KAFKA_CA');
const SERVICES_DIR = serviceEnv('IOTSIM_SERVICES_DIR');
const SERVICES_RUN = serviceEnv('IOTSIM_RUN');

const prefix = `iotsim-kafka-test-${process.pid}-`;
let topicCount = 0;
/** A topic nobody has used (auto-created by the first produce, 1 partition). */
function freshTopic(): string {
  return `${prefix}${++topicCount}`;
}

interface Consumed {
  key: string | null;
  value: SensorRecordDict;
}

/** Every message of `topic`, read by Kafka's own console consumer (exits after `idleMs` without messages). */
async function consume(topic: string, idleMs = 4000): Promise<Consumed[]> {
  const args = [
    join(SERVICES_DIR, 'kafka-console-consumer.sh'),
    '--bootstrap-server',
    BROKERS,
    '--topic',
    topic,
    '--from-beginning',
    '--timeout-ms',
    String(idleMs),
    '--property',
    'print.key=true',
    '--property',
    'key.separator=\t',
  ];
  let stdout: string;
  try {
    ({ stdout } = await run('bash', args, { maxBuffer: 1024 ** 3, timeout: 300_000 }));
  } catch (err) {
    // The consumer exits non-zero on its idle timeout in some versions; what it printed is the result.
    const e = err as { stdout?: string; stderr?: string };
    if (!e.stderr?.includes('Processed a total of')) throw err;
    stdout = e.stdout ?? '';
  }
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const tab = line.indexOf('\t');
      const key = line.slice(0, tab);
      return {
        key: key === 'null' ? null : key,
        value: JSON.parse(line.slice(tab + 1)) as SensorRecordDict,
      };
    });
}

/** The codecs of the record batches in partition 0 of `topic`, from the broker's own log segments. */
async function segmentCodecs(topic: string): Promise<Set<string>> {
  const dir = join(SERVICES_RUN, 'kafka', 'data', `${topic}-0`);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).map((f) => join(dir, f));
  const { stdout } = await run(
    'bash',
    [
      join(SERVICES_DIR, 'kafka-run-class.sh'),
      'kafka.tools.DumpLogSegments',
      '--files',
      files.join(','),
    ],
    { maxBuffer: 256 * 1024 ** 2, timeout: 120_000 },
  );
  return new Set([...stdout.matchAll(/compresscodec: (\w+)/g)].map((m) => m[1]!.toLowerCase()));
}

function sink(options: KafkaSinkOptions = {}): KafkaSink {
  return new KafkaSink({ bootstrapServers: BROKERS, topic: freshTopic(), ...options });
}

function recordKey(d: SensorRecordDict): string {
  return `${d.industry}|${d.device_id}|${d.sensor_name}|${d.timestamp}`;
}

afterAll(async () => {
  // Leave the shared broker as we found it: running, without our topics.
  await serviceCtl('kafka', 'start');
  await run(
    'bash',
    [
      join(SERVICES_DIR, 'kafka-topics.sh'),
      '--bootstrap-server',
      BROKERS,
      '--delete',
      '--topic',
      `${prefix}.*`,
    ],
    { timeout: 120_000 },
  ).catch(() => undefined);
}, 300_000);

describeSinkConformance('kafka', {
  create: () => sink(),
  readBack: async (s) => (await consume(s.options.topic)).map((m) => m.value),
  // The class is not `ordered`: with several writes in flight (the suite runs MAX_IN_FLIGHT) a
  // retried batch may land after later ones. Order with one write in flight (the default) is
  // checked record by record below.
  ordered: false,
});

describe('kafka: order', () => {
  it('one write in flight (the default) keeps the order of every record, across batches', async () => {
    const records = makeRecords(2000, { seed: 24 });
    const s = sink({ compression: 'none' });
    const m = await runThrough(s, records, { throughput: { batchSize: 90 } });
    expect(m.delivered).toBe(records.length);
    const got = await consume(s.options.topic);
    expect(got.map((g) => g.value)).toEqual(records.map((r) => r.toDict()));
    expect(s.sinkMetrics().requests).toBe(Math.ceil(2000 / 90));
  });
});

describe('kafka: compression codecs against the broker', () => {
  const records = makeRecords(3000, { seed: 21 });
  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as Compression[])(
    '%s: the console consumer reads back every record with its key, and the broker stored that codec',
    async (compression) => {
      const s = sink({ compression, keyField: 'device_id' });
      const fastBefore = fastProduceStats.fast;
      const m = await runThrough(s, records, { throughput: { batchSize: 700 } });
      // the patched kafkajs encoder wrote these requests (not kafkajs's fallback); the suite also
      // runs on the other adapter with IOTSIM_KAFKA_CLIENT=platformatic
      if (CLIENT === 'kafkajs')
        expect(fastProduceStats.fast - fastBefore).toBeGreaterThanOrEqual(Math.ceil(3000 / 700));
      expect(m.failed).toBe(0);
      expect(m.delivered).toBe(records.length);
      const got = await consume(s.options.topic);
      expect(got).toHaveLength(records.length);
      expect(got.map((g) => g.key)).toEqual(records.map((r) => r.device_id));
      expect(got.map((g) => g.value)).toEqual(records.map((r) => r.toDict()));
      expect(await segmentCodecs(s.options.topic)).toEqual(new Set([compression]));
    },
  );

  it('sends messages without a key when key_field is null', async () => {
    const s = sink({ keyField: null, compression: 'none' });
    const few = records.slice(0, 50);
    const m = await runThrough(s, few);
    expect(m.delivered).toBe(50);
    const got = await consume(s.options.topic);
    expect(got.map((g) => g.key)).toEqual(few.map(() => null));
  });
});

describe('kafka: authentication and connection errors', () => {
  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)(
    'SASL %s authenticates on the SASL listener and delivers',
    async (mechanism) => {
      const s = new KafkaSink({
        bootstrapServers: SASL_BROKERS,
        topic: freshTopic(),
        securityProtocol: 'SASL_PLAINTEXT',
        saslMechanism: mechanism,
        saslUsername: SASL_USER,
        saslPassword: SASL_PASSWORD,
      });
      const records = makeRecords(200, { seed: 22 });
      const m = await runThrough(s, records);
      expect(m.failed).toBe(0);
      const got = await consume(s.options.topic);
      expect(got.map((g) => g.value)).toEqual(records.map((r) => r.toDict()));
    },
  );

  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)(
    'SASL %s with a wrong password fails connect saying authentication failed, without the password',
    async (mechanism) => {
      const wrong = `wrong-${mechanism}-password`;
      const s = new KafkaSink({
        bootstrapServers: SASL_BROKERS,
        topic: freshTopic(),
        securityProtocol: 'SASL_PLAINTEXT',
        saslMechanism: mechanism,
        saslUsername: SASL_USER,
        saslPassword: wrong,
      });
      const err = await s.connect().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(SinkConnectError);
      expect(err!.message).toMatch(
        new RegExp(
          `^kafka sink: authentication failed at ${SASL_BROKERS} \\(SASL_PLAINTEXT ${mechanism}, user '${SASL_USER}'\\)`,
        ),
      );
      expect(err!.message).not.toContain(wrong);
    },
  );

  it('a sink pointed at 127.0.0.1:1 fails connect quickly, naming the address', async () => {
    const s = new KafkaSink({ bootstrapServers: '127.0.0.1:1', compression: 'none' });
    const started = Date.now();
    const err = await s.connect().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(SinkConnectError);
    expect(err!.message).toMatch(
      /^kafka sink: cannot connect to Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED.*; check bootstrap_servers/,
    );
    // bounded connect time (not a speed assertion: an unbounded retry loop would hang here)
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('kafka: TLS (SSL and SASL_SSL listeners with the harness CA)', () => {
  const records = makeRecords(300, { seed: 25 });

  async function delivers(options: KafkaSinkOptions): Promise<void> {
    const s = new KafkaSink({ topic: freshTopic(), compression: 'lz4', ...options });
    const m = await runThrough(s, records, { throughput: { batchSize: 100 } });
    expect(m.failed).toBe(0);
    expect(m.delivered).toBe(records.length);
    // read back on the PLAINTEXT listener by Kafka's own consumer: the same topic
    const got = await consume(s.options.topic);
    expect(got.map((g) => g.value)).toEqual(records.map((r) => r.toDict()));
  }

  async function connectFailure(options: KafkaSinkOptions): Promise<Error> {
    const s = new KafkaSink({ topic: freshTopic(), compression: 'none', ...options });
    const err = await s.connect().then(
      async () => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e as Error,
    );
    // SinkConnectError is exit code 2 in the CLI
    expect(err).toBeInstanceOf(SinkConnectError);
    return err!;
  }

  it('SSL with the CA verifies the broker certificate and delivers', async () => {
    await delivers({ bootstrapServers: SSL_BROKERS, securityProtocol: 'SSL', ssl: { ca: CA } });
  });

  it('SSL without the CA: Node refuses the self-signed certificate, naming the broker', async () => {
    const err = await connectFailure({ bootstrapServers: SSL_BROKERS, securityProtocol: 'SSL' });
    expect(err.message).toMatch(
      new RegExp(
        `^kafka sink: cannot connect to Kafka at ${SSL_BROKERS}: .*certificate.*that it speaks SSL there$`,
      ),
    );
  });

  it('SSL with rejectUnauthorized false and no CA connects and delivers', async () => {
    await delivers({
      bootstrapServers: SSL_BROKERS,
      securityProtocol: 'SSL',
      ssl: { rejectUnauthorized: false },
    });
  });

  it('SASL_SSL with SCRAM-SHA-512 authenticates over TLS and delivers', async () => {
    await delivers({
      bootstrapServers: SASL_SSL_BROKERS,
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: SASL_USER,
      saslPassword: SASL_PASSWORD,
      ssl: { ca: CA },
    });
  });

  it('SASL_SSL SCRAM-SHA-512 with a wrong password: authentication failed, without the password', async () => {
    const wrong = 'wrong-scram-512-over-tls';
    const err = await connectFailure({
      bootstrapServers: SASL_SSL_BROKERS,
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: SASL_USER,
      saslPassword: wrong,
      ssl: { ca: CA },
    });
    expect(err.message).toMatch(
      new RegExp(
        `^kafka sink: authentication failed at ${SASL_SSL_BROKERS} \\(SASL_SSL SCRAM-SHA-512, user '${SASL_USER}'\\).*; check sasl_username, sasl_password and sasl_mechanism$`,
      ),
    );
    expect(err.message).not.toContain(wrong);
  });
});

describe('kafka: broker stopped mid-run', () => {
  /** 60,000 records at ~4,000/s with the broker stopped for 5 s after 3 s; returns the counts. */
  async function outageRun(options: KafkaSinkOptions) {
    const records = makeRecords(60_000, { seed: 23 });
    const s = sink(options);
    const runner = new SinkRunner(s, {
      throughput: { batchSize: 500, retryCount: 4, retryDelayS: 1, maxBufferSize: 20_000 },
    });
    await runner.start();
    let outage: Promise<void> | undefined;
    try {
      const started = Date.now();
      for (let i = 0; i < records.length; i += 200) {
        // ~4,000 records/s for ~15 s; blocks (never drops) while the buffer is full
        const waiting = runner.enqueue(records.slice(i, i + 200), true);
        if (waiting) await waiting;
        if (!outage && Date.now() - started > 3000) {
          outage = (async () => {
            await serviceCtl('kafka', 'stop');
            await new Promise((r) => setTimeout(r, 5000));
            await serviceCtl('kafka', 'start');
          })();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await outage;
      await runner.stop(120);
    } finally {
      await outage?.catch(() => undefined);
      await serviceCtl('kafka', 'start');
    }
    const m = runner.metrics();
    expectAccounting(m);
    expect(m.buffered).toBe(0);
    expect(m.dropped.total).toBe(0);
    expect(m.generated).toBe(records.length);
    expect(m.delivered + m.failed).toBe(records.length);

    const got = await consume(s.options.topic, 8000);
    const generated = new Set(records.map((r: SensorRecord) => recordKey(r.toDict())));
    const seen = new Map<string, number>();
    for (const g of got) {
      const k = recordKey(g.value);
      expect(generated.has(k)).toBe(true);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const duplicates = got.length - seen.size;
    console.log(
      `kafka fault test (idempotent ${options.idempotent === true}): generated ${m.generated}, delivered ${m.delivered}, failed ${m.failed}, ` +
        `retries ${m.retries}, topic holds ${got.length} (${seen.size} distinct, ${duplicates} duplicates from retried sends)` +
        (m.lastError ? `; last error: ${m.lastError}` : ''),
    );
    // every delivered record is in the topic
    expect(got.length).toBeGreaterThanOrEqual(m.delivered);
    expect(seen.size).toBeGreaterThanOrEqual(m.delivered);
    return { m, duplicates, distinct: seen.size };
  }

  it('every record is delivered or counted failed; the topic holds every delivered record and nothing else', async () => {
    await outageRun({});
  }, 600_000);

  it("idempotent: exact accounting and no duplicates (the broker drops the client's resent batches)", async () => {
    const { m, duplicates, distinct } = await outageRun({ idempotent: true });
    expect(duplicates).toBe(0);
    if (m.failed === 0) expect(distinct).toBe(m.delivered);
  }, 600_000);
});
