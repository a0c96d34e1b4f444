import {
  JSON_RECORD_LAYOUT,
  RecordTextEncoder,
  Sink,
  SinkConnectError,
  SinkWriteError,
  importSdk,
  parseRetryAfter,
  parseSinkOptions,
  Redactor,
  type SensorRecord,
  type SinkCapabilities,
  type WriteRequest,
} from '@iotsim/core';
import type * as IotData from '@aws-sdk/client-iot-data-plane';
import type { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { AWSIoTSchema, type AWSIoTSinkOptions, type ResolvedAWSIoTOptions } from './options.js';

/** AWS IoT Core's message size limit (128 KB). A batch payload larger than this is split. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** AWS IoT Core's topic length limit, in UTF-8 bytes. */
const MAX_TOPIC_BYTES = 256;

interface Message {
  topic: string;
  payload: Buffer;
  /** Positions of its records in the write request. */
  positions: number[];
}

/** What the publishes of a failed batch achieved, kept for the retries of that batch (same `batchId`). */
interface Progress {
  readonly batchId: number;
  /** 1 for each record of the batch's first attempt that AWS accepted. */
  readonly published: Uint8Array;
}

/** What the SDK's errors carry (service exceptions and deserialization errors alike). */
interface SdkError extends Error {
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/**
 * Publishes records to AWS IoT Core through the data-plane `Publish` API (HTTPS, SigV4-signed),
 * as one JSON array per topic and batch (`payloadMode: 'batch'`) or one message per record.
 * Throttling and 5xx are retried by the runner; 4xx such as 403 fail the batch at once.
 *
 * @example
 * const sink = new AWSIoTSink({
 *   endpoint: 'abc123-ats.iot.us-east-1.amazonaws.com',
 *   topic: 'iot/{industry}/{device_id}',
 *   region: 'us-east-1',
 * });
 * sim.addSink(sink, { rateHz: 1, batchSize: 50 });
 */
export class AWSIoTSink extends Sink {
  static override readonly type = 'aws_iot';
  static override readonly schema = AWSIoTSchema;
  /** A retry publishes only what the failed attempts of its batch did not (tracked by `batchId`). */
  static override readonly capabilities: SinkCapabilities = {
    ordered: true,
    maxInFlight: 1,
    defaultInFlight: 1,
    idempotentRetry: true,
    singleton: false,
  };
  private readonly options: ResolvedAWSIoTOptions;
  private client: IoTDataPlaneClient | undefined;
  private Publish: typeof PublishCommand | undefined;
  private readonly encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT);
  /** The last failed batch and which of its records were published: its retries skip those. */
  private progress: Progress | undefined;
  /** Removes this sink's credentials from its own error texts (a runner may not know them). */
  private readonly redactor = new Redactor();

  constructor(options: AWSIoTSinkOptions) {
    super();
    this.options = parseSinkOptions(AWSIoTSchema, options);
    for (const secret of [
      this.options.credentials?.secretAccessKey,
      this.options.credentials?.sessionToken,
    ]) {
      this.registerSecret(secret);
      this.redactor.add(secret);
    }
  }

  override describe(): string {
    const o = this.options;
    return `aws_iot ${o.endpoint} topic '${o.topic}' (${o.region}, qos ${o.qos}, ${o.payloadMode} mode)`;
  }

  async connect(): Promise<void> {
    const sdk: typeof IotData = await importSdk(
      '@aws-sdk/client-iot-data-plane',
      () => import('@aws-sdk/client-iot-data-plane'),
      'aws_iot sink',
      { hint: 'a dependency of @iotsim/sink-aws-iot: reinstall it' },
    );
    const o = this.options;
    const client = new sdk.IoTDataPlaneClient({
      endpoint: o.endpoint,
      region: o.region,
      ...(o.credentials ? { credentials: o.credentials } : {}),
      // The runner retries, so its counters see every attempt.
      maxAttempts: 1,
      requestHandler: {
        requestTimeout: o.timeoutS * 1000,
        throwOnRequestTimeout: true,
        connectionTimeout: 10_000,
      },
    });
    try {
      // Resolves the default credential chain now, so missing credentials fail at connect.
      await client.config.credentials();
    } catch (err) {
      client.destroy();
      throw new SinkConnectError(
        this.type,
        `no AWS credentials for ${o.endpoint}: ${this.redactor.redact((err as Error).message)}; set aws_access_key_id and aws_secret_access_key, or configure the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)`,
        { cause: err },
      );
    }
    this.client = client;
    this.Publish = sdk.PublishCommand;
  }

  async write(request: WriteRequest): Promise<void> {
    const client = this.client;
    const Publish = this.Publish;
    if (!client || !Publish) throw this.notConnected();
    const { size, signal } = request;
    // A retry of a failed batch is the batch less its delivered prefix: same id, fewer records.
    const last = this.progress;
    const published =
      last && last.batchId === request.batchId && last.published.length >= size
        ? last.published
        : new Uint8Array(size);
    const offset = published.length - size;
    const pending: number[] = [];
    for (let i = 0; i < size; i++) if (published[offset + i] === 0) pending.push(i);
    // The JSON of every pending record, record k ending at ends[k]. A fresh batch is encoded
    // straight from its frames; row views are built only for a topic template or an error.
    const ends: number[] = [];
    const json =
      pending.length === size
        ? this.encoder.encodeBatch(request.batch, ends)
        : this.encoder.encode(
            pending.map((i) => request.records[i]!),
            ends,
          );
    const recordAt = (i: number): SensorRecord => request.records[i]!;
    const topicOf = this.options.topicFor;
    const topicAt = topicOf ? (i: number) => topicOf(recordAt(i)) : () => this.options.topic;
    // A lane is published in order; lanes run in parallel. Batch mode: one lane per topic, so the
    // parts of a split array arrive in order. Record mode: every record is its own lane.
    const lanes: Message[][] =
      this.options.payloadMode === 'record'
        ? perRecord(pending, json, ends, recordAt, topicAt).map((m) => [m])
        : perTopic(pending, json, ends, recordAt, topicAt);
    const failures: Failure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failures.length === 0 && next < lanes.length) {
        for (const m of lanes[next++]!) {
          if (failures.length > 0) return;
          try {
            await client.send(
              new Publish({ topic: m.topic, qos: this.options.qos, payload: m.payload }),
              { abortSignal: signal },
            );
            for (const i of m.positions) published[offset + i] = 1;
          } catch (err) {
            failures.push(describeFailure(err as SdkError, m, this.options.timeoutS));
            return;
          }
        }
      }
    };
    const workers = Math.min(this.options.concurrency, lanes.length);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failures.length === 0) {
      this.progress = undefined;
      return;
    }
    this.progress = { batchId: request.batchId, published };
    let delivered = 0;
    while (delivered < size && published[offset + delivered] === 1) delivered++;
    throw toWriteError(failures, delivered, this.redactor);
  }

  override async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }
}

/** One message per pending record; `json` holds their JSON objects, record k ending at `ends[k]`. */
function perRecord(
  pending: readonly number[],
  json: Buffer,
  ends: readonly number[],
  recordAt: (i: number) => SensorRecord,
  topicAt: (i: number) => string,
): Message[] {
  return pending.map((i, k) => {
    const payload = json.subarray(k === 0 ? 0 : ends[k - 1]!, ends[k]!);
    checkSize(payload.length, recordAt, i);
    return { topic: checkTopic(topicAt(i)), payload, positions: [i] };
  });
}

/** One JSON array per topic (split where it would exceed 128 KB), topics in order of first appearance. */
function perTopic(
  pending: readonly number[],
  json: Buffer,
  ends: readonly number[],
  recordAt: (i: number) => SensorRecord,
  topicAt: (i: number) => string,
): Message[][] {
  // Lanes of record numbers k (the k-th pending record, bytes `ends[k-1]..ends[k]` of `json`).
  const groups = new Map<string, number[]>();
  for (let k = 0; k < pending.length; k++) {
    const t = topicAt(pending[k]!);
    const g = groups.get(t);
    if (g) g.push(k);
    else groups.set(t, [k]);
  }
  const out: Message[][] = [];
  for (const [topic, group] of groups) {
    checkTopic(topic);
    const lane: Message[] = [];
    let bytes = 2;
    let members: number[] = [];
    for (const k of group) {
      const size = ends[k]! - (k === 0 ? 0 : ends[k - 1]!);
      checkSize(size + 2, recordAt, pending[k]!);
      if (members.length > 0 && bytes + 1 + size > MAX_PAYLOAD_BYTES) {
        lane.push(arrayMessage(topic, members, bytes, json, ends, pending));
        bytes = 2;
        members = [];
      }
      if (members.length > 0) bytes++;
      bytes += size;
      members.push(k);
    }
    lane.push(arrayMessage(topic, members, bytes, json, ends, pending));
    out.push(lane);
  }
  return out;
}

/** The JSON array `[json_k, …]` of record numbers `members`, `bytes` long. */
function arrayMessage(
  topic: string,
  members: readonly number[],
  bytes: number,
  json: Buffer,
  ends: readonly number[],
  pending: readonly number[],
): Message {
  const payload = Buffer.allocUnsafe(bytes);
  let off = 0;
  payload[off++] = 0x5b; // [
  for (let j = 0; j < members.length; j++) {
    const k = members[j]!;
    if (j > 0) payload[off++] = 0x2c; // ,
    off += json.copy(payload, off, k === 0 ? 0 : ends[k - 1]!, ends[k]!);
  }
  payload[off] = 0x5d; // ]
  return { topic, payload, positions: members.map((k) => pending[k]!) };
}

/** Fails the batch when record `i` is too large for one message. */
function checkSize(bytes: number, recordAt: (i: number) => SensorRecord, i: number): void {
  if (bytes <= MAX_PAYLOAD_BYTES) return;
  const r = recordAt(i);
  throw new SinkWriteError(
    `aws_iot: record ${r.device_id}/${r.sensor_name} is ${bytes} bytes as JSON, over AWS IoT's 128 KB message limit`,
    { retryable: false },
  );
}

function checkTopic(topic: string): string {
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES)
    throw new SinkWriteError(
      `aws_iot: topic '${topic}' is longer than AWS IoT's limit of ${MAX_TOPIC_BYTES} bytes; shorten the topic template`,
      { retryable: false },
    );
  return topic;
}

/** One failed Publish, classified. */
interface Failure {
  cause: unknown;
  retryable: boolean;
  retryAfterS: number | undefined;
  text: string;
}

function describeFailure(err: SdkError, m: Message, timeoutS: number): Failure {
  const status = err.$metadata?.httpStatusCode ?? err.$response?.statusCode;
  // `Unknown`/`SyntaxError`: the SDK could not read an error body (a plain-text 5xx from a proxy).
  const name = err.name === 'Unknown' || err.name === 'SyntaxError' ? undefined : err.name;
  const retryable =
    status === undefined ||
    status === 408 ||
    status === 429 ||
    status >= 500 ||
    name === 'ThrottlingException';
  const hint =
    status === 403 || status === 401
      ? ' (check the credentials, that region matches the endpoint, and that the IAM policy allows iot:Publish on this topic)'
      : '';
  const what = [err.code ?? name, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
  const detail =
    err.code === 'ETIMEDOUT' || err.name === 'TimeoutError'
      ? `: no response within ${timeoutS} s (timeout_s)`
      : name === undefined && status !== undefined
        ? ''
        : `: ${err.message}`;
  return {
    cause: err,
    retryable,
    retryAfterS: parseRetryAfter(err.$response?.headers?.['retry-after']),
    text: `publish of ${m.positions.length} record(s) to '${m.topic}' failed (${what || 'error'})${detail}${hint}`,
  };
}

function toWriteError(failures: Failure[], delivered: number, redactor: Redactor): SinkWriteError {
  const first = failures.find((f) => !f.retryable) ?? failures[0]!;
  const retryable = failures.every((f) => f.retryable);
  const waits = failures.map((f) => f.retryAfterS).filter((s): s is number => s !== undefined);
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more failed publish(es))` : '';
  return new SinkWriteError(redactor.redact(`aws_iot: ${first.text}${more}`), {
    retryable,
    delivered,
    ...(waits.length ? { retryAfterS: Math.max(...waits) } : {}),
    cause: first.cause,
  });
}
