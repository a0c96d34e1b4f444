// Local stand-ins for a Databricks workspace's OAuth token endpoint (node:http) and the Zerobus
// gRPC service (grpc-js, plaintext on 127.0.0.1). The gRPC server checks the bearer token and
// table header, offsets (0, 1, 2, … per stream), and records what it acknowledged.
import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptorModule from 'protobufjs/ext/descriptor/index.js';
import type { SensorRecordDict } from '@iotsim/core';

const PROTO = fileURLToPath(new URL('../proto/zerobus.proto', import.meta.url));
const { DescriptorProto } = descriptorModule as unknown as { DescriptorProto: protobuf.Type };

export interface TokenRequest {
  authorization: string | undefined;
  form: Record<string, string>;
}

/** The workspace's `/oidc/v1/token` endpoint. */
export class TokenEndpoint {
  readonly requests: TokenRequest[] = [];
  readonly issued = new Set<string>();
  /** When set, every token request is answered with this HTTP status. */
  failWith: number | undefined;
  private server: HttpServer | undefined;
  url = '';

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(body));
        this.requests.push({ authorization: req.headers.authorization, form });
        const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
        if (req.method !== 'POST' || req.url !== '/oidc/v1/token') {
          res.writeHead(404).end();
        } else if (this.failWith !== undefined) {
          res.writeHead(this.failWith, { 'content-type': 'application/json' });
          res.end('{"error":"injected"}');
        } else if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end('{"error":"invalid_client","error_description":"Client authentication failed"}');
        } else if (form.grant_type !== 'client_credentials' || form.scope !== 'all-apis') {
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end('{"error":"invalid_request"}');
        } else {
          const token = `tok-${randomBytes(12).toString('hex')}`;
          this.issued.add(token);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }));
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const addr = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A fault to inject: after `afterRequests` ingest requests in total, fail the stream. */
export interface Fault {
  afterRequests: number;
  /**
   * `error`: end with UNAVAILABLE without acking that request; `denied`: the same with
   * PERMISSION_DENIED; `signal`: send close_stream_signal, ack, then end.
   */
  kind: 'error' | 'denied' | 'signal';
}

interface StreamLog {
  id: string;
  recordType: string;
  offsets: number[];
}

type Call = grpc.ServerDuplexStream<Record<string, never>, Record<string, unknown>>;

/** The Zerobus service. */
export class ZerobusServer {
  /** Records acknowledged as durable, in order. */
  readonly committed: SensorRecordDict[] = [];
  readonly streams: StreamLog[] = [];
  readonly rejections: string[] = [];
  /** The `x-zerobus-sdk` and `user-agent` headers of every stream request, in order. */
  readonly clients: { sdk: unknown; userAgent: unknown }[] = [];
  faults: Fault[] = [];
  private requestsSeen = 0;
  private server: grpc.Server | undefined;
  endpoint = '';

  constructor(
    private readonly tokens: TokenEndpoint,
    private readonly tableName: string,
  ) {}

  reset(): void {
    this.committed.length = 0;
    this.streams.length = 0;
    this.rejections.length = 0;
    this.clients.length = 0;
    this.requestsSeen = 0;
    this.faults = [];
  }

  async start(): Promise<void> {
    const def = await loader.load(PROTO, {
      keepCase: true,
      longs: Number,
      enums: String,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      databricks: { zerobus: { Zerobus: { service: grpc.ServiceDefinition } } };
    };
    this.server = new grpc.Server();
    this.server.addService(pkg.databricks.zerobus.Zerobus.service, {
      EphemeralStream: (call: Call) => this.handle(call),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.tryShutdown(() => r()) : r()));
  }

  private reject(call: Call, code: grpc.status, why: string): void {
    this.rejections.push(why);
    call.emit('error', { code, details: why });
  }

  private handle(call: Call): void {
    this.clients.push({
      sdk: call.metadata.get('x-zerobus-sdk')[0],
      userAgent: call.metadata.get('user-agent')[0],
    });
    const auth = call.metadata.get('authorization')[0];
    const table = call.metadata.get('x-databricks-zerobus-table-name')[0];
    const token = typeof auth === 'string' ? auth.replace(/^Bearer /, '') : '';
    if (!this.tokens.issued.has(token))
      return this.reject(call, grpc.status.UNAUTHENTICATED, 'bad bearer token');
    if (table !== this.tableName)
      return this.reject(call, grpc.status.PERMISSION_DENIED, `table header ${String(table)}`);
    let log: StreamLog | undefined;
    let decode: ((b: Uint8Array) => SensorRecordDict) | undefined;
    let done = false;
    call.on('data', (msg: Record<string, unknown>) => {
      if (done) return;
      if (!log) {
        const create = msg.create_stream as
          { table_name?: string; record_type?: string; descriptor_proto?: Uint8Array } | undefined;
        if (!create || create.table_name !== this.tableName) {
          done = true;
          return this.reject(
            call,
            grpc.status.INVALID_ARGUMENT,
            'first message is not create_stream for the table',
          );
        }
        if (create.record_type === 'PROTO') {
          if (!create.descriptor_proto) {
            done = true;
            return this.reject(
              call,
              grpc.status.INVALID_ARGUMENT,
              'PROTO stream without descriptor',
            );
          }
          // fromDescriptor is added to Type by protobufjs/ext/descriptor (not in its typings).
          const { fromDescriptor } = protobuf.Type as unknown as {
            fromDescriptor(d: protobuf.Message): protobuf.Type;
          };
          const type = fromDescriptor(DescriptorProto.decode(create.descriptor_proto));
          new protobuf.Root().add(type);
          decode = (b) => {
            const o = type.toObject(type.decode(b), { longs: Number, defaults: true }) as Record<
              string,
              unknown
            >;
            const entries = o.metadata as
              Array<{ key: string; value: string }> | Record<string, string>;
            o.metadata = Array.isArray(entries)
              ? Object.fromEntries(entries.map((e) => [e.key, e.value]))
              : entries;
            return o as unknown as SensorRecordDict;
          };
        } else if (create.record_type !== 'JSON') {
          done = true;
          return this.reject(
            call,
            grpc.status.INVALID_ARGUMENT,
            `record type ${create.record_type}`,
          );
        }
        log = {
          id: `stream-${this.streams.length + 1}`,
          recordType: create.record_type,
          offsets: [],
        };
        this.streams.push(log);
        call.write({ create_stream_response: { stream_id: log.id } });
        return;
      }
      const batch = msg.ingest_record_batch as
        | {
            offset_id: number;
            json_batch?: { records: string[] };
            proto_encoded_batch?: { records: Uint8Array[] };
          }
        | undefined;
      if (!batch) {
        done = true;
        return this.reject(call, grpc.status.INVALID_ARGUMENT, 'expected ingest_record_batch');
      }
      const expected = log.offsets.length;
      if (batch.offset_id !== expected) {
        done = true;
        return this.reject(
          call,
          grpc.status.INVALID_ARGUMENT,
          `offset ${batch.offset_id}, expected ${expected}`,
        );
      }
      log.offsets.push(batch.offset_id);
      this.requestsSeen++;
      const records = batch.json_batch
        ? batch.json_batch.records.map((r) => JSON.parse(r) as SensorRecordDict)
        : (batch.proto_encoded_batch?.records ?? []).map((b) => decode!(b));
      const fault = this.faults.find((f) => f.afterRequests === this.requestsSeen);
      if (fault?.kind === 'error' || fault?.kind === 'denied') {
        // The request is lost with the stream: not durable, not acknowledged.
        done = true;
        call.emit(
          'error',
          fault.kind === 'error'
            ? { code: grpc.status.UNAVAILABLE, details: 'injected: stream closed by the server' }
            : { code: grpc.status.PERMISSION_DENIED, details: 'injected: no MODIFY on the table' },
        );
        return;
      }
      this.committed.push(...records);
      call.write({ ingest_record_response: { durability_ack_up_to_offset: batch.offset_id } });
      if (fault?.kind === 'signal') {
        done = true;
        call.write({ close_stream_signal: { duration: { seconds: 0, nanos: 0 } } });
        call.end();
      }
    });
    call.on('end', () => {
      if (!done) call.end();
    });
    call.on('error', () => undefined);
  }
}
