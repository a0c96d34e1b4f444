import {
  field,
  opt,
  readString,
  v,
  type InputOf,
  type OptionSchema,
  type OutputOf,
  type SensorRecord,
} from '@iotsim/core';

/** `batch`: one Publish per distinct topic with a JSON array; `record`: one Publish per record. */
export type AWSIoTPayloadMode = 'batch' | 'record';

/** Topic template placeholders and the record field each one reads. */
export const TOPIC_FIELDS = ['industry', 'device_id', 'sensor_name', 'sensor_type'] as const;
type TopicField = (typeof TOPIC_FIELDS)[number];

/** Maps a record to its topic. */
export type TopicFn = (record: SensorRecord) => string;

const ENDPOINT_HINT =
  "your account's IoT data endpoint, from 'aws iot describe-endpoint --endpoint-type iot:Data-ATS'";

/** The endpoint as an origin (`https://host`); a bare host gets `https://`. */
function readEndpoint(value: unknown, problem: (message: string) => void): string {
  const raw = readString(value, problem);
  if (raw === undefined) return '';
  if (raw.trim() === '') {
    problem(`is required: ${ENDPOINT_HINT}`);
    return '';
  }
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    problem(`is not a host name or https URL: ${JSON.stringify(raw)}`);
    return '';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    problem(`must be a host name or an https:// URL, got scheme '${url.protocol}'`);
  if (url.username || url.password || url.search || (url.pathname !== '/' && url.pathname))
    problem('must be a bare host or origin (no path, query or user info)');
  return url.origin;
}

/** Explicit text (a given, non-empty string). */
const given = (x: unknown): x is string => typeof x === 'string' && x !== '';

export const AWSIoTSchema = opt.resolve(
  opt.object({
    /** AWS IoT data endpoint, a host (`abc123-ats.iot.us-east-1.amazonaws.com`) or an https URL (required). */
    endpoint: field<string>({ type: 'string', minLength: 1 }, readEndpoint, ENDPOINT_HINT),
    /** MQTT topic; may use `{industry}`, `{device_id}`, `{sensor_name}`, `{sensor_type}`. Default `iot/sensor-data`. */
    topic: v.nullish(
      field<string, { topic: string; topicFor: TopicFn | undefined }>(
        { type: 'string', minLength: 1 },
        (value, problem) => {
          const topic = readString(value, problem) ?? 'iot/sensor-data';
          return { topic, topicFor: compileTopic(topic, problem) };
        },
      ),
      'iot/sensor-data',
    ),
    /** AWS region used for signing. Default `us-east-1`. */
    region: v.nullish(
      field<string>({ type: 'string', examples: ['us-east-1'] }, (value, problem) => {
        const region = readString(value, problem) ?? 'us-east-1';
        if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region))
          problem(`must be an AWS region such as us-east-1, got ${JSON.stringify(region)}`);
        return region;
      }),
      'us-east-1',
    ),
    /** Access key id; without it the SDK's default credential chain is used. */
    awsAccessKeyId: v.nullish(opt.string()),
    /** Secret access key (with `awsAccessKeyId`). */
    awsSecretAccessKey: v.nullish(opt.string()),
    /** Session token of temporary credentials (optional). */
    awsSessionToken: v.nullish(opt.string()),
    /** MQTT QoS of the published messages, 0 or 1. Default 1. */
    qos: v.nullish(opt.number({ min: 0, max: 1, integer: true }) as OptionSchema<0 | 1>, 1),
    /** `batch` (default): a JSON array per topic and batch; `record`: one message per record. */
    payloadMode: v.nullish(opt.oneOf(['batch', 'record']), 'batch'),
    /** Publish requests in flight at once within one batch. Default 8. */
    concurrency: v.nullish(opt.number({ min: 1, max: 256, integer: true }), 8),
    /** Seconds to wait for each Publish response. Default 30. */
    timeoutS: v.nullish(opt.number({ above: 0 }), 30),
  }),
  ({ topic, awsAccessKeyId, awsSecretAccessKey, awsSessionToken, ...o }) => ({
    ...o,
    topic: topic.topic,
    /** Maps a record to its topic; undefined for a fixed topic. */
    topicFor: topic.topicFor,
    /** The explicit credentials, or undefined for the SDK's default chain. */
    credentials:
      awsAccessKeyId && awsSecretAccessKey
        ? {
            accessKeyId: awsAccessKeyId,
            secretAccessKey: awsSecretAccessKey,
            ...(awsSessionToken ? { sessionToken: awsSessionToken } : {}),
          }
        : undefined,
  }),
  ({ awsAccessKeyId: id, awsSecretAccessKey: secret, awsSessionToken: token }, problem) => {
    if (given(id) !== given(secret))
      problem(
        'is required when the other explicit key is given (or give neither to use the default AWS credential chain)',
        [given(id) ? 'awsSecretAccessKey' : 'awsAccessKeyId'],
      );
    else if (!given(id) && given(token))
      problem('needs %{awsAccessKeyId} and %{awsSecretAccessKey}', ['awsSessionToken']);
  },
);

/**
 * Options of `AWSIoTSink` (YAML keys in snake_case: `aws_access_key_id`, `payload_mode`).
 * Throughput (`rateHz`, `batchSize` …) is given beside the sink, not here.
 */
export type AWSIoTSinkOptions = InputOf<typeof AWSIoTSchema>;

/** AWS IoT options after validation. */
export type ResolvedAWSIoTOptions = Readonly<OutputOf<typeof AWSIoTSchema>>;

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
