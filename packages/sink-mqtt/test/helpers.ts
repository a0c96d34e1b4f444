// Test helpers: an in-process aedes broker on a free port, and an independent mqtt.js subscriber
// that records what arrives.
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';

/** An aedes broker on 127.0.0.1, port 0 unless given. */
export class TestBroker {
  port = 0;
  /** The client id of every CONNECT the broker accepted, in order. */
  readonly clientIds: string[] = [];
  private server: Server | undefined;
  private broker: Aedes | undefined;

  async start(options: { username?: string; password?: string } = {}): Promise<this> {
    const broker = await Aedes.createBroker({
      authenticate: (_client, username, password, done) => {
        if (options.username === undefined) return done(null, true);
        if (username === options.username && password?.toString() === options.password)
          return done(null, true);
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false);
      },
    });
    broker.on('client', (client) => this.clientIds.push(client.id));
    const server = createServer((socket) => broker.handle(socket));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    this.broker = broker;
    return this;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const broker = this.broker;
    const server = this.server;
    this.broker = undefined;
    this.server = undefined;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** One message as a subscriber received it. */
export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  contentType?: string;
  messageExpiryInterval?: number;
}

/** An mqtt.js subscriber on `filter` that keeps every message. */
export class Subscriber {
  readonly messages: Received[] = [];
  private client: MqttClient | undefined;

  static async open(
    url: string,
    filter: string | string[],
    qos: 0 | 1 | 2 = 2,
    protocolVersion: 4 | 5 = 4,
  ): Promise<Subscriber> {
    const s = new Subscriber();
    const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0 });
    client.on('message', (topic, payload, packet) => {
      s.messages.push({
        topic,
        payload,
        retain: packet.retain,
        qos: packet.qos,
        contentType: packet.properties?.contentType,
        messageExpiryInterval: packet.properties?.messageExpiryInterval,
      });
    });
    await client.subscribeAsync(filter, { qos });
    s.client = client;
    return s;
  }

  /** Waits until `count` messages arrived (if given), then until none came for 300 ms. */
  async settle(count?: number, timeoutMs = 15_000): Promise<Received[]> {
    const until = Date.now() + timeoutMs;
    while (count !== undefined && this.messages.length < count && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    let last = this.messages.length;
    let stableSince = Date.now();
    while (Date.now() < until && Date.now() - stableSince < 300) {
      await new Promise((r) => setTimeout(r, 20));
      if (this.messages.length !== last) {
        last = this.messages.length;
        stableSince = Date.now();
      }
    }
    return this.messages;
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

let unique = 0;
/** A topic prefix no other test uses. */
export function uniquePrefix(name: string): string {
  return `t${process.pid}-${Date.now().toString(36)}-${unique++}/${name}`;
}
