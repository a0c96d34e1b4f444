import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { SensorRecord, type SensorRecordDict } from '@iotsim/core';

/** One request as the server saw it. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body bytes as sent (still gzipped if the client gzipped). */
  raw: Buffer;
  /** When the request arrived (performance.now(), ms). */
  at: number;
}

/** What the handler does with a request whose body has been read. */
export type Handler = (req: ReceivedRequest, res: ServerResponse, msg: IncomingMessage) => void;

const ok: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
};

/** A node:http(s) server on 127.0.0.1 (random port) that records every request. */
export class RecordingServer {
  readonly requests: ReceivedRequest[] = [];
  handler: Handler = ok;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(tls?: { key: string; cert: string }): Promise<RecordingServer> {
    const server: Server = tls ? createHttpsServer(tls) : createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const rs = new RecordingServer(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    server.on('request', (msg: IncomingMessage, res: ServerResponse) => {
      const at = performance.now();
      const chunks: Buffer[] = [];
      msg.on('data', (c: Buffer) => chunks.push(c));
      msg.on('end', () => {
        const req: ReceivedRequest = {
          method: msg.method ?? '',
          path: msg.url ?? '',
          headers: msg.headers,
          raw: Buffer.concat(chunks),
          at,
        };
        rs.requests.push(req);
        rs.handler(req, res, msg);
      });
    });
    return rs;
  }

  /** Requests to `path`, in arrival order. */
  to(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Records received on `path`, parsed from the raw bodies, in arrival order. */
  recordsAt(path: string): SensorRecordDict[] {
    return this.to(path).flatMap((r) => parseBody(r));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** The body's text, gunzipped when the request says so. */
export function bodyText(req: ReceivedRequest): string {
  const bytes = req.headers['content-encoding'] === 'gzip' ? gunzipSync(req.raw) : req.raw;
  return bytes.toString('utf8');
}

/** The body as records, checked field by field through `SensorRecord.fromDict`. */
export function parseBody(req: ReceivedRequest): SensorRecordDict[] {
  const parsed = JSON.parse(bodyText(req)) as Record<string, unknown>[];
  if (!Array.isArray(parsed)) throw new Error('body is not a JSON array');
  return parsed.map((d) => SensorRecord.fromDict(d).toDict());
}
