import { fileURLToPath } from 'node:url';
import type * as Grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';
import {
  importSdk,
  parseSinkOptions,
  recordToJson,
  redact,
  Sink,
  SinkConnectError,
  SinkWriteError,
  type SensorRecord,
  type WriteRequest,
} from '@iotsim/core';
import { resolveCredentials, type DatabricksCredentials } from './internal/credentials.js';
import { parseEndpoint, type ZerobusEndpoint } from './internal/endpoint.js';
import { ZerobusSchema, type ResolvedZerobusOptions, type ZerobusSinkOptions } from './options.js';
import { RecordEncoder } from './internal/record-proto.js';
import {
  EphemeralStream,
  StreamBrokenError,
  type EphemeralStreamRequest,
  type EphemeralStreamResponse,
} from './internal/stream.js';
import {
  fetchZerobusToken,
  TokenError,
  tokenConnectError,
  type AccessToken,
} from './internal/token.js';
import { SDK_ID } from './internal/version.js';

const PROTO_FILE = fileURLToPath(new URL('../proto/zerobus.proto', import.meta.url));

// gRPC status codes after which re-creating the stream cannot help.
const FATAL_CODES = new Set([
  3 /* INVALID_ARGUMENT */, 5 /* NOT_FOUND */, 7 /* PERMISSION_DENIED */,
  9 /* FAILED_PRECONDITION */,
]);
const UNAUTHENTICATED = 16;

type ZerobusClient = Grpc.Client & {
  EphemeralStream(
    metadata: Grpc.Metadata,
  ): Grpc.ClientDuplexStream<EphemeralStreamRequest, EphemeralStreamResponse>;
};

interface Request {
  count: number;
  batch: Omit<NonNullable<EphemeralStreamRequest['ingest_record_batch']>, 'offset_id'>;
}

/**
 * Streams records into a Databricks Unity Catalog table through Zerobus Ingest, speaking its
 * gRPC protocol (`databricks.zerobus.Zerobus/EphemeralStream`) with @grpc/grpc-js. A batch is
 * delivered once the server acknowledges its last offset as durable; a stream the server closes
 * is re-created and the unacknowledged requests are sent again.
 *
 * @example
 * const sink = new ZerobusSink({
 *   serverEndpoint: '1234567890123456.zerobus.us-west-2.cloud.databricks.com',
 *   tableName: 'main.iot.sensor_data',
 *   databricksProfile: 'DEFAULT',
 *   batchSize: 500,
 * });
 */
export class ZerobusSink extends Sink {
  static override readonly type = 'zerobus';
  static override readonly schema = ZerobusSchema;
  private readonly options: ResolvedZerobusOptions;
  private readonly endpoint: ZerobusEndpoint;
  private credentials: DatabricksCredentials | undefined;
  private token: AccessToken | undefined;
  private client: ZerobusClient | undefined;
  private grpc: typeof Grpc | undefined;
  private encoder: RecordEncoder | undefined;
  private stream: EphemeralStream | undefined;
  /** Streams created so far (the first plus recoveries), for logs and tests. */
  streamsOpened = 0;

  constructor(options: ZerobusSinkOptions) {
    super();
    const own = parseSinkOptions(ZerobusSchema, options);
    this.options = own;
    this.registerSecret(own.clientSecret);
    this.endpoint = own.serverEndpoint
      ? parseEndpoint(own.serverEndpoint)
      : { address: '', secure: true, host: '', workspaceId: '' };
  }

  override describe(): string {
    return `zerobus → ${this.endpoint.address} table ${this.options.tableName} (${this.options.recordType}${this.endpoint.secure ? '' : ', plaintext'})`;
  }

  async connect(): Promise<void> {
    const o = this.options;
    this.credentials = await resolveCredentials({
      workspaceUrl: o.workspaceUrl,
      clientId: o.clientId,
      clientSecret: o.clientSecret,
      profile: o.databricksProfile,
    });
    const c = this.credentials;
    this.registerSecret(c.clientSecret);
    this.logger.debug(
      `zerobus: workspace from ${c.sources.workspaceUrl}, client id from ${c.sources.clientId}, secret from ${c.sources.clientSecret}`,
    );
    try {
      await this.refreshToken();
    } catch (err) {
      throw tokenConnectError(err);
    }
    const [grpc, loader, protobuf] = await Promise.all([
      loadSdk<typeof Grpc>('@grpc/grpc-js'),
      loadSdk<typeof ProtoLoader>('@grpc/proto-loader'),
      loadSdk<typeof Protobuf>('protobufjs'),
    ]);
    this.grpc = grpc;
    if (o.recordType === 'proto') {
      const descriptor = await loadSdk<{ DescriptorProto: Protobuf.Type }>(
        'protobufjs/ext/descriptor/index.js',
      );
      this.encoder = new RecordEncoder(protobuf, descriptor.DescriptorProto);
    }
    const definition = await loader.load(PROTO_FILE, {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: false,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      databricks: { zerobus: { Zerobus: new (...args: unknown[]) => ZerobusClient } };
    };
    const credentials = this.endpoint.secure
      ? grpc.credentials.createSsl()
      : grpc.credentials.createInsecure();
    this.client = new pkg.databricks.zerobus.Zerobus(this.endpoint.address, credentials, {
      'grpc.primary_user_agent': SDK_ID,
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
    });
    try {
      this.stream = await this.openStream();
    } catch (err) {
      this.client.close();
      this.client = undefined;
      throw new SinkConnectError(
        this.type,
        `cannot create a stream to ${o.tableName} at ${this.endpoint.address}: ${errorText(err)}`,
        { cause: err },
      );
    }
  }

  private async refreshToken(): Promise<AccessToken> {
    this.token = await fetchZerobusToken(
      this.credentials!,
      this.options.tableName,
      this.endpoint.workspaceId,
    );
    this.registerSecret(this.token.token);
    return this.token;
  }

  private async openStream(forceToken = false): Promise<EphemeralStream> {
    if (forceToken || !this.token || this.token.expiresAt - Date.now() < 60_000) {
      await this.refreshToken();
    }
    const metadata = new this.grpc!.Metadata();
    metadata.set('authorization', `Bearer ${this.token!.token}`);
    metadata.set('x-databricks-zerobus-table-name', this.options.tableName);
    metadata.set('x-zerobus-sdk', SDK_ID);
    const call = this.client!.EphemeralStream(metadata);
    const stream = await EphemeralStream.open(
      call,
      {
        table_name: this.options.tableName,
        record_type: this.options.recordType === 'proto' ? 'PROTO' : 'JSON',
        ...(this.encoder ? { descriptor_proto: this.encoder.descriptorBytes } : {}),
      },
      this.options.ackTimeoutS * 1000,
    );
    this.streamsOpened++;
    this.logger.debug(`zerobus: stream ${stream.streamId} open on ${this.options.tableName}`);
    return stream;
  }

  private requests(records: readonly SensorRecord[]): Request[] {
    const out: Request[] = [];
    const size = this.options.maxRecordsPerRequest;
    for (let i = 0; i < records.length; i += size) {
      const chunk = records.slice(i, i + size);
      out.push(
        this.encoder
          ? {
              count: chunk.length,
              batch: {
                proto_encoded_batch: { records: chunk.map((r) => this.encoder!.encode(r)) },
              },
            }
          : { count: chunk.length, batch: { json_batch: { records: chunk.map(recordToJson) } } },
      );
    }
    return out;
  }

  async write(request: WriteRequest): Promise<void> {
    const records = request.records;
    if (!this.client) throw this.notConnected();
    if (records.length === 0) return;
    const requests = this.requests(records);
    let acked = 0; // requests acknowledged so far
    let delivered = 0; // records in those requests
    let recoveries = 0;
    let forceToken = false;
    const timeoutMs = this.options.ackTimeoutS * 1000;
    for (;;) {
      let stream = this.stream;
      try {
        if (!stream || stream.failure || stream.closing) {
          if (stream) stream.close(!stream.failure);
          this.stream = undefined;
          stream = this.stream = await this.openStream(forceToken);
        }
        const offsets: number[] = [];
        try {
          for (const req of requests.slice(acked)) offsets.push(await stream.send(req.batch));
          await stream.waitForAck(offsets[offsets.length - 1]!, timeoutMs);
          return;
        } finally {
          // Acknowledgements are cumulative: count every request at or below the acked offset.
          let i = 0;
          while (i < offsets.length && stream.ackedUpTo >= offsets[i]!) {
            delivered += requests[acked + i]!.count;
            i++;
          }
          acked += i;
        }
      } catch (err) {
        if (this.stream === stream) {
          stream?.close(false);
          this.stream = undefined;
        }
        const code = err instanceof StreamBrokenError ? err.code : undefined;
        const message = `zerobus: writing to ${this.options.tableName} failed after ${delivered} of ${records.length} records were acknowledged: ${errorText(err)}`;
        const fatal =
          (code !== undefined && FATAL_CODES.has(code)) ||
          (code === UNAUTHENTICATED && forceToken) ||
          (err instanceof TokenError && !err.retryable);
        if (fatal) throw new SinkWriteError(message, { retryable: false, delivered, cause: err });
        if (recoveries >= this.options.maxStreamRecoveries)
          throw new SinkWriteError(message, { delivered, cause: err });
        recoveries++;
        forceToken = code === UNAUTHENTICATED;
        this.logger.warn(
          `${message}; re-creating the stream and sending the ${records.length - delivered} unacknowledged records again (recovery ${recoveries}/${this.options.maxStreamRecoveries})`,
        );
      }
    }
  }

  override async close(): Promise<void> {
    this.stream?.close(true);
    this.stream = undefined;
    this.client?.close();
    this.client = undefined;
  }
}

function errorText(err: unknown): string {
  return redact(err instanceof Error ? err.message : String(err));
}

async function loadSdk<T>(name: string): Promise<T> {
  const pkg = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!;
  const mod = await importSdk(
    pkg,
    () => import(name) as Promise<{ default?: T } & T>,
    'zerobus sink',
    {
      alsoMissing: [name],
    },
  );
  return (mod.default ?? mod) as T;
}
