import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  JSON_RECORD_LAYOUT,
  RecordTextEncoder,
  parseSinkOptions,
  Redactor,
  Sink,
  SinkConnectError,
  SinkWriteError,
  type SinkContext,
  type WriteRequest,
} from '@iotsim/core';
import { clientFromEnv, producerFactory } from './internal/clients.js';
import { DEFAULT_CLIENT_ID } from './internal/package-info.js';
import { messageRuns } from './internal/messages.js';
import { ProducerError, type KafkaProducer, type ProducerSettings } from './internal/producer.js';
import { KafkaOptionsSchema, type KafkaSinkOptions, type ResolvedKafkaOptions } from './options.js';

/**
 * Most writes in flight at once (the throughput option `maxInFlight`): Kafka's own default for
 * `max.in.flight.requests.per.connection`.
 */
export const MAX_IN_FLIGHT = 5;

/**
 * Publishes each record as a JSON message to an Apache Kafka topic: one produce request per
 * flushed batch, keyed by `sensor_name` (or another field), compressed with snappy, gzip, lz4 or
 * zstd, with kafkajs 2.2.4 (patched produce path) behind a small producer port.
 *
 * Capabilities: up to `MAX_IN_FLIGHT` writes may be in flight (`maxInFlight` in the throughput
 * options; default 1). A batch that fails and is retried lands after batches written later, so
 * the sink is not `ordered` then: with one write in flight (the default) order per partition is
 * kept, also across retries. An idempotent producer takes one write at a time.
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
  static override readonly schema = KafkaOptionsSchema;
  /** Validated options (the password is in `sasl.password`; never log this object). */
  readonly options: ResolvedKafkaOptions;
  private producer: KafkaProducer | undefined;
  private readonly encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT);
  /** This sink's secrets (and core's patterns) out of every message it makes. */
  private readonly redactor = new Redactor();
  private readonly redactText = (text: string): string => this.redactor.redact(text);

  constructor(options: KafkaSinkOptions = {}) {
    super();
    this.options = parseSinkOptions(KafkaOptionsSchema, options);
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
          message: `must be 1 for an idempotent producer (its sequence numbers allow one send at a time), got ${inFlight}`,
        },
      ]);
    }
  }

  async connect(): Promise<void> {
    const o = this.options;
    const tls = o.securityProtocol.endsWith('SSL') ? await this.tlsFiles() : undefined;
    // In a sharded or threaded run the default client id names the shard (quotas, broker logs).
    const clientId =
      this.shard && o.clientId === DEFAULT_CLIENT_ID ? this.shard.clientId : o.clientId;
    const settings: ProducerSettings = {
      options: { ...o, clientId },
      tls,
      logger: this.logger,
      redact: this.redactText,
    };
    const producer = await (await producerFactory(clientFromEnv()))(settings);
    this.logger.debug(`kafka: client ${producer.client}`);
    try {
      await producer.connect();
    } catch (err) {
      throw this.connectError(err);
    }
    this.producer = producer;
  }

  async write(request: WriteRequest): Promise<void> {
    const producer = this.producer;
    if (!producer) throw this.notConnected();
    const o = this.options;
    const size = request.size;
    let delivered = 0;
    for (const messages of messageRuns(
      request.batch,
      o.keyField,
      o.maxRequestSize,
      producer.maxMessagesPerSend,
      this.encoder,
    )) {
      // A batch sent as several requests stops at the shutdown deadline (a sent request cannot be recalled).
      if (request.signal.aborted) {
        throw new SinkWriteError(
          `kafka: ${size - delivered} records not sent to topic '${o.topic}': the sink is stopping`,
          { retryable: false, delivered },
        );
      }
      try {
        await producer.send(o.topic, messages, { acks: o.acks, compression: o.compression });
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

  /** The PEM contents of the `ssl` files; an unreadable one is a ConfigError naming the option. */
  private async tlsFiles(): Promise<NonNullable<ProducerSettings['tls']>> {
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
    const text = err instanceof Error ? this.redactText(err.message) : String(err);
    if (err instanceof ProducerError && err.kind === 'auth' && o.sasl) {
      return new SinkConnectError(
        this.type,
        `authentication failed at ${where} (${o.securityProtocol} ${o.sasl.mechanism}, user '${o.sasl.username}'): ${text}; check sasl_username, sasl_password and sasl_mechanism`,
        { cause: err },
      );
    }
    const hint =
      o.securityProtocol === 'PLAINTEXT' ? '' : ` and that it speaks ${o.securityProtocol} there`;
    return new SinkConnectError(
      this.type,
      `cannot connect to Kafka at ${where}: ${text}; check bootstrap_servers and that the broker is running${hint}`,
      { cause: err },
    );
  }

  private writeError(err: unknown, size: number, delivered: number): SinkWriteError {
    const e =
      err instanceof ProducerError
        ? err
        : new ProducerError(String(err), { retryable: true, kind: 'other', cause: err });
    const hint =
      e.kind === 'too-large'
        ? ` (lower batch_size or max_request_size, or raise the broker's message.max.bytes)`
        : '';
    return new SinkWriteError(
      `kafka: send of ${size - delivered} records to topic '${this.options.topic}' failed: ${this.redactText(e.message)}${hint}`,
      { retryable: e.retryable, delivered, cause: err },
    );
  }
}
