import {
  field,
  opt,
  readNumber,
  v,
  type InputOf,
  type OptionSchema,
  type OutputOf,
  type Problem,
} from '@iotsim/core';
import { TopicTemplate } from './internal/topic.js';

/**
 * The options of the package's three classes, each declared once as a schema: `MqttSink` and
 * `SparkplugSink` (sharing the connection entries) and the `MqttBroker` server. The option types
 * are named after the entries so that editors show each option's TSDoc.
 */

/** MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type MqttQos = 0 | 1 | 2;

/** How records become messages: one JSON object per record, or one JSON array per topic per write. */
export type MqttPayload = 'record' | 'batch';

/** Default broker: the one `--server mqtt_broker` starts. */
const DEFAULT_URL = 'mqtt://127.0.0.1:1883';

const SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:'];

/** The default of an option without one: left out and YAML's null both read as undefined. */
const unset = (): undefined => undefined;

/** A whole number among `allowed`; `says` lists them for the message. */
function wholeOf<const T extends number>(allowed: readonly T[], says: string) {
  return field<T>(
    { anyOf: [{ enum: [...allowed] }, { type: 'string', pattern: '\\$\\{' }] },
    (value, problem) => {
      const n = readNumber(value, problem, { integer: true });
      if (Number.isInteger(n) && !allowed.includes(n as T)) problem(`must be ${says}, got ${n}`);
      return n as T;
    },
  );
}

/** Text that `problemOf` accepts (it returns the message of what is wrong). */
function checkedText(problemOf: (text: string) => string | undefined) {
  return v.pipe(
    opt.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      const message = dataset.typed ? problemOf(dataset.value) : undefined;
      if (message) addIssue({ message });
    }),
  );
}

/** Text made into something else by `parse` (which returns the message of what is wrong instead). */
function parsedText<T extends object>(parse: (text: string) => T | string) {
  return v.pipe(
    opt.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value);
      if (typeof out !== 'string') return out;
      addIssue({ message: out });
      return NEVER;
    }),
  );
}

const brokerUrl = parsedText((text) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid URL (expected e.g. mqtt://127.0.0.1:1883)';
  }
  return SCHEMES.includes(url.protocol)
    ? url
    : `must be an mqtt://, mqtts://, ws:// or wss:// URL, got scheme '${url.protocol}'`;
});

/** Connection entries shared by `MqttSink` and `SparkplugSink`. */
const connectionEntries = {
  /** Broker URL: `mqtt://`, `mqtts://`, `ws://` or `wss://`. Default `mqtt://127.0.0.1:1883`. */
  url: v.nullish(brokerUrl, DEFAULT_URL),
  /** MQTT client identifier; in a sharded or multi-worker run each shard appends `-<shard id>` (e.g. `-shard1of3`). Default `iotsim-<random>` (`iotsim-sp-<random>` for Sparkplug). */
  clientId: v.nullish(
    checkedText((id) =>
      id === '' ? 'must not be empty (leave it out for a random one)' : undefined,
    ),
    unset,
  ),
  /** User name sent in CONNECT. */
  username: v.nullish(opt.string(), unset),
  /** Password sent in CONNECT (redacted from logs and the summary). */
  password: v.nullish(opt.string(), unset),
  /** PEM file of the CA that signed the broker's certificate (mqtts://, wss://). */
  ca: v.nullish(opt.string(), unset),
  /** PEM file of a client certificate (with `key`) for mutual TLS. */
  cert: v.nullish(opt.string(), unset),
  /** PEM file of the client certificate's private key. */
  key: v.nullish(opt.string(), unset),
  /** Verify the broker's TLS certificate. Default true; false is logged as a warning. */
  rejectUnauthorized: v.nullish(opt.boolean(), true),
  /** 4 (MQTT 3.1.1) or 5 (MQTT 5). Default 5. */
  protocolVersion: v.nullish(wholeOf([4, 5], '4 (MQTT 3.1.1) or 5 (MQTT 5)'), unset),
  /** Seconds to wait for the broker's CONNACK. Default 10. */
  connectTimeoutS: v.nullish(opt.number({ above: 0 }), 10),
  /** MQTT keep-alive in seconds (0 turns it off). Default 30. */
  keepaliveS: v.nullish(opt.number({ min: 0, integer: true }), 30),
};

type ConnectionEntries = v.StrictObjectSchema<typeof connectionEntries, undefined>;

/** Connection options shared by `MqttSink` and `SparkplugSink` (YAML keys in snake_case). */
export type MqttConnectionOptions = InputOf<ConnectionEntries>;

type ConnectionFields = { readonly [K in keyof typeof connectionEntries]?: unknown };

/** Problems between connection entries (a bad entry reads as given, and has its own problem). */
function checkConnection(o: ConnectionFields, problem: Problem): void {
  const url = o.url instanceof URL ? o.url : undefined;
  if ((typeof o.password === 'string' || url?.password) && o.username == null && !url?.username)
    problem('needs a username too (MQTT sends a password only with a user name)', ['password']);
  if ((o.cert == null) !== (o.key == null))
    problem('client TLS needs both %{cert} and %{key} files', [o.cert == null ? 'cert' : 'key']);
}

/** The connection options resolved: credentials taken out of the URL, a random client id. */
function resolveConnection(
  o: OutputOf<ConnectionEntries>,
  clientIdPrefix: string,
  problem: Problem,
) {
  const url = o.url;
  const fromUrl = (part: string): string | undefined => {
    if (!part) return undefined;
    try {
      return decodeURIComponent(part);
    } catch {
      problem('has a user name or password that is not valid percent-encoding', ['url']);
      return undefined;
    }
  };
  const username = o.username ?? fromUrl(url.username);
  const password = o.password ?? fromUrl(url.password);
  url.username = '';
  url.password = '';
  return {
    /** The broker, without credentials. */
    url,
    clientId: o.clientId ?? `${clientIdPrefix}-${Math.random().toString(16).slice(2, 10)}`,
    /** True when client_id was given: each shard then appends its id (a random one is unique already). */
    clientIdExplicit: o.clientId != null,
    username,
    password,
    ca: o.ca,
    cert: o.cert,
    key: o.key,
    rejectUnauthorized: o.rejectUnauthorized,
    protocolVersion: o.protocolVersion ?? 5,
    /** False when protocol_version was left at its default: a broker without MQTT 5 then gets 3.1.1. */
    protocolExplicit: o.protocolVersion != null,
    connectTimeoutS: o.connectTimeoutS,
    keepaliveS: o.keepaliveS,
  };
}

/** Connection options shared by the MQTT and Sparkplug sinks, after validation. */
export type ConnectionOptions = ReturnType<typeof resolveConnection>;

/** `shared` and `own` entries, typed as the two (so that declarations keep the shared entries' TSDoc). */
function withEntries<A extends v.ObjectEntries, B extends v.ObjectEntries>(
  shared: A,
  own: B,
): A & B {
  return { ...shared, ...own };
}

const messageExpiry = opt.number({ min: 1, integer: true });

const MqttSinkEntries = opt.object(
  withEntries(connectionEntries, {
    /** 0, 1 or 2. Default 1. */
    qos: v.nullish(wholeOf([0, 1, 2], '0, 1 or 2'), 1),
    /** Publish with the retain flag. Default false. */
    retain: v.nullish(opt.boolean(), false),
    /** Topic template; any record field in braces. Default `iotsim/{industry}/{device_id}`. */
    topic: v.nullish(
      parsedText((text) => TopicTemplate.parse(text)),
      'iotsim/{industry}/{device_id}',
    ),
    /** `record` (one JSON object per message) or `batch` (a JSON array per topic per write). Default `record`. */
    payload: v.nullish(opt.oneOf(['record', 'batch']), 'record'),
    /** MQTT 5 content type property. Default `application/json`. */
    contentType: v.nullish(opt.string(), 'application/json'),
    /** MQTT 5 message expiry interval in seconds. Default: none. */
    messageExpiryS: v.nullish(messageExpiry, unset),
    /** Retained `online`/`offline` status topic (the last will). Default `<topic prefix>/status`, e.g. `iotsim/status`, and `iotsim/status/<shard id>` per shard of a sharded or multi-worker run. */
    statusTopic: v.nullish(
      checkedText((topic) =>
        /[#+]/.test(topic) || topic === ''
          ? 'must be one topic name, without the wildcards # and +'
          : undefined,
      ),
      unset,
    ),
  }),
);

/**
 * Options of `MqttSink` (YAML keys in snake_case: `client_id`, `message_expiry_s`).
 * Throughput (`batchSize`, `rateHz` …) is given beside the sink, not here.
 */
export type MqttSinkOptions = InputOf<typeof MqttSinkEntries>;

function resolveMqttSink(o: OutputOf<typeof MqttSinkEntries>, problem: Problem) {
  return {
    connection: resolveConnection(o, 'iotsim', problem),
    qos: o.qos,
    retain: o.retain,
    topic: o.topic,
    /** The topic template as given. */
    topicText: o.topic.text,
    payload: o.payload,
    contentType: o.contentType,
    messageExpiryS: o.messageExpiryS,
    statusTopic: o.statusTopic ?? `${o.topic.prefix || 'iotsim'}/status`,
    /** True when status_topic was given: it is then the same for every shard. */
    statusTopicExplicit: o.statusTopic != null,
  };
}

/** MqttSink options after validation. */
export type ResolvedMqttSinkOptions = Readonly<ReturnType<typeof resolveMqttSink>>;

export const MqttSinkSchema: OptionSchema<MqttSinkOptions, ResolvedMqttSinkOptions> = opt.resolve(
  MqttSinkEntries,
  resolveMqttSink,
  (o, problem) => {
    checkConnection(o, problem);
    if (
      o.protocolVersion === 4 &&
      o.messageExpiryS != null &&
      v.is(messageExpiry, o.messageExpiryS)
    )
      problem('is an MQTT 5 property: set %{protocolVersion}: 5 or leave it out', [
        'messageExpiryS',
      ]);
  },
);

/** A Sparkplug id (group, edge node, host): no `/`, `#` or `+`, not empty. */
const sparkplugId = checkedText((id) => {
  if (id === '') return 'must not be empty';
  if (/[/#+]/.test(id))
    return `must not contain '/', '#' or '+' (they are MQTT topic separators and wildcards), got ${JSON.stringify(id)}`;
  return undefined;
});

const SparkplugSinkEntries = opt.object(
  withEntries(connectionEntries, {
    /** Sparkplug group id for every device. Default: each industry is its own group (one edge node per industry). */
    groupId: v.nullish(sparkplugId, unset),
    /** Edge node id; in a sharded or multi-worker run each shard is its own edge node `<edge_node_id>-<shard id>` (e.g. `iotsim-shard1of3`). Default `iotsim`. */
    edgeNodeId: v.nullish(sparkplugId, 'iotsim'),
    /** Primary host application id: wait for its `spBv1.0/STATE/<id>` online message before the birth. Default: none. */
    primaryHostId: v.nullish(sparkplugId, unset),
    /** Publish a metric in DDATA only when its value or quality changed. Default false. */
    reportByException: v.nullish(opt.boolean(), false),
    /** Folder of the file that keeps bdSeq across restarts. Default: none (bdSeq starts at 0 in every process). */
    stateDir: v.nullish(opt.string(), unset),
  }),
);

/**
 * Options of `SparkplugSink` (YAML keys in snake_case: `group_id`, `edge_node_id`,
 * `primary_host_id`, `report_by_exception`, `state_dir`), besides the connection options it
 * shares with the MQTT sink. Throughput (`batchSize`, `rateHz` …) is given beside the sink.
 */
export type SparkplugSinkOptions = InputOf<typeof SparkplugSinkEntries>;

function resolveSparkplug(
  {
    groupId,
    edgeNodeId,
    primaryHostId,
    reportByException,
    stateDir,
    ...connection
  }: OutputOf<typeof SparkplugSinkEntries>,
  problem: Problem,
) {
  return {
    connection: resolveConnection(connection, 'iotsim-sp', problem),
    groupId,
    edgeNodeId,
    primaryHostId,
    reportByException,
    stateDir,
  };
}

/** SparkplugSink options after validation. */
export type ResolvedSparkplugOptions = Readonly<ReturnType<typeof resolveSparkplug>>;

export const SparkplugSinkSchema: OptionSchema<SparkplugSinkOptions, ResolvedSparkplugOptions> =
  opt.resolve(SparkplugSinkEntries, resolveSparkplug, checkConnection);

const port = opt.number({ min: 0, max: 65535, integer: true });

const MqttBrokerEntries = opt.object({
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host: v.nullish(opt.string(), '127.0.0.1'),
  /** MQTT over TCP port; 0 picks a free one (see `address`). Default 1883. */
  port: v.nullish(port, 1883),
  /** MQTT over WebSocket port (path `/`, subprotocol `mqtt`). Default: no WebSocket listener. */
  wsPort: v.nullish(port, unset),
  /** User name clients must give. Default: anonymous clients are accepted. */
  username: v.nullish(opt.string(), unset),
  /** Password clients must give with `username` (never logged). */
  password: v.nullish(opt.string(), unset),
  /** Topic prefix of the retained live values the broker publishes itself; empty turns them off. Default `iotsim/live`. */
  liveTopic: v.nullish(
    v.pipe(
      checkedText((topic) =>
        /[#+]/.test(topic) ? 'must not contain the wildcards # or +' : undefined,
      ),
      v.transform((topic) => topic.replace(/\/+$/, '')),
    ),
    'iotsim/live',
  ),
  /** Seconds between live-value publications (the newest frame each time); 0 publishes every frame. Default 1. */
  liveIntervalS: v.nullish(opt.number({ min: 0 }), 1),
});

/** Options of MqttBroker (YAML: `servers: [{ type: mqtt_broker, port, ws_port }]`). */
export type MqttBrokerOptions = InputOf<typeof MqttBrokerEntries>;

/** MqttBroker options after validation. */
export type ResolvedMqttBrokerOptions = Readonly<OutputOf<typeof MqttBrokerEntries>>;

export const MqttBrokerSchema: OptionSchema<MqttBrokerOptions, ResolvedMqttBrokerOptions> =
  opt.resolve(MqttBrokerEntries, undefined, (o, problem) => {
    if (typeof o.password === 'string' && o.username == null)
      problem('needs a username too', ['password']);
  });
