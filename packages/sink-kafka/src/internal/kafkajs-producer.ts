// The kafkajs 2.2.4 adapter of the producer port (kept for the A/B bench: bench/kafka.mjs --client).
import { importSdk, redact, type Logger } from '@iotsim/core';
import type * as KafkaJs from 'kafkajs';
import type { Compression } from '../options.js';
import { installCodec, loadCodec, type CodecTable } from './codecs.js';
import { describeFastProduce, fastProduceStatus, KAFKAJS_VERSION } from './fast-produce.js';
import {
  CONNECTION_TIMEOUT_MS,
  ProducerError,
  REQUEST_TIMEOUT_MS,
  retryDelayMs,
  SEND_RETRIES,
  type KafkaProducer,
  type ProducerFactory,
} from './producer.js';

type KafkaModule = typeof KafkaJs;

/**
 * Most messages per produce request when kafkajs's own grouping is in use (when kafkajs lacks the patch, see fast-produce.ts).
 * kafkajs groups a send's messages per partition by copying the partition's list for every message
 * (quadratic): 10,000 messages to one partition cost ~5x more CPU per record than 2,000.
 */
export const MAX_MESSAGES_PER_REQUEST = 2000;

/** Client retries (connect and metadata): a refused connection gives up after ~2 s. */
const CLUSTER_RETRY: KafkaJs.RetryOptions = {
  retries: 3,
  initialRetryTime: 300,
  maxRetryTime: 2000,
};
const SEND_RETRY: KafkaJs.RetryOptions = {
  retries: SEND_RETRIES,
  initialRetryTime: retryDelayMs(1),
  maxRetryTime: retryDelayMs(Infinity),
};

/** Keys cached per topic by `cachingPartitioner` before the cache starts over. */
const PARTITION_CACHE_SIZE = 100_000;

/**
 * Wraps a kafkajs partitioner factory so that each string key is hashed once (the partition of a
 * keyed message depends only on its key and the partition count).
 */
export function cachingPartitioner(base: KafkaJs.ICustomPartitioner): KafkaJs.ICustomPartitioner {
  return () => {
    const inner = base();
    const caches = new Map<string, { count: number; partitions: Map<string, number> }>();
    return (args) => {
      const { message } = args;
      const key = message.key;
      if (
        typeof key !== 'string' ||
        (message.partition !== undefined && message.partition !== null)
      )
        return inner(args);
      const count = args.partitionMetadata.length;
      let cache = caches.get(args.topic);
      if (!cache || cache.count !== count || cache.partitions.size >= PARTITION_CACHE_SIZE) {
        cache = { count, partitions: new Map() };
        caches.set(args.topic, cache);
      }
      let partition = cache.partitions.get(key);
      if (partition === undefined) {
        partition = inner(args);
        cache.partitions.set(key, partition);
      }
      return partition;
    };
  };
}

interface ErrorLike {
  name?: string;
  message?: string;
  retriable?: boolean;
  type?: string;
  cause?: unknown;
  originalError?: unknown;
}

/** The innermost error kafkajs wrapped (retry wrappers keep the real one as `cause`). */
export function rootCause(err: unknown): ErrorLike {
  let e = err as ErrorLike;
  for (let i = 0; i < 10; i++) {
    const next = (e?.cause ?? e?.originalError) as ErrorLike | undefined;
    if (!next || typeof next !== 'object' || next === e) break;
    e = next;
  }
  return e ?? {};
}

function errorText(err: unknown): string {
  const root = rootCause(err);
  const outer = (err as ErrorLike)?.message ?? String(err);
  const inner = root.message ?? String(root);
  return outer === inner || outer.includes(inner) ? outer : `${outer}: ${inner}`;
}

function isAuthFailure(err: unknown): boolean {
  const root = rootCause(err);
  return (
    root.name === 'KafkaJSSASLAuthenticationError' ||
    root.type === 'SASL_AUTHENTICATION_FAILED' ||
    root.type === 'ILLEGAL_SASL_STATE' ||
    root.type === 'UNSUPPORTED_SASL_MECHANISM'
  );
}

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** A kafkajs error as the port's ProducerError. */
export function classify(err: unknown, redactText: (t: string) => string): ProducerError {
  const root = rootCause(err);
  const auth = isAuthFailure(err);
  const kind = auth
    ? 'auth'
    : root.type && TOO_LARGE.has(root.type)
      ? 'too-large'
      : root.name === 'KafkaJSConnectionError'
        ? 'connection'
        : 'other';
  return new ProducerError(redactText(errorText(err)), {
    retryable: !auth && root.retriable !== false,
    kind,
    cause: err,
  });
}

/** Fields of a kafkajs log entry left out of our line (our logger stamps time; stacks are noise). */
const LOG_SKIP = new Set(['timestamp', 'logger', 'stack']);

/** One kafkajs log entry as a line: `kafkajs Producer: message (key=value ...)`, secrets redacted. */
export function formatLogEntry(
  entry: KafkaJs.LogEntry,
  redactText: (text: string) => string = redact,
): string {
  const { message, ...extra } = entry.log;
  const details = Object.entries(extra)
    .filter(([k, v]) => !LOG_SKIP.has(k) && v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return redactText(`kafkajs ${entry.namespace}: ${message}${details ? ` (${details})` : ''}`);
}

/**
 * kafkajs logs an ERROR for every attempt it will retry (eight lines before the real error): all
 * of its lines are debug here; what finally fails reaches the runner, which logs it once.
 */
export function logMethod(_entry: Pick<KafkaJs.LogEntry, 'level'>): keyof Logger {
  return 'debug';
}

function compressionTypeOf(kafkajs: KafkaModule, c: Compression): number {
  const t = kafkajs.CompressionTypes;
  return { none: t.None, gzip: t.GZIP, snappy: t.Snappy, lz4: t.LZ4, zstd: t.ZSTD }[c];
}

/** The kafkajs adapter. */
export const kafkajsProducer: ProducerFactory = async ({
  options: o,
  tls,
  logger,
  redact: red,
}) => {
  const mod = (await importSdk('kafkajs', () => import('kafkajs'), 'kafka sink', {
    hint: `version ${KAFKAJS_VERSION}`,
  })) as KafkaModule & { default?: KafkaModule };
  // kafkajs is CommonJS: CompressionCodecs is only on the default export.
  const kafkajs = mod.default ?? mod;
  const fast = fastProduceStatus();
  logger.info(describeFastProduce(fast));
  const compressionType = compressionTypeOf(kafkajs, o.compression);
  const codec = await loadCodec(o.compression);
  if (codec)
    installCodec(kafkajs.CompressionCodecs as unknown as CodecTable, compressionType, codec);
  const kafka = new kafkajs.Kafka({
    clientId: o.clientId,
    brokers: [...o.brokers],
    ssl: tls,
    sasl: o.sasl
      ? ({
          mechanism: o.sasl.mechanism.toLowerCase(),
          username: o.sasl.username,
          password: o.sasl.password,
        } as KafkaJs.SASLOptions)
      : undefined,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    retry: CLUSTER_RETRY,
    logLevel: kafkajs.logLevel.INFO,
    logCreator: () => (entry) => logger[logMethod(entry)](formatLogEntry(entry, red)),
  });
  const producer = kafka.producer({
    idempotent: o.idempotent,
    allowAutoTopicCreation: true,
    retry: SEND_RETRY,
    createPartitioner: cachingPartitioner(kafkajs.Partitioners.DefaultPartitioner),
  });
  const adapter: KafkaProducer = {
    client: `kafkajs ${KAFKAJS_VERSION}`,
    maxMessagesPerSend: fast.grouping ? Infinity : MAX_MESSAGES_PER_REQUEST,
    async connect() {
      try {
        await producer.connect();
      } catch (err) {
        await producer.disconnect().catch(() => undefined);
        throw classify(err, red);
      }
    },
    async send(topic, messages, { acks }) {
      try {
        await producer.send({ topic, messages, acks, compression: compressionType });
      } catch (err) {
        throw classify(err, red);
      }
    },
    async disconnect() {
      await producer.disconnect().catch(() => undefined);
    },
  };
  return adapter;
};
