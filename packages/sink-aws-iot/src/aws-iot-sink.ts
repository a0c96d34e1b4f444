import {
  Sink,
  SinkConnectError,
  SinkWriteError,
  isModuleMissing,
  parseRetryAfter,
  parseSinkOptions,
  recordToJson,
  redact,
  registerSecret,
  type SensorRecord,
} from '@iotsim/core';
import type * as IotData from '@aws-sdk/client-iot-data-plane';
import type { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import {
  readAWSIoTOptions,
  type AWSIoTSinkOptions,
  type ResolvedAWSIoTOptions,
} from './options.js';

/** AWS IoT Core's message size limit (128 KB). A batch payload larger than this is split. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** AWS IoT Core's topic length limit, in UTF-8 bytes. */
const MAX_TOPIC_BYTES = 256;

interface Message {
  topic: string;
  payload: Buffer;
  records: SensorRecord[];
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
 *   rateHz: 1,
 *   batchSize: 50,
 * });
 */
export class AWSIoTSink extends Sink {
  readonly type = 'aws_iot';
  private readonly options: ResolvedAWSIoTOptions;
  private client: IoTDataPlaneClient | undefined;
  private Publish: typeof PublishCommand | undefined;
  /** Records of a failed batch already published: a retry of the batch skips them. */
  private published = new WeakSet<SensorRecord>();

  constructor(options: AWSIoTSinkOptions = {}) {
    const { throughput, own } = parseSinkOptions(options, readAWSIoTOptions);
    super(throughput);
    this.options = own;
    registerSecret(own.credentials?.secretAccessKey);
    registerSecret(own.credentials?.sessionToken);
  }

  override describe(): string {
    const o = this.options;
    return `aws_iot ${o.endpoint} topic '${o.topic}' (${o.region}, qos ${o.qos}, ${o.payloadMode} mode)`;
  }

  async connect(): Promise<void> {
    let sdk: typeof IotData;
    try {
      sdk = await import('@aws-sdk/client-iot-data-plane');
    } catch (err) {
      if (isModuleMissing(err, '@aws-sdk/client-iot-data-plane')) {
        throw new SinkConnectError(
          this.type,
          `the AWS SDK package '@aws-sdk/client-iot-data-plane' is not installed; reinstall @iotsim/sink-aws-iot (npm install @iotsim/sink-aws-iot)`,
          { cause: err },
        );
      }
      throw err;
    }
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
        `no AWS credentials for ${o.endpoint}: ${redact((err as Error).message)}; set aws_access_key_id and aws_secret_access_key, or configure the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)`,
        { cause: err },
      );
    }
    this.client = client;
    this.Publish = sdk.PublishCommand;
  }

  async write(records: readonly SensorRecord[]): Promise<void> {
    const client = this.client;
    const Publish = this.Publish;
    if (!client || !Publish)
      throw new SinkWriteError('aws_iot sink: write before connect', { retryable: false });
    const pending = records.filter((r) => !this.published.has(r));
    // A lane is published in order; lanes run in parallel. Batch mode: one lane per topic, so the
    // parts of a split array arrive in order. Record mode: every record is its own lane.
    const lanes: Message[][] =
      this.options.payloadMode === 'record'
        ? perRecord(pending, this.topicOf).map((m) => [m])
        : perTopic(pending, this.topicOf);
    const failures: Failure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (failures.length === 0 && next < lanes.length) {
        for (const m of lanes[next++]!) {
          if (failures.length > 0) return;
          try {
            await client.send(
              new Publish({ topic: m.topic, qos: this.options.qos, payload: m.payload }),
            );
            for (const r of m.records) this.published.add(r);
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
      for (const r of records) this.published.delete(r);
      return;
    }
    let delivered = 0;
    while (delivered < records.length && this.published.has(records[delivered]!)) delivered++;
    throw toWriteError(failures, delivered);
  }

  override async close(): Promise<void> {
    this.client?.destroy();
    this.client = undefined;
  }

  private readonly topicOf = (record: SensorRecord): string =>
    this.options.topicFor ? this.options.topicFor(record) : this.options.topic;
}

function perRecord(
  records: readonly SensorRecord[],
  topicOf: (r: SensorRecord) => string,
): Message[] {
  return records.map((r) => {
    const payload = Buffer.from(recordToJson(r), 'utf8');
    checkSize(payload.length, r);
    return { topic: checkTopic(topicOf(r)), payload, records: [r] };
  });
}

/** One JSON array per topic (split where it would exceed 128 KB), topics in order of first appearance. */
function perTopic(
  records: readonly SensorRecord[],
  topicOf: (r: SensorRecord) => string,
): Message[][] {
  const groups = new Map<string, SensorRecord[]>();
  for (const r of records) {
    const t = topicOf(r);
    const g = groups.get(t);
    if (g) g.push(r);
    else groups.set(t, [r]);
  }
  const out: Message[][] = [];
  for (const [topic, group] of groups) {
    checkTopic(topic);
    const lane: Message[] = [];
    let text = '[';
    let bytes = 2;
    let members: SensorRecord[] = [];
    for (const r of group) {
      const json = recordToJson(r);
      const size = Buffer.byteLength(json, 'utf8');
      checkSize(size + 2, r);
      if (members.length > 0 && bytes + 1 + size > MAX_PAYLOAD_BYTES) {
        lane.push({ topic, payload: Buffer.from(`${text}]`, 'utf8'), records: members });
        text = '[';
        bytes = 2;
        members = [];
      }
      if (members.length > 0) {
        text += ',';
        bytes++;
      }
      text += json;
      bytes += size;
      members.push(r);
    }
    lane.push({ topic, payload: Buffer.from(`${text}]`, 'utf8'), records: members });
    out.push(lane);
  }
  return out;
}

function checkSize(bytes: number, r: SensorRecord): void {
  if (bytes > MAX_PAYLOAD_BYTES)
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
    text: `publish of ${m.records.length} record(s) to '${m.topic}' failed (${what || 'error'})${detail}${hint}`,
  };
}

function toWriteError(failures: Failure[], delivered: number): SinkWriteError {
  const first = failures.find((f) => !f.retryable) ?? failures[0]!;
  const retryable = failures.every((f) => f.retryable);
  const waits = failures.map((f) => f.retryAfterS).filter((s): s is number => s !== undefined);
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more failed publish(es))` : '';
  return new SinkWriteError(redact(`aws_iot: ${first.text}${more}`), {
    retryable,
    delivered,
    ...(waits.length ? { retryAfterS: Math.max(...waits) } : {}),
    cause: first.cause,
  });
}
