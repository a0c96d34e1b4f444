// The @platformatic/kafka adapter of the producer port. Every codec is built in (gzip and zstd from
// node:zlib, snappy and lz4 in WebAssembly): nothing to compile, nothing else to install.
import { importSdk } from '@iotsim/core';
import type * as Platformatic from '@platformatic/kafka';
import { PACKAGE } from './package-info.js';
import {
  CONNECTION_TIMEOUT_MS,
  ProducerError,
  REQUEST_TIMEOUT_MS,
  retryDelayMs,
  SEND_RETRIES,
  type KafkaProducer,
  type ProducerErrorKind,
  type ProducerFactory,
  type ProducerMessage,
} from './producer.js';

type Module = typeof Platformatic;
type Message = Platformatic.MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

/** The version this adapter is written and measured against. */
export const PLATFORMATIC_VERSION = '2.12.1';

/** Keys whose Buffer and partition hash are cached before the cache starts over. */
const KEY_CACHE_SIZE = 100_000;

/** Kafka's Java partitioner (and kafkajs's default): murmur2 of the key, made positive, modulo the count. */
const POSITIVE = 0x7fffffff;

interface ErrorLike {
  message?: string;
  code?: string;
  apiId?: string;
  canRetry?: boolean;
  cause?: unknown;
  errors?: unknown[];
}

/** Every error in the chain of `err` (causes and the errors of MultipleErrors), depth first. */
export function errorChain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 12 || out.includes(e as ErrorLike)) return;
    const x = e as ErrorLike;
    out.push(x);
    if (Array.isArray(x.errors)) for (const inner of x.errors) walk(inner, depth + 1);
    walk(x.cause, depth + 1);
  };
  walk(err, 0);
  return out;
}

const AUTH_IDS = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
]);
const TOO_LARGE_IDS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** The outer message and the innermost one of the last attempt (e.g. `produce failed 6 times.: connect ECONNREFUSED …`). */
function errorText(err: unknown): string {
  const outer = (err as ErrorLike)?.message ?? String(err);
  let e = err as ErrorLike | undefined;
  for (let i = 0; i < 12 && e; i++) {
    const next = (Array.isArray(e.errors) && e.errors.length ? e.errors.at(-1) : e.cause) as
      ErrorLike | undefined;
    if (!next || typeof next !== 'object') break;
    e = next;
  }
  const inner = e?.message ?? '';
  return inner === '' || outer.includes(inner) ? outer : `${outer.replace(/\.$/, '')}: ${inner}`;
}

/** A @platformatic/kafka error as the port's ProducerError. */
export function classify(err: unknown, redact: (t: string) => string): ProducerError {
  const chain = errorChain(err);
  const has = (f: (e: ErrorLike) => boolean) => chain.some(f);
  let kind: ProducerErrorKind = 'other';
  if (has((e) => e.code === 'PLT_KFK_AUTHENTICATION' || AUTH_IDS.has(e.apiId ?? ''))) kind = 'auth';
  else if (has((e) => TOO_LARGE_IDS.has(e.apiId ?? ''))) kind = 'too-large';
  else if (has((e) => e.code === 'PLT_KFK_NETWORK' || e.code === 'PLT_KFK_TIMEOUT'))
    kind = 'connection';
  const retryable =
    kind === 'connection' ||
    (kind === 'other' && !has((e) => e.canRetry === false || e.code === 'PLT_KFK_USER'));
  return new ProducerError(redact(errorText(err)), { retryable, kind, cause: err });
}

/** The @platformatic/kafka adapter. */
export const platformaticProducer: ProducerFactory = async ({ options: o, tls, redact }) => {
  const mod = (await importSdk(
    '@platformatic/kafka',
    () => import('@platformatic/kafka'),
    'kafka sink',
    {
      hint: `version ${PLATFORMATIC_VERSION}`,
    },
  )) as Module;
  const keys = new Map<string, Buffer>();
  const hashes = new Map<Buffer, number>();
  const partitioner = (_m: Message, key: Buffer | undefined): number => {
    if (key === undefined) return 0;
    let h = hashes.get(key);
    if (h === undefined) {
      if (hashes.size >= KEY_CACHE_SIZE) hashes.clear();
      h = mod.murmur2(key) & POSITIVE;
      hashes.set(key, h);
    }
    return h;
  };
  const keyBuffer = (key: string): Buffer => {
    let b = keys.get(key);
    if (b === undefined) {
      if (keys.size >= KEY_CACHE_SIZE) keys.clear();
      b = Buffer.from(key, 'utf8');
      keys.set(key, b);
    }
    return b;
  };
  const producer = new mod.Producer<Buffer, Buffer, Buffer, Buffer>({
    clientId: o.clientId,
    bootstrapBrokers: [...o.brokers],
    ...(tls ? { tls } : {}),
    ...(o.sasl
      ? {
          sasl: {
            mechanism: o.sasl.mechanism,
            username: o.sasl.username,
            password: o.sasl.password,
          },
        }
      : {}),
    connectTimeout: CONNECTION_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    timeout: REQUEST_TIMEOUT_MS,
    retries: SEND_RETRIES,
    retryDelay: (_client, _op, attempt) => retryDelayMs(attempt),
    idempotent: o.idempotent,
    acks: o.acks,
    compression: o.compression,
    autocreateTopics: true,
    partitioner,
  });
  const adapter: KafkaProducer = {
    client: `@platformatic/kafka ${PLATFORMATIC_VERSION} (${PACKAGE.name} ${PACKAGE.version})`,
    maxMessagesPerSend: Infinity,
    async connect() {
      try {
        await producer.metadata({ topics: [o.topic], autocreateTopics: true });
      } catch (err) {
        await producer.close().catch(() => undefined);
        throw classify(err, redact);
      }
    },
    async send(topic, messages: ProducerMessage[], { acks, compression }) {
      const out = new Array<Message>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        out[i] =
          m.key === undefined
            ? { topic, value: m.value }
            : { topic, key: keyBuffer(m.key), value: m.value };
      }
      try {
        await producer.send({ messages: out, acks, compression });
      } catch (err) {
        throw classify(err, redact);
      }
    },
    async disconnect() {
      await producer.close().catch(() => undefined);
    },
  };
  return adapter;
};
