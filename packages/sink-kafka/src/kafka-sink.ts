import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  importSdk,
  JSON_RECORD_LAYOUT,
  RecordBatch,
  RecordTextEncoder,
  readSinkOptions,
  redact,
  Redactor,
  Sink,
  SinkConnectError,
  SinkWriteError,
  type Logger,
  type RecordChannel,
  type SensorRecord,
  type SinkContext,
  type WriteRequest,
} from '@iotsim/core';
import type * as KafkaJs from 'kafkajs';
import { installCodec, loadCodec, type CodecTable } from './codecs.js';
import { installFastProduce, KAFKAJS_VERSION, type FastProduceStatus } from './fast-produce.js';
import {
  readKafkaOptions,
  type KafkaSinkOptions,
  type KeyField,
  type ResolvedKafkaOptions,
} from './options.js';

type KafkaModule = typeof KafkaJs;

/**
 * Most messages per produce request when kafkajs's own grouping is in use (see fast-produce.ts).
 * kafkajs groups a send's messages per partition by copying the partition's list for every message
 * (quadratic): 10,000 messages to one partition cost ~5x more CPU per record than 2,000. Larger
 * batches then go out as several requests.
 */
export const MAX_MESSAGES_PER_REQUEST = 2000;

/**
 * Most writes in flight at once (the throughput option `maxInFlight`): Kafka's own default for
 * `max.in.flight.requests.per.connection`.
 */
export const MAX_IN_FLIGHT = 5;

/** Bytes a message adds to a produce request besides its key and value (record header, varints). */
const RECORD_OVERHEAD = 24;

/**
 * Client retries (connect and metadata): a refused connection gives up after ~2 s, an unanswered
 * one after 4 × connectionTimeout + backoff (~14 s).
 */
const CLUSTER_RETRY: KafkaJs.RetryOptions = {
  retries: 3,
  initialRetryTime: 300,
  maxRetryTime: 2000,
};
/** Producer retries of one send (bounded: ~10 s of backoff); the runner's retries come after. */
const SEND_RETRY: KafkaJs.RetryOptions = { retries: 5, initialRetryTime: 300, maxRetryTime: 5000 };
const CONNECTION_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 30_000;

/** The message key of a record for a key field, or null for no key. */
export function messageKey(record: SensorRecord, keyField: KeyField | null): string | null {
  return keyField === null ? null : record[keyField];
}

/** The channel field of each key field. */
const CHANNEL_KEY: Readonly<Record<KeyField, (channel: RecordChannel) => string>> = {
  sensor_name: (c) => c.sensorName,
  industry: (c) => c.industry,
  device_id: (c) => c.deviceId,
};

/** The message key of every reading of a batch, in order, read from the channels. */
function batchKeys(batch: RecordBatch, keyField: KeyField): string[] {
  const keyOf = CHANNEL_KEY[keyField];
  const keys = new Array<string>(batch.size);
  let i = 0;
  batch.forEach((channel) => {
    keys[i++] = keyOf(channel);
  });
  return keys;
}

/**
 * The kafkajs messages of a batch: the record's JSON as value, the configured field as key.
 * Returns them split into runs of at most `maxRequestSize` bytes (key + value + overhead) and
 * MAX_MESSAGES_PER_REQUEST messages, each run sent as one produce request.
 */
export function toMessages(
  records: RecordBatch | readonly SensorRecord[],
  keyField: KeyField | null,
  maxRequestSize: number,
  maxMessages = MAX_MESSAGES_PER_REQUEST,
  encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT),
): KafkaJs.Message[][] {
  return [...messageRuns(records, keyField, maxRequestSize, maxMessages, encoder)];
}

/**
 * `toMessages` one run at a time: the write builds a request's messages (the records' JSON) only
 * when the request before it is done, so no more of them are alive at once than one request holds.
 */
export function* messageRuns(
  records: RecordBatch | readonly SensorRecord[],
  keyField: KeyField | null,
  maxRequestSize: number,
  maxMessages = MAX_MESSAGES_PER_REQUEST,
  encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT),
): Generator<KafkaJs.Message[]> {
  // Read straight from the batch's frames: no record objects are built.
  const batch = Array.isArray(records)
    ? RecordBatch.of(records as readonly SensorRecord[])
    : (records as RecordBatch);
  // The whole batch's JSON in one buffer; each message value is a view of its record's bytes.
  const ends: number[] = [];
  const json = encoder.encodeBatch(batch, ends);
  const keys = keyField === null ? undefined : batchKeys(batch, keyField);
  let run: KafkaJs.Message[] = [];
  let bytes = 0;
  for (let i = 0; i < ends.length; i++) {
    const value = json.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    const key = keys === undefined ? null : keys[i]!;
    // Keys are names: their length is a close, cheap estimate of their UTF-8 size.
    const size = value.length + (key === null ? 0 : key.length) + RECORD_OVERHEAD;
    if (run.length > 0 && (bytes + size > maxRequestSize || run.length >= maxMessages)) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(key === null ? { value } : { key, value });
    bytes += size;
  }
  if (run.length > 0) yield run;
}

/** Keys cached per topic by `cachingPartitioner` before the cache starts over. */
const PARTITION_CACHE_SIZE = 100_000;

/**
 * Wraps a kafkajs partitioner factory so that each string key is hashed once: the partition of a
 * keyed message depends only on its key and the topic's partition count (kafkajs's default
 * partitioner: murmur2 of the key modulo the count), so it is cached per key and starts over when
 * the count changes. Messages without a string key, or with a partition, go to the wrapped one.
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

function errorText(err: unknown, redactText: (text: string) => string): string {
  const root = rootCause(err);
  const outer = (err as ErrorLike)?.message ?? String(err);
  const inner = root.message ?? String(root);
  return redactText(outer === inner || outer.includes(inner) ? outer : `${outer}: ${inner}`);
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

/** True when a later attempt may succeed: the broker's own error says so, or the network failed. */
export function isRetryableSendError(err: unknown): boolean {
  if (isAuthFailure(err)) return false;
  return rootCause(err).retriable !== false;
}

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * Maps a kafkajs log entry to a method of our logger. kafkajs logs ERROR for every failed attempt
 * it will retry, and for every error response (a topic being auto-created answers "does not host
 * this topic-partition" first); what finally fails reaches the runner, which logs it as an error.
 * So kafkajs ERROR and WARN are warnings here, error responses and INFO (lifecycle chatter) debug.
 */
export function logMethod(
  entry: Pick<KafkaJs.LogEntry, 'level' | 'namespace' | 'log'>,
): keyof Logger {
  // kafkajs: ERROR 1, WARN 2, INFO 4, DEBUG 5
  if (entry.level > 2) return 'debug';
  if (entry.namespace === 'Connection' && entry.log.message.startsWith('Response ')) return 'debug';
  return 'warn';
}

/** Fields of a kafkajs log entry left out of our line (our logger stamps time; stacks are noise). */
const LOG_SKIP = new Set(['timestamp', 'logger', 'stack']);

/**
 * One kafkajs log entry as a line: `kafkajs Producer: message (key=value ...)`, secrets redacted
 * by `redactText` (default: core's process-wide redaction; the sink passes its own).
 */
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
 * Publishes each record as a JSON message to an Apache Kafka topic, with kafkajs: one produce
 * request per flushed batch, keyed by `sensor_name` (or another field), compressed with snappy,
 * gzip, lz4 or zstd.
 *
 * Capabilities: up to `MAX_IN_FLIGHT` writes may be in flight (`maxInFlight` in the throughput
 * options; default 1). kafkajs pipelines them on its connections, but a batch that fails and is
 * retried lands after batches written later, so the sink is not `ordered` then: with one write
 * in flight (the default) order per partition is kept, also across retries. An idempotent
 * producer takes one write at a time (checked when the runner attaches the sink).
 *
 * @example
 * sim.addSink(
 *   new KafkaSink({ bootstrapServers: 'localhost:9092', topic: 'iot-data' }),
 *   { batchSize: 500 },
 * );
 */
export class KafkaSink extends Sink {
  static override readonly type = 'kafka';
  static override readonly capabilities = {
    ordered: false,
    maxInFlight: MAX_IN_FLIGHT,
    defaultInFlight: 1,
    idempotentRetry: false,
    singleton: false,
  };
  /** Validated options (the password is in `sasl.password`; never log this object). */
  readonly options: ResolvedKafkaOptions;
  private producer: KafkaJs.Producer | undefined;
  private compressionType = 0;
  private fast: FastProduceStatus = { encoder: false, grouping: false };
  private readonly encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT);
  /** This sink's secrets (and core's patterns) out of every message it makes. */
  private readonly redactor = new Redactor();
  private readonly redactText = (text: string): string => this.redactor.redact(text);

  constructor(options: KafkaSinkOptions = {}) {
    super();
    this.options = readSinkOptions(options, readKafkaOptions);
    for (const secret of this.options.secrets) this.registerSecret(secret);
    this.redactor.add(...this.secrets);
  }

  /** Takes the runner's settings; an idempotent producer cannot have several writes in flight. */
  override attach(context: SinkContext): void {
    super.attach(context);
    const inFlight = context.throughput.maxInFlight;
    if (this.options.idempotent && inFlight > 1) {
      throw new ConfigError([
        {
          path: 'maxInFlight',
          message: `must be 1 for an idempotent producer (kafkajs cannot pipeline idempotent sends), got ${inFlight}`,
        },
      ]);
    }
  }

  async connect(): Promise<void> {
    const { kafkajs, fast } = await loadKafkajs();
    this.fast = fast;
    this.logger.debug(
      `kafka: fast produce encoder ${fast.encoder ? 'on' : 'off'}, linear grouping ${fast.grouping ? 'on' : 'off'}${fast.reason ? ` (${fast.reason})` : ''}`,
    );
    const o = this.options;
    const codecs = kafkajs.CompressionCodecs as unknown as CodecTable;
    this.compressionType = compressionTypeOf(kafkajs, o.compression);
    const codec = await loadCodec(o.compression);
    if (codec && installCodec(codecs, this.compressionType, codec))
      this.logger.debug(`kafka: registered the ${o.compression} codec with kafkajs`);

    const ssl = o.securityProtocol.endsWith('SSL') ? await this.tlsOptions() : undefined;
    const sasl = o.sasl
      ? ({
          mechanism: o.sasl.mechanism.toLowerCase(),
          username: o.sasl.username,
          password: o.sasl.password,
        } as KafkaJs.SASLOptions)
      : undefined;

    const kafka = new kafkajs.Kafka({
      clientId: this.shard && o.clientId === 'iotsim' ? this.shard.clientId : o.clientId,
      brokers: [...o.brokers],
      ssl,
      sasl,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      retry: CLUSTER_RETRY,
      logLevel: kafkajs.logLevel.INFO,
      logCreator: () => (entry) =>
        this.logger[logMethod(entry)](formatLogEntry(entry, this.redactText)),
    });
    const producer = kafka.producer({
      idempotent: o.idempotent,
      allowAutoTopicCreation: true,
      retry: SEND_RETRY,
      createPartitioner: cachingPartitioner(kafkajs.Partitioners.DefaultPartitioner),
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw this.connectError(err);
    }
    this.producer = producer;
  }

  async write(request: WriteRequest): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new SinkWriteError('kafka: write before connect', { retryable: false });
    const o = this.options;
    const size = request.size;
    let delivered = 0;
    const maxMessages = this.fast.grouping ? Infinity : MAX_MESSAGES_PER_REQUEST;
    for (const messages of messageRuns(
      request.batch,
      o.keyField,
      o.maxRequestSize,
      maxMessages,
      this.encoder,
    )) {
      // A batch sent as several requests stops at the shutdown deadline (kafkajs takes no signal).
      if (request.signal.aborted) {
        throw new SinkWriteError(
          `kafka: ${size - delivered} records not sent to topic '${o.topic}': the sink is stopping`,
          { retryable: false, delivered },
        );
      }
      try {
        await producer.send({
          topic: o.topic,
          messages,
          acks: o.acks,
          compression: this.compressionType,
        });
      } catch (err) {
        throw this.writeError(err, size, delivered);
      }
      this.count('requests');
      delivered += messages.length;
    }
  }

  override async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect();
  }

  override describe(): string {
    const o = this.options;
    const auth = o.sasl
      ? ` ${o.securityProtocol} ${o.sasl.mechanism} user=${o.sasl.username}`
      : ` ${o.securityProtocol}`;
    return `kafka ${o.brokers.join(',')} topic=${o.topic} compression=${o.compression} acks=${o.acks === -1 ? 'all' : o.acks} key=${o.keyField ?? 'none'}${auth}`;
  }

  private async tlsOptions(): Promise<KafkaJs.KafkaConfig['ssl']> {
    const s = this.options.ssl;
    const files: Partial<Record<'ca' | 'cert' | 'key', string>> = {};
    const issues: { path: string; message: string }[] = [];
    for (const k of ['ca', 'cert', 'key'] as const) {
      const path = s[k];
      if (path === undefined) continue;
      try {
        files[k] = await readFile(path, 'utf8');
      } catch (err) {
        issues.push({
          path: `ssl.${k}`,
          message: `cannot read '${path}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        });
      }
    }
    if (issues.length) throw new ConfigError(issues);
    return { ...files, rejectUnauthorized: s.rejectUnauthorized ?? true };
  }

  private connectError(err: unknown): SinkConnectError {
    const o = this.options;
    const where = o.brokers.join(',');
    if (isAuthFailure(err) && o.sasl) {
      return new SinkConnectError(
        this.type,
        `authentication failed at ${where} (${o.securityProtocol} ${o.sasl.mechanism}, user '${o.sasl.username}'): ${errorText(err, this.redactText)}; check sasl_username, sasl_password and sasl_mechanism`,
        { cause: err },
      );
    }
    const hint =
      o.securityProtocol === 'PLAINTEXT' ? '' : ` and that it speaks ${o.securityProtocol} there`;
    return new SinkConnectError(
      this.type,
      `cannot connect to Kafka at ${where}: ${errorText(err, this.redactText)}; check bootstrap_servers and that the broker is running${hint}`,
      { cause: err },
    );
  }

  private writeError(err: unknown, size: number, delivered: number): SinkWriteError {
    const root = rootCause(err);
    const hint =
      root.type && TOO_LARGE.has(root.type)
        ? ` (lower batch_size or max_request_size, or raise the broker's message.max.bytes)`
        : '';
    return new SinkWriteError(
      `kafka: send of ${size - delivered} records to topic '${this.options.topic}' failed: ${errorText(err, this.redactText)}${hint}`,
      { retryable: isRetryableSendError(err), delivered, cause: err },
    );
  }
}

async function loadKafkajs(): Promise<{ kafkajs: KafkaModule; fast: FastProduceStatus }> {
  // before kafkajs loads: it captures its grouping function at load time
  const fast = installFastProduce();
  const mod = (await importSdk('kafkajs', () => import('kafkajs'), 'kafka sink', {
    hint: `version ${KAFKAJS_VERSION}`,
  })) as KafkaModule & { default?: KafkaModule };
  // kafkajs is CommonJS: CompressionCodecs is only on the default export.
  return { kafkajs: mod.default ?? mod, fast };
}

function compressionTypeOf(kafkajs: KafkaModule, c: ResolvedKafkaOptions['compression']): number {
  const t = kafkajs.CompressionTypes;
  switch (c) {
    case 'none':
      return t.None;
    case 'gzip':
      return t.GZIP;
    case 'snappy':
      return t.Snappy;
    case 'lz4':
      return t.LZ4;
    case 'zstd':
      return t.ZSTD;
  }
}
