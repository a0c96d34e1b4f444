import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server as NetServer } from 'node:net';
import {
  closeTcp,
  listenTcp,
  parseOptions,
  Server,
  SocketTracker,
  importSdk,
  type LiveSnapshot,
  type LiveState,
  type ServerContext,
} from '@iotsim/core';
import type { Aedes, AuthenticateError } from 'aedes';
import type { WebSocketServer } from 'ws';
import { MqttBrokerSchema, type MqttBrokerOptions } from './options.js';

/**
 * An embedded MQTT 3.1.1 broker (aedes): `iotsim run --server mqtt_broker -s mqtt` gives a working
 * feed with nothing else installed. Besides relaying what clients publish, it publishes the live
 * state itself: every sensor's newest value as a retained message on
 * `<live_topic>/<industry>/<device_id>/<sensor_name>` with the JSON payload
 * `{"value":…,"unit":…,"timestamp":…,"fault_active":…}`, at most once per `live_interval_s` (the
 * newest frame is always published, at the end of the interval at the latest).
 *
 * @example
 * sim.addServer(new MqttBroker({ port: 1883 }));  // mosquitto_sub -t 'iotsim/live/#' -v
 */
export class MqttBroker extends Server {
  static override readonly type = 'mqtt_broker';
  static override readonly schema = MqttBrokerSchema;
  readonly host: string;
  readonly port: number;
  readonly wsPort: number | undefined;
  readonly liveTopic: string;
  readonly liveIntervalS: number;
  private readonly username: string | undefined;
  private readonly password: string | undefined;
  private broker: Aedes | undefined;
  private tcp: NetServer | undefined;
  private http: HttpServer | undefined;
  private wss: WebSocketServer | undefined;
  private readonly sockets = new SocketTracker();
  private boundPort: number | undefined;
  private boundWsPort: number | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastPublished = 0;
  private topics: string[] = [];

  constructor(options: MqttBrokerOptions = {}) {
    super();
    ({
      host: this.host,
      port: this.port,
      wsPort: this.wsPort,
      username: this.username,
      password: this.password,
      liveTopic: this.liveTopic,
      liveIntervalS: this.liveIntervalS,
    } = parseOptions(MqttBrokerSchema, options));
  }

  /** The MQTT address, once started (`mqtt://127.0.0.1:1883`). */
  get address(): string | undefined {
    return this.boundPort === undefined
      ? undefined
      : `mqtt://${hostForUrl(this.host)}:${this.boundPort}`;
  }

  /** The WebSocket address, once started with `ws_port`. */
  get wsAddress(): string | undefined {
    return this.boundWsPort === undefined
      ? undefined
      : `ws://${hostForUrl(this.host)}:${this.boundWsPort}`;
  }

  override describe(): string {
    const auth = this.username ? ', user/password' : ', anonymous';
    const ws = this.wsPort !== undefined ? ` + ws :${this.boundWsPort ?? this.wsPort}` : '';
    return `mqtt_broker (${this.address ?? `${this.host}:${this.port}`}${ws}${auth})`;
  }

  async start(state: LiveState, context: ServerContext): Promise<void> {
    const { Aedes } = await importSdk('aedes', () => import('aedes'), 'mqtt_broker server', {
      hint: 'it comes with @iotsim/sink-mqtt: reinstall that',
    });
    const { username, password } = this;
    const broker = await Aedes.createBroker({
      authenticate: (_client, user, pass, done) => {
        if (username === undefined) return done(null, true);
        if (user === username && (password === undefined || pass?.toString('utf8') === password))
          return done(null, true);
        const err = Object.assign(new Error('bad user name or password'), {
          returnCode: 4,
        }) as AuthenticateError;
        done(err, false);
      },
    });
    this.broker = broker;
    try {
      const tcp = createServer((socket) => broker.handle(socket));
      this.sockets.track(tcp);
      this.tcp = tcp;
      this.boundPort = await this.listen(tcp, this.port, 'port');
      if (this.wsPort !== undefined) {
        const { WebSocketServer, createWebSocketStream } = await importSdk(
          'ws',
          () => import('ws'),
          'mqtt_broker server',
          { hint: 'it comes with @iotsim/sink-mqtt: reinstall that' },
        );
        const http = createHttpServer((_req, res) => {
          res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n');
        });
        this.sockets.track(http);
        this.http = http;
        this.boundWsPort = await this.listen(http, this.wsPort, 'ws_port');
        // Attached after listen: ws re-emits the server's errors, which would hide EADDRINUSE.
        const wss = new WebSocketServer({ server: http });
        wss.on('error', (err) => context.logger.warn(`${context.name}: websocket: ${err.message}`));
        wss.on('connection', (ws, req) => {
          const stream = createWebSocketStream(ws);
          stream.on('error', () => ws.terminate());
          broker.handle(stream, req);
        });
        this.wss = wss;
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.liveTopic !== '') this.publishLive(state);
    context.logger.info(
      `${context.name}: MQTT broker on ${this.address}${this.wsAddress ? ` and ${this.wsAddress}` : ''}${this.liveTopic ? `; live values retained on ${this.liveTopic}/<industry>/<device>/<sensor>` : ''}`,
    );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    const { broker, tcp, http, wss } = this;
    this.broker = this.tcp = this.http = this.wss = undefined;
    wss?.close();
    const closing: Promise<void>[] = [closeTcp(tcp, this.sockets), closeTcp(http, this.sockets)];
    if (broker) closing.push(new Promise((resolve) => broker.close(() => resolve())));
    await Promise.all(closing);
  }

  private listen(server: NetServer | HttpServer, port: number, option: string): Promise<number> {
    return listenTcp(server, {
      type: 'mqtt_broker',
      host: this.host,
      port,
      option,
      inUseHint: 'another MQTT broker?',
    });
  }

  /** Publishes the newest frame now, and after each frame at most once per interval. */
  private publishLive(state: LiveState): void {
    this.topics = state.table.channels.map(
      (c) => `${this.liveTopic}/${level(c.industry)}/${level(c.deviceId)}/${level(c.sensorName)}`,
    );
    const intervalMs = this.liveIntervalS * 1000;
    const publishNow = (): void => {
      this.timer = undefined;
      const s = state.latest;
      if (s && this.broker) {
        this.lastPublished = performance.now();
        this.publishSnapshot(state, s);
      }
    };
    publishNow();
    this.unsubscribe = state.subscribe(() => {
      if (this.timer) return;
      const wait = this.lastPublished + intervalMs - performance.now();
      if (wait <= 0) publishNow();
      else this.timer = setTimeout(publishNow, wait);
    });
  }

  private publishSnapshot(state: LiveState, s: LiveSnapshot): void {
    const broker = this.broker!;
    const channels = state.table.channels;
    const n = channels.length;
    const base = s.tickOffset * n;
    const { values, faults } = s.frame;
    const ts = String(s.timestamp);
    for (let i = 0; i < n; i++) {
      const c = channels[i]!;
      const v = values[base + i]!;
      const payload = `{"value":${Number.isFinite(v) ? String(v) : 'null'},"unit":${JSON.stringify(c.unit)},"timestamp":${ts},"fault_active":${faults[base + i] === 1}}`;
      broker.publish(
        {
          cmd: 'publish',
          topic: this.topics[i]!,
          payload: Buffer.from(payload),
          qos: 0,
          retain: true,
          dup: false,
        },
        noop,
      );
    }
  }
}

function noop(): void {}

/** A name as one topic level: `/`, `+`, `#` become `_`. */
function level(text: string): string {
  return text.replace(/[/+#\0]/g, '_');
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
