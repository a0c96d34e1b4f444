import type { OptionReader } from '@iotsim/core';
import { readConnectionOptions, type ConnectionOptions } from './internal/connection.js';
import { TopicTemplate } from './internal/topic.js';

/** MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type MqttQos = 0 | 1 | 2;

/** How records become messages: one JSON object per record, or one JSON array per topic per write. */
export type MqttPayload = 'record' | 'batch';

/** Connection options shared by `MqttSink` and `SparkplugSink` (YAML keys in snake_case). */
export interface MqttConnectionOptions {
  /** Broker URL: `mqtt://`, `mqtts://`, `ws://` or `wss://`. Default `mqtt://127.0.0.1:1883`. */
  url?: string;
  /** MQTT client identifier. Default `iotsim-<random>` (`iotsim-sp-<random>` for Sparkplug). */
  clientId?: string;
  /** User name sent in CONNECT. */
  username?: string;
  /** Password sent in CONNECT (redacted from logs and the summary). */
  password?: string;
  /** PEM file of the CA that signed the broker's certificate (mqtts://, wss://). */
  ca?: string;
  /** PEM file of a client certificate (with `key`) for mutual TLS. */
  cert?: string;
  /** PEM file of the client certificate's private key. */
  key?: string;
  /** Verify the broker's TLS certificate. Default true; false is logged as a warning. */
  rejectUnauthorized?: boolean;
  /** 4 (MQTT 3.1.1) or 5 (MQTT 5). Default 5. */
  protocolVersion?: 4 | 5;
  /** Seconds to wait for the broker's CONNACK. Default 10. */
  connectTimeoutS?: number;
  /** MQTT keep-alive in seconds (0 turns it off). Default 30. */
  keepaliveS?: number;
}

/**
 * Options of `MqttSink` (YAML keys in snake_case: `client_id`, `message_expiry_s`).
 * Throughput (`batchSize`, `rateHz` …) is given beside the sink, not here.
 */
export interface MqttSinkOptions extends MqttConnectionOptions {
  /** 0, 1 or 2. Default 1. */
  qos?: MqttQos;
  /** Publish with the retain flag. Default false. */
  retain?: boolean;
  /** Topic template; any record field in braces. Default `iotsim/{industry}/{device_id}`. */
  topic?: string;
  /** `record` (one JSON object per message) or `batch` (a JSON array per topic per write). Default `record`. */
  payload?: MqttPayload;
  /** MQTT 5 content type property. Default `application/json`. */
  contentType?: string;
  /** MQTT 5 message expiry interval in seconds. Default: none. */
  messageExpiryS?: number;
  /** Retained `online`/`offline` status topic (the last will). Default `<topic prefix>/status`, e.g. `iotsim/status`. */
  statusTopic?: string;
}

/** MqttSink options after validation. */
export interface ResolvedMqttSinkOptions {
  readonly connection: ConnectionOptions;
  readonly qos: MqttQos;
  readonly retain: boolean;
  readonly topic: TopicTemplate;
  readonly topicText: string;
  readonly payload: MqttPayload;
  readonly contentType: string;
  readonly messageExpiryS: number | undefined;
  readonly statusTopic: string;
}

/** Reads and validates the MQTT sink's own options. */
export function readMqttSinkOptions(r: OptionReader): ResolvedMqttSinkOptions {
  const connection = readConnectionOptions(r, 'iotsim');
  const qos = r.number('qos', 1, { integer: true });
  if (qos !== 0 && qos !== 1 && qos !== 2) r.problem('qos', `must be 0, 1 or 2, got ${qos}`);
  const topicText = r.string('topic', 'iotsim/{industry}/{device_id}');
  const parsed = TopicTemplate.parse(topicText);
  let topic = TopicTemplate.parse('iotsim/{industry}/{device_id}') as TopicTemplate;
  if (typeof parsed === 'string') r.problem('topic', parsed);
  else topic = parsed;
  const messageExpiryS = r.number('messageExpiryS', undefined, { min: 1, integer: true });
  const contentType = r.string('contentType', 'application/json');
  if (connection.protocolVersion === 4) {
    if (messageExpiryS !== undefined)
      r.problem('messageExpiryS', 'is an MQTT 5 property: set protocol_version: 5 or leave it out');
  }
  const statusTopic = r.string('statusTopic', `${topic.prefix || 'iotsim'}/status`);
  if (/[#+]/.test(statusTopic) || statusTopic === '')
    r.problem('statusTopic', 'must be one topic name, without the wildcards # and +');
  return {
    connection,
    qos: qos === 0 || qos === 2 ? qos : 1,
    retain: r.boolean('retain', false),
    topic,
    topicText,
    payload: r.oneOf('payload', ['record', 'batch'] as const, 'record'),
    contentType,
    messageExpiryS,
    statusTopic,
  };
}
