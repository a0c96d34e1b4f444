import { field, opt, v, type InputOf, type OutputOf, type Problem } from '@iotsim/core';
import { DEFAULT_CLIENT_ID } from './internal/package-info.js';

/** Compression codecs a Kafka record batch can use. */
export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
/** A Kafka compression codec; `none` sends uncompressed batches. */
export type Compression = (typeof COMPRESSIONS)[number];

/** Record fields that can be the message key. */
export const KEY_FIELDS = ['sensor_name', 'industry', 'device_id'] as const;
/** A record field used as the message key. */
export type KeyField = (typeof KEY_FIELDS)[number];

/** How the client talks to the brokers, as Kafka's `security.protocol`. */
export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
/** Kafka's `security.protocol`. */
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

/** SASL mechanisms the sink supports. */
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
/** Kafka's `sasl.mechanism`. */
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const DEFAULT_PORT = 9092;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

const brokerList = field<string | readonly string[], string[]>(
  { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
  (raw, problem) => {
    let list: string[];
    if (typeof raw === 'string') list = raw.split(',');
    else if (Array.isArray(raw) && raw.every((x) => typeof x === 'string'))
      list = raw.flatMap((x: string) => x.split(','));
    else {
      problem(`must be 'host:port', a comma-separated string or a list of them`);
      return [];
    }
    const brokers: string[] = [];
    let bad = false;
    for (const entry of list.map((s) => s.trim()).filter((s) => s !== '')) {
      // host, host:port, [v6]:port
      const m = /^(\[[^\]]+\]|[^:[\]\s]+)(?::(\d+))?$/.exec(entry);
      const port = m?.[2] === undefined ? DEFAULT_PORT : Number(m[2]);
      if (!m || !(port >= 1 && port <= 65535)) {
        problem(`'${entry}' is not host:port`);
        bad = true;
        continue;
      }
      brokers.push(`${m[1]}:${port}`);
    }
    if (brokers.length === 0 && !bad) problem('needs at least one broker, e.g. localhost:9092');
    return brokers;
  },
);

const compression = field<Compression | false, Compression>(
  { enum: [...COMPRESSIONS, false] },
  (v, problem) => {
    if (v === false) return 'none';
    const s = typeof v === 'string' ? v.toLowerCase() : v;
    if ((COMPRESSIONS as readonly unknown[]).includes(s)) return s as Compression;
    problem(`must be one of ${COMPRESSIONS.join(', ')} (or null), got ${JSON.stringify(v)}`);
    return 'snappy';
  },
);

const keyField = field<KeyField | 'none', KeyField | null>(
  { enum: [...KEY_FIELDS, 'none'] },
  (v, problem) => {
    if (v === 'none') return null;
    if ((KEY_FIELDS as readonly unknown[]).includes(v)) return v as KeyField;
    problem(`must be one of ${KEY_FIELDS.join(', ')} or null (no key), got ${JSON.stringify(v)}`);
    return 'sensor_name';
  },
);

const acks = field<'all' | '1' | '0' | '-1' | -1 | 0 | 1, -1 | 0 | 1>(
  { enum: ['all', '1', '0', '-1', -1, 0, 1] },
  (v, problem) => {
    const s = typeof v === 'string' || typeof v === 'number' ? String(v).toLowerCase() : '';
    if (s === 'all' || s === '-1') return -1;
    if (s === '1') return 1;
    if (s === '0') return 0;
    problem(`must be 'all' (or -1), 1 or 0, got ${JSON.stringify(v)}`);
    return -1;
  },
);

/** One of `allowed` in any case; `sep` is the separator the canonical names use. */
function upper<const T extends string>(allowed: readonly T[], sep: '-' | '_') {
  return field<T>({ type: 'string' }, (v, problem: Problem) => {
    // SCRAM_SHA_256 and scram-sha-256 both mean SCRAM-SHA-256; sasl-ssl means SASL_SSL.
    const s = typeof v === 'string' ? v.toUpperCase().replace(/[-_]/g, sep) : v;
    if ((allowed as readonly unknown[]).includes(s)) return s as T;
    problem(`must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return allowed[0]!;
  });
}

const pemFile = field<string>({ type: 'string', minLength: 1 }, (v, problem) => {
  if (typeof v === 'string' && v.trim() !== '') return v;
  problem(`must be the path of a PEM file, got ${JSON.stringify(v)}`);
  return '';
});

const SslSchema = opt.resolve(
  opt.object(
    {
      /** CA certificate(s) that sign the brokers' certificates (PEM file path). Default: Node's CA store. */
      ca: v.optional(pemFile),
      /** Client certificate for mutual TLS (PEM file path). */
      cert: v.optional(pemFile),
      /** Client private key for mutual TLS (PEM file path, unencrypted). */
      key: v.optional(pemFile),
      /** Reject brokers whose certificate does not verify. Default true. */
      rejectUnauthorized: v.optional(opt.boolean()),
    },
    { what: 'a mapping with ca, cert, key (PEM file paths) and reject_unauthorized' },
  ),
  (ssl) => Object.fromEntries(Object.entries(ssl).filter(([, x]) => x !== undefined)) as typeof ssl,
  (ssl, problem) => {
    if ((ssl.cert == null) !== (ssl.key == null))
      problem('cert and key go together (mutual TLS needs both)');
  },
);

/** The schema of KafkaSink's options (YAML keys are the snake_case forms, e.g. `bootstrap_servers`). */
export const KafkaOptionsSchema = opt.resolve(
  opt.object({
    /** Brokers to bootstrap from: `host:port`, comma-separated or a list. Default `localhost:9092`. */
    bootstrapServers: v.nullish(brokerList, ['localhost:9092']),
    /** Topic to produce to (auto-created if the broker allows it). Default `iot-sensor-data`. */
    topic: v.nullish(opt.string(), 'iot-sensor-data'),
    /** Batch compression: `snappy`, `gzip`, `lz4`, `zstd` or `none` (null = none). Default `snappy`. */
    compression: v.optional(v.nullable(compression, 'none'), 'snappy'),
    /** Record field used as the message key; null sends messages without a key. Default `sensor_name`. */
    keyField: v.optional(v.nullable(keyField, 'none'), 'sensor_name'),
    /** Acknowledgements: `all` (-1), `1` (leader only) or `0` (none). Default `all`. */
    acks: v.nullish(acks, 'all'),
    /** `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`. Default `PLAINTEXT`. */
    securityProtocol: v.nullish(upper(SECURITY_PROTOCOLS, '_'), 'PLAINTEXT'),
    /** `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`; required with SASL_*. */
    saslMechanism: v.nullish(upper(SASL_MECHANISMS, '-')),
    /** SASL user name; required with SASL_*. */
    saslUsername: v.nullish(opt.string()),
    /** SASL password; required with SASL_* (never logged). */
    saslPassword: v.nullish(opt.string()),
    /** Client id the brokers see in their logs and quotas. Default `iotsim-sink-kafka-<version>`. */
    clientId: v.nullish(opt.string(), DEFAULT_CLIENT_ID),
    /** Idempotent producer: no duplicates from producer retries; needs acks `all` and the throughput option maxInFlight 1. Default false. */
    idempotent: v.nullish(opt.boolean(), false),
    /** TLS settings for SSL / SASL_SSL. */
    ssl: v.nullish(SslSchema, {}),
    /** Most bytes (key + value) per produce request; a larger batch goes out as several, in order. Default 1,000,000. */
    maxRequestSize: v.nullish(opt.number({ min: 1024, integer: true }), 1_000_000),
  }),
  (o) => {
    const usesSasl = o.securityProtocol.startsWith('SASL_');
    const { saslMechanism: mechanism, saslUsername: username, saslPassword: password } = o;
    return {
      brokers: o.bootstrapServers,
      topic: o.topic,
      compression: o.compression,
      keyField: o.keyField,
      /** -1 (all), 0 or 1, as the Kafka protocol has it. */
      acks: o.acks,
      securityProtocol: o.securityProtocol,
      sasl:
        usesSasl && mechanism && username && password
          ? { mechanism, username, password }
          : undefined,
      clientId: o.clientId,
      idempotent: o.idempotent,
      ssl: o.ssl,
      maxRequestSize: o.maxRequestSize,
      /** The credentials among the options (the SASL password), for the sink to register as secrets. */
      secrets: password ? [password] : [],
    };
  },
  (o, problem) => {
    if (typeof o.topic === 'string' && !TOPIC_NAME.test(o.topic))
      problem(`'${o.topic}' is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)`, [
        'topic',
      ]);
    if (typeof o.clientId === 'string' && o.clientId.trim() === '')
      problem('must not be empty', ['clientId']);
    const protocol = typeof o.securityProtocol === 'string' ? o.securityProtocol : 'PLAINTEXT';
    const usesSasl = protocol.startsWith('SASL_');
    if (usesSasl) {
      const need = `required with %{securityProtocol} ${protocol}`;
      if (o.saslMechanism == null)
        problem(`${need}: one of ${SASL_MECHANISMS.join(', ')}`, ['saslMechanism']);
      if (!o.saslUsername) problem(need, ['saslUsername']);
      if (!o.saslPassword) problem(need, ['saslPassword']);
    } else {
      const only = `is only used with %{securityProtocol} SASL_PLAINTEXT or SASL_SSL (it is ${protocol})`;
      for (const key of ['saslMechanism', 'saslUsername', 'saslPassword'] as const)
        if (o[key] != null) problem(only, [key]);
    }
    if (!protocol.endsWith('SSL') && o.ssl && Object.keys(o.ssl).length > 0)
      problem(`is only used with %{securityProtocol} SSL or SASL_SSL (it is ${protocol})`, ['ssl']);
    // An idempotent producer also needs maxInFlight 1: a throughput setting, checked when the runner attaches.
    if (o.idempotent === true && o.acks !== -1 && o.acks != null)
      problem(`must be 'all' for an idempotent producer, got ${String(o.acks)}`, ['acks']);
  },
);

/** TLS settings for `SSL` and `SASL_SSL` (paths to PEM files). */
export type KafkaSslOptions = InputOf<typeof SslSchema>;

/**
 * Options of KafkaSink (YAML keys are the snake_case forms, e.g. `bootstrap_servers`). Throughput
 * (`batchSize`, `rateHz`, `maxInFlight` …) is given beside the sink, not here.
 */
export type KafkaSinkOptions = InputOf<typeof KafkaOptionsSchema>;

/** KafkaSink options after validation, defaults filled in. */
export type ResolvedKafkaOptions = OutputOf<typeof KafkaOptionsSchema>;
