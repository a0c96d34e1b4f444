import {
  JSON_RECORD_LAYOUT,
  RecordTextEncoder,
  Sink,
  parseSinkOptions,
  type SinkCapabilities,
  type WriteRequest,
} from '@iotsim/core';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { MAX_UNACKED, brokerLabel, connectClient, shardConnection } from './internal/connection.js';
import { PublishWindow, waitForPublishes, waitUntilConnected } from './internal/publish.js';
import { MqttSinkSchema, type MqttSinkOptions, type ResolvedMqttSinkOptions } from './options.js';

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/**
 * Publishes records to an MQTT 3.1.1 or 5 broker (mqtt.js): one JSON object per message (the
 * file sink's JSON Lines form), or with `payload: batch` one JSON array per topic per write. The
 * topic is a template of record fields. A write resolves when the broker acknowledged every
 * message (QoS 1 PUBACK, QoS 2 PUBCOMP) or, at QoS 0, when they were written to the socket.
 *
 * A retained `online` is published to `status_topic` after connecting, and `offline` on close;
 * the same `offline` is the MQTT last will, so a crashed run reads as offline too.
 *
 * @example
 * const sink = new MqttSink({ url: 'mqtt://127.0.0.1:1883', qos: 1, topic: 'plant/{industry}/{device_id}/{sensor_name}' });
 * sim.addSink(sink, { batchSize: 500 });
 */
export class MqttSink extends Sink {
  static override readonly type = 'mqtt';
  static override readonly schema = MqttSinkSchema;
  /** Publishes of several writes go out on one connection in call order; one write at a time unless `max_in_flight` asks for more (a retry then lands after later batches). */
  static override readonly capabilities: SinkCapabilities = {
    ordered: true,
    maxInFlight: 16,
    defaultInFlight: 1,
    idempotentRetry: false,
    singleton: false,
  };
  private readonly options: ResolvedMqttSinkOptions;
  private client: MqttClient | undefined;
  private window: PublishWindow | undefined;
  private readonly encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT);
  private publishOptions: IClientPublishOptions;

  constructor(options: MqttSinkOptions = {}) {
    super();
    this.options = parseSinkOptions(MqttSinkSchema, options);
    this.registerSecret(this.options.connection.password);
    this.publishOptions = this.publishOptionsFor(this.options.connection.protocolVersion);
  }

  private publishOptionsFor(protocolVersion: 4 | 5): IClientPublishOptions {
    const o = this.options;
    return {
      qos: o.qos,
      retain: o.retain,
      ...(protocolVersion === 5
        ? {
            properties: {
              contentType: o.contentType,
              ...(o.messageExpiryS !== undefined
                ? { messageExpiryInterval: o.messageExpiryS }
                : {}),
            },
          }
        : {}),
    };
  }

  /** The broker address (no credentials). */
  get broker(): string {
    return brokerLabel(this.options.connection);
  }

  /** The status topic of this sink: the default one carries the shard in a sharded or multi-worker run. */
  private get statusTopic(): string {
    const o = this.options;
    return o.statusTopicExplicit || !this.shard?.id
      ? o.statusTopic
      : `${o.statusTopic}/${this.shard.id}`;
  }

  override describe(): string {
    const o = this.options;
    return `mqtt ${this.broker} topic ${o.topicText} qos ${o.qos} ${o.payload} payloads (MQTT ${o.connection.protocolVersion === 5 ? '5' : '3.1.1'})`;
  }

  async connect(): Promise<void> {
    const o = this.options;
    if (!o.connection.rejectUnauthorized)
      this.logger.warn(
        `mqtt ${this.broker}: TLS certificate verification is OFF (reject_unauthorized: false)`,
      );
    const connection = shardConnection(o.connection, this.shard);
    const { client, protocolVersion, receiveMaximum } = await connectClient(
      connection,
      {
        clean: true,
        will: { topic: this.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      },
      'mqtt',
    );
    this.client = client;
    const window = (this.window = new PublishWindow(client, receiveMaximum));
    client.on('connect', (connack) => {
      window.limit = connack.properties?.receiveMaximum ?? MAX_UNACKED;
    });
    this.publishOptions = this.publishOptionsFor(protocolVersion);
    if (protocolVersion !== o.connection.protocolVersion)
      this.logger.info(
        `mqtt ${this.broker}: the broker does not speak MQTT 5; using MQTT 3.1.1 (no content type or expiry properties)`,
      );
    client.on('offline', () =>
      this.logger.warn(`mqtt ${this.broker}: connection lost, reconnecting`),
    );
    client.on('reconnect', () => this.count('reconnects'));
    client.on('error', (err) => this.logger.warn(`mqtt ${this.broker}: ${err.message}`));
    await client.publishAsync(this.statusTopic, 'online', { qos: 1, retain: true });
    this.logger.info(
      `mqtt: connected to ${this.broker} as ${connection.clientId} (MQTT ${protocolVersion === 5 ? '5' : '3.1.1'})`,
    );
  }

  async write(request: WriteRequest): Promise<void> {
    const client = this.client;
    if (!client) throw this.notConnected();
    const o = this.options;
    await waitUntilConnected(client, o.connection.connectTimeoutS, request.signal, this.broker);
    const n = request.size;
    const ends: number[] = [];
    const bytes = this.encoder.encodeBatch(request.batch, ends);
    const topics: string[] = new Array<string>(n);
    let i = 0;
    const template = o.topic;
    request.batch.forEach((c, v, t, f) => {
      topics[i++] = template.topic(c, v, t, f);
    });
    // messageOf[r]: the message that carries record r.
    const messageOf = new Int32Array(n);
    const messages: { topic: string; payload: Buffer }[] = [];
    if (o.payload === 'record') {
      let start = 0;
      for (let r = 0; r < n; r++) {
        messages.push({ topic: topics[r]!, payload: bytes.subarray(start, ends[r]) });
        messageOf[r] = r;
        start = ends[r]!;
      }
    } else {
      const byTopic = new Map<string, number[]>();
      for (let r = 0; r < n; r++) {
        let list = byTopic.get(topics[r]!);
        if (!list) byTopic.set(topics[r]!, (list = []));
        list.push(r);
      }
      for (const [topic, list] of byTopic) {
        const parts: Buffer[] = [OPEN];
        for (let k = 0; k < list.length; k++) {
          const r = list[k]!;
          if (k > 0) parts.push(COMMA);
          parts.push(bytes.subarray(r === 0 ? 0 : ends[r - 1], ends[r]));
          messageOf[r] = messages.length;
        }
        parts.push(CLOSE);
        messages.push({ topic, payload: Buffer.concat(parts) });
      }
    }
    this.count('messages', messages.length);
    await waitForPublishes(
      this.window!,
      messages,
      this.publishOptions,
      messageOf,
      request.signal,
      this.broker,
    );
  }

  override async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.window = undefined;
    if (!client) return;
    if (client.connected) {
      try {
        const lost = new Promise<never>((_, reject) =>
          client.once('close', () => reject(new Error('connection closed'))),
        );
        lost.catch(() => {});
        await withTimeout(
          Promise.race([
            client.publishAsync(this.statusTopic, 'offline', { qos: 1, retain: true }),
            lost,
          ]),
          2000,
        );
      } catch {
        // the will says offline when this one cannot
      }
    }
    // Not connected: nothing is in flight that a graceful end could still deliver.
    if (!client.connected) client.end(true);
    else await withTimeout(client.endAsync(), 5000).catch(() => client.end(true));
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
