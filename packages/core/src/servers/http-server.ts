import {
  createServer,
  type IncomingMessage,
  type Server as NodeServer,
  type ServerResponse,
} from 'node:http';
import type { LiveState } from '../live-state.js';
import { opt, parseOptions, v, type InputOf } from '../schema.js';
import type { SinkMetrics } from '../runner.js';
import { Server, type ServerContext } from '../server.js';
import { closeTcp, listenTcp, SocketTracker } from './listen.js';

const HttpServerSchema = opt.object({
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host: v.nullish(opt.string(), '127.0.0.1'),
  /** TCP port; 0 picks a free one (see `address`). Default 8080. */
  port: v.nullish(opt.number({ min: 0, max: 65535, integer: true }), 8080),
});

/** Options of HttpServer (YAML: `servers: [{ type: http, host, port }]`). */
export type HttpServerOptions = InputOf<typeof HttpServerSchema>;

/**
 * Serves the live simulation over HTTP: `GET /state` returns the latest value of every sensor as
 * JSON, by industry, device and sensor name; `GET /healthz` answers `ok` with the state's version;
 * `GET /metrics` gives Prometheus text (frames and ticks published, the latest tick and its time,
 * channels, devices, active faults, the rate) and, in a Simulator run, each sink's counters
 * (`iotsim_sink_*{sink,type}`: records generated, delivered, dropped, failed and buffered,
 * batches, retries, write p99 and the sink's own events).
 *
 * @example
 * sim.addServer(new HttpServer({ port: 8080 }));  // curl 127.0.0.1:8080/state
 */
export class HttpServer extends Server {
  static override readonly type = 'http';
  static override readonly schema = HttpServerSchema;
  readonly host: string;
  readonly port: number;
  private server: NodeServer | undefined;
  private readonly sockets = new SocketTracker();
  private boundPort: number | undefined;
  private metrics: MetricsSource | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(options: HttpServerOptions = {}) {
    super();
    ({ host: this.host, port: this.port } = parseOptions(HttpServerSchema, options));
  }

  /** The address served, once started (`http://127.0.0.1:8080`). */
  get address(): string | undefined {
    return this.boundPort === undefined
      ? undefined
      : `http://${hostForUrl(this.host)}:${this.boundPort}`;
  }

  async start(state: LiveState, context: ServerContext): Promise<void> {
    const devices = new Set(state.table.channels.map((c) => `${c.industry}\0${c.deviceId}`));
    const metrics: MetricsSource = {
      ticks: 0,
      devices: devices.size,
      rateHz: context.rateHz,
      sinks: context.sinkMetrics,
    };
    this.unsubscribe = state.subscribe((s) => {
      metrics.ticks += s.frame.ticks;
    });
    this.metrics = metrics;
    const server = createServer((req, res) => this.handle(state, req, res));
    this.sockets.track(server);
    try {
      this.boundPort = await listenTcp(server, { type: 'http', host: this.host, port: this.port });
    } catch (err) {
      this.unsubscribe();
      this.unsubscribe = undefined;
      throw err;
    }
    this.server = server;
    context.logger.info(
      `${context.name}: serving GET /state and /healthz on ${this.address}, Prometheus text on /metrics`,
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await closeTcp(server, this.sockets);
  }

  override describe(): string {
    return `http (${this.address ?? `${this.host}:${this.port}`})`;
  }

  private handle(state: LiveState, req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', version: state.version }));
      return;
    }
    if (path === '/metrics' && this.metrics) {
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'cache-control': 'no-store',
      });
      res.end(metricsText(state, this.metrics));
      return;
    }
    if (path === '/state') {
      const body = JSON.stringify(state.toJSON());
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try GET /state, /healthz or /metrics\n');
  }
}

/** What `/metrics` reads beside the live state, gathered while serving. */
interface MetricsSource {
  /** Ticks in the frames published since start (a backfill frame holds many). */
  ticks: number;
  /** Distinct (industry, device) pairs of the run. */
  readonly devices: number;
  /** Generator ticks per simulated second. */
  readonly rateHz: number;
  /** The run's sink counters, when the server runs inside a Simulator. */
  readonly sinks: (() => readonly SinkMetrics[]) | undefined;
}

/** The Prometheus text exposition (version 0.0.4) of the live state. */
function metricsText(state: LiveState, m: MetricsSource): string {
  const latest = state.latest;
  let faults = 0;
  for (let i = 0; i < state.table.length; i++) if (state.faultActive(i)) faults++;
  const lines: string[] = [];
  const metric = (name: string, kind: 'counter' | 'gauge', help: string, value: number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`, `${name} ${value}`);
  };
  /** One metric family with a sample per sink (and per extra label). */
  const perSink = (
    name: string,
    kind: 'counter' | 'gauge',
    help: string,
    samples: readonly { sink: SinkMetrics; labels?: Record<string, string>; value: number }[],
  ) => {
    if (!samples.length) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
    for (const x of samples) {
      const labels = { sink: x.sink.name, type: x.sink.type, ...x.labels };
      const text = Object.entries(labels)
        .map(([k, val]) => `${k}="${labelValue(val)}"`)
        .join(',');
      lines.push(`${name}{${text}} ${x.value}`);
    }
  };
  metric(
    'iotsim_frames_published_total',
    'counter',
    'Frames published to the live state (its version).',
    state.version,
  );
  metric(
    'iotsim_ticks_published_total',
    'counter',
    'Generator ticks in the frames published since the server started.',
    m.ticks,
  );
  if (latest) {
    metric(
      'iotsim_last_tick',
      'gauge',
      'Index of the newest tick on the clock grid (tick k at k / rate).',
      latest.tick,
    );
    metric(
      'iotsim_last_tick_timestamp_seconds',
      'gauge',
      'Simulated time of the newest tick, epoch seconds.',
      latest.timestamp,
    );
  }
  metric(
    'iotsim_channels',
    'gauge',
    'Channels (industry, device, sensor) this process generates.',
    state.table.length,
  );
  metric(
    'iotsim_devices',
    'gauge',
    'Devices (industry, device id) this process generates.',
    m.devices,
  );
  metric(
    'iotsim_faults_active',
    'gauge',
    'Channels whose anomaly is active in the newest tick.',
    faults,
  );
  metric('iotsim_update_rate_hz', 'gauge', 'Generator ticks per simulated second.', m.rateHz);
  const sinks = m.sinks?.() ?? [];
  // One sample per sink: name, type, help, value.
  const simple: [string, 'counter' | 'gauge', string, (s: SinkMetrics) => number][] = [
    [
      'iotsim_sink_records_generated_total',
      'counter',
      'Records handed to the sink.',
      (s) => s.generated,
    ],
    [
      'iotsim_sink_records_delivered_total',
      'counter',
      'Records the sink confirmed written.',
      (s) => s.delivered,
    ],
    [
      'iotsim_sink_records_failed_total',
      'counter',
      'Records whose write failed after every retry or missed the shutdown deadline.',
      (s) => s.failed,
    ],
    [
      'iotsim_sink_records_buffered',
      'gauge',
      'Records buffered, in a write or held by the sink (generated = delivered + dropped + failed + buffered).',
      (s) => s.buffered,
    ],
    ['iotsim_sink_batches_total', 'counter', 'Batches written.', (s) => s.batches],
    ['iotsim_sink_batches_failed_total', 'counter', 'Batches given up on.', (s) => s.failedBatches],
    [
      'iotsim_sink_retries_total',
      'counter',
      'Write attempts repeated after a failure.',
      (s) => s.retries,
    ],
  ];
  for (const [name, kind, help, value] of simple)
    perSink(
      name,
      kind,
      help,
      sinks.map((sink) => ({ sink, value: value(sink) })),
    );
  perSink(
    'iotsim_sink_records_dropped_total',
    'counter',
    'Records dropped by backpressure (reason oldest or newest).',
    sinks.flatMap((sink) => [
      { sink, labels: { reason: 'oldest' }, value: sink.dropped.oldest },
      { sink, labels: { reason: 'newest' }, value: sink.dropped.newest },
    ]),
  );
  perSink(
    'iotsim_sink_write_p99_seconds',
    'gauge',
    'p99 latency of successful writes so far.',
    sinks
      .filter((s) => s.writeLatencyMs.count > 0)
      .map((sink) => ({ sink, value: sink.writeLatencyMs.p99 / 1000 })),
  );
  perSink(
    'iotsim_sink_events_total',
    'counter',
    "The sink's own counters (Delta commits, Kafka requests …), by event.",
    sinks.flatMap((sink) =>
      Object.entries(sink.sinkMetrics).map(([event, value]) => ({
        sink,
        labels: { event },
        value,
      })),
    ),
  );
  return lines.join('\n') + '\n';
}

/** A Prometheus label value: backslash, double quote and newline escaped. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
