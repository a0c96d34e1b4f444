import {
  createServer,
  type IncomingMessage,
  type Server as NodeServer,
  type ServerResponse,
} from 'node:http';
import type { LiveState } from '../live-state.js';
import { opt, parseOptions, v, type InputOf } from '../schema.js';
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
 * JSON, by industry, device and sensor name; `GET /healthz` answers `ok` with the state's version.
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
    const server = createServer((req, res) => this.handle(state, req, res));
    this.sockets.track(server);
    this.boundPort = await listenTcp(server, { type: 'http', host: this.host, port: this.port });
    this.server = server;
    context.logger.info(`${context.name}: serving GET /state and /healthz on ${this.address}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
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
    if (path === '/state') {
      const body = JSON.stringify(state.toJSON());
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end('not found: try GET /state or /healthz\n');
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
