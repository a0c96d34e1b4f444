import type { OptionReader, SensorRecord } from '@iotsim/core';

/** `batch`: one Publish per distinct topic with a JSON array; `record`: one Publish per record. */
export type AWSIoTPayloadMode = 'batch' | 'record';

/**
 * Options of `AWSIoTSink` (YAML keys in snake_case: `aws_access_key_id`, `payload_mode`).
 * Throughput (`rateHz`, `batchSize` …) is given beside the sink, not here.
 */
export interface AWSIoTSinkOptions {
  /** AWS IoT data endpoint, a host (`abc123-ats.iot.us-east-1.amazonaws.com`) or an https URL (required). */
  endpoint?: string;
  /** MQTT topic; may use `{industry}`, `{device_id}`, `{sensor_name}`, `{sensor_type}`. Default `iot/sensor-data`. */
  topic?: string;
  /** AWS region used for signing. Default `us-east-1`. */
  region?: string;
  /** Access key id; without it the SDK's default credential chain is used. */
  awsAccessKeyId?: string;
  /** Secret access key (with `awsAccessKeyId`). */
  awsSecretAccessKey?: string;
  /** Session token of temporary credentials (optional). */
  awsSessionToken?: string;
  /** MQTT QoS of the published messages, 0 or 1. Default 1. */
  qos?: 0 | 1;
  /** `batch` (default): a JSON array per topic and batch; `record`: one message per record. */
  payloadMode?: AWSIoTPayloadMode;
  /** Publish requests in flight at once within one batch. Default 8. */
  concurrency?: number;
  /** Seconds to wait for each Publish response. Default 30. */
  timeoutS?: number;
}

/** Topic template placeholders and the record field each one reads. */
export const TOPIC_FIELDS = ['industry', 'device_id', 'sensor_name', 'sensor_type'] as const;
type TopicField = (typeof TOPIC_FIELDS)[number];

/** Maps a record to its topic. */
export type TopicFn = (record: SensorRecord) => string;

/** AWS IoT options after validation. */
export interface ResolvedAWSIoTOptions {
  readonly endpoint: string;
  readonly topic: string;
  readonly topicFor: TopicFn | undefined;
  readonly region: string;
  readonly credentials:
    { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  readonly qos: 0 | 1;
  readonly payloadMode: AWSIoTPayloadMode;
  readonly concurrency: number;
  readonly timeoutS: number;
}

/** Reads and validates the AWS IoT sink's own options. */
export function readAWSIoTOptions(r: OptionReader): ResolvedAWSIoTOptions {
  const endpoint = readEndpoint(r);
  const topic = r.string('topic', 'iot/sensor-data');
  const topicFor = compileTopic(topic, (m) => r.problem('topic', m));
  const region = r.string('region', 'us-east-1');
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
    r.problem('region', `must be an AWS region such as us-east-1, got ${JSON.stringify(region)}`);
  const accessKeyId = r.string('awsAccessKeyId');
  const secretAccessKey = r.string('awsSecretAccessKey');
  const sessionToken = r.string('awsSessionToken');
  let credentials: ResolvedAWSIoTOptions['credentials'];
  if (accessKeyId && secretAccessKey) {
    credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  } else if (accessKeyId || secretAccessKey) {
    r.problem(
      accessKeyId ? 'awsSecretAccessKey' : 'awsAccessKeyId',
      'is required when the other explicit key is given (or give neither to use the default AWS credential chain)',
    );
  } else if (sessionToken) {
    r.problem('awsSessionToken', 'needs awsAccessKeyId and awsSecretAccessKey');
  }
  return {
    endpoint,
    topic,
    topicFor,
    region,
    credentials,
    qos: r.number('qos', 1, { min: 0, max: 1, integer: true }) as 0 | 1,
    payloadMode: r.oneOf('payloadMode', ['batch', 'record'] as const, 'batch'),
    concurrency: r.number('concurrency', 8, { min: 1, max: 256, integer: true }),
    timeoutS: r.number('timeoutS', 30, { above: 0 }),
  };
}

function readEndpoint(r: OptionReader): string {
  const raw = r.requiredString(
    'endpoint',
    "your account's IoT data endpoint, from 'aws iot describe-endpoint --endpoint-type iot:Data-ATS'",
  );
  if (!raw) return '';
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    r.problem('endpoint', `is not a host name or https URL: ${JSON.stringify(raw)}`);
    return '';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    r.problem('endpoint', `must be a host name or an https:// URL, got scheme '${url.protocol}'`);
  }
  if (url.username || url.password || url.search || (url.pathname !== '/' && url.pathname)) {
    r.problem('endpoint', 'must be a bare host or origin (no path, query or user info)');
  }
  return url.origin;
}

/**
 * Compiles a topic template. Substituted values have `/`, `+`, `#` replaced by `_` so a value can
 * neither add topic levels nor form a wildcard. Undefined for a fixed topic.
 */
export function compileTopic(template: string, problem: (m: string) => void): TopicFn | undefined {
  const parts: (string | TopicField)[] = [];
  const fields: boolean[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{([^{}]*)\}/g)) {
    const name = m[1]!;
    if (!(TOPIC_FIELDS as readonly string[]).includes(name)) {
      problem(`unknown placeholder {${name}}; use ${TOPIC_FIELDS.map((f) => `{${f}}`).join(', ')}`);
      continue;
    }
    parts.push(template.slice(last, m.index));
    fields.push(false);
    parts.push(name);
    fields.push(true);
    last = m.index + m[0].length;
  }
  parts.push(template.slice(last));
  fields.push(false);
  const fixedText = parts.filter((_, i) => !fields[i]).join('');
  if (/[#+]/.test(fixedText))
    problem(`must not contain the MQTT wildcards '#' or '+', got ${JSON.stringify(template)}`);
  if (template.trim() === '') problem('must not be empty');
  if (!fields.includes(true)) return undefined;
  return (record) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      out += fields[i] ? String(record[p as TopicField]).replace(/[/#+\0]/g, '_') : p;
    }
    return out;
  };
}
