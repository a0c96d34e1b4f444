import { SinkWriteError } from '@iotsim/core';
import type { IClientPublishOptions, MqttClient } from 'mqtt';

/** Waits (up to `timeoutS`) for a client that is reconnecting; throws a retryable SinkWriteError otherwise. */
export async function waitUntilConnected(
  client: MqttClient,
  timeoutS: number,
  signal: AbortSignal,
  label: string,
): Promise<void> {
  if (client.connected) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(
        new SinkWriteError(`mqtt ${label}: not connected (reconnecting for ${timeoutS} s)`, {
          retryAfterS: 1,
        }),
      );
    }, timeoutS * 1000);
    const onConnect = (): void => {
      done();
      resolve();
    };
    const onAbort = (): void => {
      done();
      reject(
        new SinkWriteError(`mqtt ${label}: not connected, and the sink is stopping`, {
          retryable: false,
        }),
      );
    };
    const done = (): void => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      signal.removeEventListener('abort', onAbort);
    };
    client.on('connect', onConnect);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}

/** QoS 0 publishes handed to mqtt.js and not yet written to the socket. */
const QOS0_WINDOW = 512;

type PublishCallback = (err?: Error) => void;

/**
 * Keeps at most `limit` QoS 1/2 publishes unacknowledged (the broker's MQTT 5 Receive Maximum:
 * Mosquitto answers "quota exceeded" beyond it), and at most 512 QoS 0 publishes unwritten; the
 * rest wait in order.
 */
export class PublishWindow {
  private outstanding = 0;
  private readonly queue: {
    topic: string;
    payload: Buffer;
    options: IClientPublishOptions;
    cb: PublishCallback;
  }[] = [];
  private head = 0;

  constructor(
    private readonly client: MqttClient,
    /** Unacknowledged QoS 1/2 publishes allowed at once. */
    public limit: number,
  ) {}

  /** Publishes now or once the window has room; `cb` as mqtt.js calls it. */
  publish(
    topic: string,
    payload: Buffer,
    options: IClientPublishOptions,
    cb: PublishCallback,
  ): void {
    if (this.outstanding < this.limitFor(options) && this.head === this.queue.length)
      this.send(topic, payload, options, cb);
    else this.queue.push({ topic, payload, options, cb });
  }

  private send(
    topic: string,
    payload: Buffer,
    options: IClientPublishOptions,
    cb: PublishCallback,
  ): void {
    this.outstanding++;
    this.client.publish(topic, payload, options, (err) => {
      this.outstanding--;
      this.drain();
      cb(err);
    });
  }

  /** QoS 0 is written, not acknowledged: a bound keeps mqtt.js from one 'drain' listener per message. */
  private limitFor(options: IClientPublishOptions): number {
    return options.qos ? this.limit : QOS0_WINDOW;
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const next = this.queue[this.head]!;
      if (this.outstanding >= this.limitFor(next.options)) break;
      this.queue[this.head++] = undefined as never;
      this.send(next.topic, next.payload, next.options, next.cb);
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
  }
}

/**
 * Publishes `messages` in order and resolves when every one is acknowledged (QoS 1/2) or written
 * (QoS 0). On a failed publish or an abort it throws a SinkWriteError whose `delivered` counts
 * the records at the front of the batch whose messages all landed (`messageOf[r]` is the message
 * that carries record r).
 */
export async function waitForPublishes(
  client: PublishWindow,
  messages: readonly { topic: string; payload: Buffer }[],
  options: IClientPublishOptions,
  messageOf: Int32Array,
  signal: AbortSignal,
  label: string,
): Promise<void> {
  const m = messages.length;
  if (m === 0) return;
  const acked = new Uint8Array(m);
  let pending = m;
  let failure: Error | undefined;
  const delivered = (): number => {
    let r = 0;
    while (r < messageOf.length && acked[messageOf[r]!] === 1) r++;
    return r;
  };
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void =>
      finish(
        new SinkWriteError(`mqtt ${label}: publishes not acknowledged before the deadline`, {
          retryable: false,
          delivered: delivered(),
        }),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    for (let k = 0; k < m; k++) {
      const msg = messages[k]!;
      client.publish(msg.topic, msg.payload, options, (err) => {
        if (err) {
          failure ??= err;
        } else acked[k] = 1;
        if (--pending === 0) {
          if (failure)
            finish(
              new SinkWriteError(`mqtt ${label}: publish failed: ${failure.message}`, {
                delivered: delivered(),
                cause: failure,
              }),
            );
          else finish();
        }
      });
    }
    if (signal.aborted) onAbort();
  });
}
