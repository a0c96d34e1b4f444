import { field, opt, readString, v, type InputOf, type OutputOf } from '@iotsim/core';

/** How records are packed into device-to-cloud messages. */
export type AzureIoTPayloadMode = 'record' | 'batch';

/** The parts of a device connection string the sink uses. */
export interface AzureConnectionString {
  readonly hostName: string;
  readonly deviceId: string;
  readonly moduleId: string | undefined;
  readonly sharedAccessKey: string | undefined;
  readonly sharedAccessSignature: string | undefined;
}

const KNOWN_PARTS = [
  'HostName',
  'DeviceId',
  'ModuleId',
  'SharedAccessKey',
  'SharedAccessKeyName',
  'SharedAccessSignature',
  'GatewayHostName',
  'x509',
] as const;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses and checks a device connection string. Returns the problems found; no message ever
 * contains the key or the signature (only the names of the parts).
 */
export function parseConnectionString(text: string): {
  connection: AzureConnectionString | undefined;
  problems: string[];
} {
  const problems: string[] = [];
  const parts = new Map<string, string>();
  const items = text
    .trim()
    .split(';')
    .filter((p) => p.trim() !== '');
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.push(`part ${i + 1} of the connection string is not Name=value`);
      return;
    }
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    const known = KNOWN_PARTS.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!known) {
      problems.push(
        `unknown part '${name.slice(0, 40)}' in the connection string (expected ${KNOWN_PARTS.slice(0, 3).join(', ')}, SharedAccessKey or SharedAccessSignature)`,
      );
      return;
    }
    if (parts.has(known)) problems.push(`the connection string has ${known} twice`);
    if (value === '') problems.push(`${known} is empty in the connection string`);
    parts.set(known, value);
  });
  const hostName = parts.get('HostName');
  const deviceId = parts.get('DeviceId');
  const key = parts.get('SharedAccessKey');
  const sas = parts.get('SharedAccessSignature');
  if (hostName === undefined)
    problems.push('the connection string has no HostName (e.g. HostName=my-hub.azure-devices.net)');
  else if (hostName !== '' && !/^[A-Za-z0-9.-]+$/.test(hostName))
    problems.push(`HostName '${hostName.slice(0, 80)}' is not a host name`);
  if (deviceId === undefined) problems.push('the connection string has no DeviceId');
  if (parts.has('SharedAccessKeyName'))
    problems.push(
      'this is a hub (service) connection string (it has SharedAccessKeyName); use a device connection string from the device page in the Azure portal',
    );
  if (key === undefined && sas === undefined) {
    problems.push(
      parts.has('x509')
        ? 'X.509 device authentication is not supported; use a SharedAccessKey or SharedAccessSignature'
        : 'the connection string has neither SharedAccessKey nor SharedAccessSignature',
    );
  }
  if (key !== undefined && sas !== undefined)
    problems.push(
      'the connection string has both SharedAccessKey and SharedAccessSignature; keep one',
    );
  if (key && (!BASE64.test(key) || key.length % 4 !== 0))
    problems.push('SharedAccessKey is not valid base64 (copy the primary key of the device again)');
  if (
    sas !== undefined &&
    sas !== '' &&
    !/^SharedAccessSignature\s+.*\bsr=.*\bsig=.*\bse=/.test(sas)
  )
    problems.push("SharedAccessSignature must look like 'SharedAccessSignature sr=…&sig=…&se=…'");
  if (parts.has('ModuleId'))
    problems.push('module identities (ModuleId) are not supported: use a device connection string');
  if (parts.has('GatewayHostName'))
    problems.push('GatewayHostName is not supported: connect directly to the hub');
  if (problems.length > 0 || !hostName || !deviceId) return { connection: undefined, problems };
  return {
    connection: {
      hostName,
      deviceId,
      moduleId: parts.get('ModuleId'),
      sharedAccessKey: key,
      sharedAccessSignature: sas,
    },
    problems,
  };
}

const CONNECTION_HINT =
  'the device connection string (HostName=…;DeviceId=…;SharedAccessKey=…) from the Azure portal';

/** The connection string, parsed, with the secrets in it (the string, its key, its signature). */
function readConnectionString(
  raw: unknown,
  problem: (message: string) => void,
): { text: string; connection: AzureConnectionString | undefined; secrets: string[] } {
  const secrets: string[] = [];
  if (typeof raw === 'string' && raw.trim() === '') problem(`is required: ${CONNECTION_HINT}`);
  // Not read as text: a number or a mapping here is a mistake, and its value is not shown.
  else if (typeof raw !== 'string')
    problem(`must be a string, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  else {
    secrets.push(raw);
    const keyMatch = /SharedAccessKey\s*=\s*([^;]+)/i.exec(raw);
    if (keyMatch) secrets.push(keyMatch[1]!.trim());
    const sasMatch = /SharedAccessSignature\s*=\s*([^;]+)/i.exec(raw);
    if (sasMatch) secrets.push(sasMatch[1]!.trim());
    const parsed = parseConnectionString(raw);
    for (const p of parsed.problems) problem(p);
    return { text: raw, connection: parsed.connection, secrets };
  }
  return { text: '', connection: undefined, secrets };
}

export const AzureIoTSchema = opt.resolve(
  opt.object({
    /** Device connection string: `HostName=…;DeviceId=…;SharedAccessKey=…` (or `SharedAccessSignature=…`). Required. */
    connectionString: field<string, ReturnType<typeof readConnectionString>>(
      { type: 'string', minLength: 1 },
      readConnectionString,
      CONNECTION_HINT,
    ),
    /** MIME type set on every message (`message.contentType`). Default `application/json`. */
    contentType: v.nullish(
      field<string>({ type: 'string', minLength: 1 }, (value, problem) => {
        const text = readString(value, problem) ?? 'application/json';
        if (text.trim() === '') problem('must not be empty');
        return text;
      }),
      'application/json',
    ),
    /** `record`: one message per record (default); `batch`: one JSON array per message. */
    payloadMode: v.nullish(opt.oneOf(['record', 'batch']), 'record'),
    /** Messages sent at once in `record` mode (each waits for its MQTT PUBACK). Default 32. */
    maxConcurrentSends: v.nullish(opt.number({ min: 1, max: 1000, integer: true }), 32),
    /** PEM file of an extra CA to trust for the hub's TLS certificate (private gateways, tests). */
    caFile: v.nullish(opt.string()),
  }),
  ({ connectionString: cs, ...o }) => ({
    connectionString: cs.text,
    /** The parts of the connection string (defined: `resolve` runs only when it had no problem). */
    connection: cs.connection!,
    ...o,
    caFile: o.caFile ?? undefined,
    /** The connection string, its key and its signature: the sink registers them as secrets. */
    secrets: cs.secrets,
  }),
);

/**
 * Options of `AzureIoTSink` (YAML keys in snake_case: `connection_string`, `content_type`, …).
 * Throughput (`rateHz`, `batchSize` …) is given beside the sink, not here.
 */
export type AzureIoTSinkOptions = InputOf<typeof AzureIoTSchema>;

/** Validated options of `AzureIoTSink`. */
export type ResolvedAzureIoTOptions = Readonly<OutputOf<typeof AzureIoTSchema>>;
