// The port between the sink and a Kafka client: connect, send one run of already-encoded messages
// to the topic with acks and compression, disconnect. A send either resolves (every message of the
// run acknowledged as `acks` asks) or rejects with a ProducerError that says whether a later
// attempt may succeed. The sink keeps the accounting (runs delivered, batch retries); adapters keep
// nothing but the client.
import type { Logger } from '@iotsim/core';
import type { Compression, ResolvedKafkaOptions } from '../options.js';

/** One message: the record's JSON bytes and its key (absent: no key). */
export interface ProducerMessage {
  key?: string;
  value: Buffer;
}

/** What goes wrong, as far as the sink's messages and retries care. */
export type ProducerErrorKind = 'auth' | 'too-large' | 'connection' | 'other';

/** A classified failure of connect or send. */
export class ProducerError extends Error {
  override readonly name = 'ProducerError';
  /** A later attempt may succeed (network, leader moved, broker busy). */
  readonly retryable: boolean;
  readonly kind: ProducerErrorKind;
  constructor(
    message: string,
    options: { retryable: boolean; kind: ProducerErrorKind; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable;
    this.kind = options.kind;
  }
}

/** Everything an adapter needs to build its client. */
export interface ProducerSettings {
  readonly options: ResolvedKafkaOptions;
  /** PEM contents of the `ssl` files (read by the sink), when the protocol uses TLS. */
  readonly tls:
    { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } | undefined;
  readonly logger: Logger;
  /** Removes the sink's secrets from a text. */
  readonly redact: (text: string) => string;
}

/** One Kafka client behind the port. */
export interface KafkaProducer {
  /** The client's name and version, for the sink's debug line. */
  readonly client: string;
  /** Most messages one send should carry (the sink splits larger runs). */
  readonly maxMessagesPerSend: number;
  /** Connects (and authenticates) to the bootstrap brokers; rejects with a ProducerError. */
  connect(): Promise<void>;
  /** Sends one run of messages; resolves when acknowledged, rejects with a ProducerError. */
  send(
    topic: string,
    messages: ProducerMessage[],
    options: { acks: -1 | 0 | 1; compression: Compression },
  ): Promise<void>;
  /** Closes the connections; never rejects. */
  disconnect(): Promise<void>;
}

/** Builds an adapter (after its client package is loaded). */
export type ProducerFactory = (settings: ProducerSettings) => Promise<KafkaProducer>;

/** Bounded retries of one send inside the client (~10 s of backoff); the runner's retries come after. */
export const SEND_RETRIES = 5;
/** Backoff of the client's retries: 300 ms doubling to at most 5 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(5000, 300 * 2 ** Math.max(0, attempt - 1));
}
export const CONNECTION_TIMEOUT_MS = 3000;
export const REQUEST_TIMEOUT_MS = 30_000;
