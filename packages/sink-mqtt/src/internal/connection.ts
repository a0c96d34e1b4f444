import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, SinkConnectError, importSdk, type OptionReader } from '@iotsim/core';
import type { IClientOptions, MqttClient } from 'mqtt';

/** Connection options shared by the MQTT and Sparkplug sinks, after validation. */
export interface ConnectionOptions {
  readonly url: URL;
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly protocolVersion: 4 | 5;
  /** False when protocol_version was left at its default: a broker without MQTT 5 then gets 3.1.1. */
  readonly protocolExplicit: boolean;
  readonly connectTimeoutS: number;
  readonly keepaliveS: number;
}

const SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:'];

/** Default broker: the one `--server mqtt_broker` starts. */
export const DEFAULT_URL = 'mqtt://127.0.0.1:1883';

/** Reads the connection options every MQTT-based sink takes. */
export function readConnectionOptions(r: OptionReader, clientIdPrefix: string): ConnectionOptions {
  const raw = r.string('url', DEFAULT_URL);
  let url = new URL(DEFAULT_URL);
  try {
    url = new URL(raw);
    if (!SCHEMES.includes(url.protocol))
      r.problem(
        'url',
        `must be an mqtt://, mqtts://, ws:// or wss:// URL, got scheme '${url.protocol}'`,
      );
  } catch {
    r.problem('url', 'is not a valid URL (expected e.g. mqtt://127.0.0.1:1883)');
  }
  const clientId =
    r.string('clientId') ?? `${clientIdPrefix}-${Math.random().toString(16).slice(2, 10)}`;
  if (clientId.length === 0)
    r.problem('clientId', 'must not be empty (leave it out for a random one)');
  const username =
    r.string('username') ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password =
    r.string('password') ?? (url.password ? decodeURIComponent(url.password) : undefined);
  if (password !== undefined && username === undefined)
    r.problem('password', 'needs a username too (MQTT sends a password only with a user name)');
  url.username = '';
  url.password = '';
  const protocolVersion = r.number('protocolVersion', 5, { integer: true });
  if (protocolVersion !== 4 && protocolVersion !== 5)
    r.problem('protocolVersion', `must be 4 (MQTT 3.1.1) or 5 (MQTT 5), got ${protocolVersion}`);
  const cert = r.string('cert');
  const key = r.string('key');
  if ((cert === undefined) !== (key === undefined))
    r.problem(cert === undefined ? 'cert' : 'key', 'client TLS needs both cert and key files');
  return {
    url,
    clientId,
    username,
    password,
    ca: r.string('ca'),
    cert,
    key,
    rejectUnauthorized: r.boolean('rejectUnauthorized', true),
    protocolVersion: protocolVersion === 4 ? 4 : 5,
    protocolExplicit: r.raw('protocolVersion') !== undefined,
    connectTimeoutS: r.number('connectTimeoutS', 10, { above: 0 }),
    keepaliveS: r.number('keepaliveS', 30, { min: 0, integer: true }),
  };
}

/** The broker address without credentials, for messages. */
export function brokerLabel(o: ConnectionOptions): string {
  return `${o.url.protocol}//${o.url.host}${o.url.pathname === '/' ? '' : o.url.pathname}`;
}

function readPem(option: string, path: string): Buffer {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (err) {
    throw new ConfigError(
      [
        {
          path: option,
          message: `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; give the path of a PEM file`,
        },
      ],
      { cause: err },
    );
  }
  if (!text.includes('-----BEGIN'))
    throw new ConfigError([
      { path: option, message: `${JSON.stringify(path)} is not a PEM file (no -----BEGIN line)` },
    ]);
  return text;
}

/** The TLS part of the mqtt.js options: files read and checked, problems as ConfigError naming the option. */
export function tlsOptions(o: ConnectionOptions): Partial<IClientOptions> {
  const out: Partial<IClientOptions> = { rejectUnauthorized: o.rejectUnauthorized };
  if (o.ca) out.ca = readPem('ca', o.ca);
  if (o.cert && o.key) {
    out.cert = readPem('cert', o.cert);
    out.key = readPem('key', o.key);
    try {
      createSecureContext({ cert: out.cert, key: out.key });
    } catch (err) {
      throw new ConfigError(
        [
          {
            path: 'key',
            message: `does not match cert or is not a valid private key (${(err as Error).message})`,
          },
        ],
        { cause: err },
      );
    }
  }
  if (out.ca) {
    try {
      createSecureContext({ ca: out.ca });
    } catch (err) {
      throw new ConfigError(
        [{ path: 'ca', message: `is not a valid CA certificate (${(err as Error).message})` }],
        { cause: err },
      );
    }
  }
  return out;
}

/** Unacknowledged publishes when the broker sets no Receive Maximum (MQTT 3.1.1: the packet id space). */
export const MAX_UNACKED = 65535;

/** How long connect() keeps trying a broker that refuses connections (one starting beside us). */
const REFUSED_GRACE_MS = 2000;

const CONNACK_REASONS: Readonly<Record<number, string>> = {
  1: 'unacceptable protocol version; try protocol_version: 4',
  2: 'client identifier rejected; set another client_id',
  3: 'server unavailable',
  4: 'bad user name or password; check username and password',
  5: 'not authorized; check username and password (and the broker ACL)',
  0x84: 'unsupported protocol version; try protocol_version: 4',
  0x85: 'client identifier not valid; set another client_id',
  0x86: 'bad user name or password; check username and password',
  0x87: 'not authorized; check username and password (and the broker ACL)',
  0x88: 'server unavailable',
  0x8a: 'banned',
};

/**
 * Connects an mqtt.js client and resolves once the broker accepted the session. A broker that
 * refuses TCP connections is retried for two seconds (it may be starting in the same run); after
 * that, or on a rejected CONNACK or a TLS failure, the client is ended and a SinkConnectError
 * names the broker and the fix.
 */
export async function connectClient(
  o: ConnectionOptions,
  extra: Partial<IClientOptions>,
  sinkType: string,
): Promise<{ client: MqttClient; protocolVersion: 4 | 5; receiveMaximum: number }> {
  try {
    const { client, receiveMaximum } = await connectOnce(o, extra, sinkType);
    return { client, protocolVersion: o.protocolVersion, receiveMaximum };
  } catch (err) {
    const code = ((err as Error).cause as { code?: unknown } | undefined)?.code;
    if (o.protocolExplicit || o.protocolVersion === 4 || (code !== 1 && code !== 0x84)) throw err;
    // The default MQTT 5 is not spoken there (aedes, older brokers): 3.1.1 it is.
    const v4 = { ...o, protocolVersion: 4 as const };
    const rest = { ...extra };
    delete rest.properties;
    const { client, receiveMaximum } = await connectOnce(v4, rest, sinkType);
    return { client, protocolVersion: 4, receiveMaximum };
  }
}

async function connectOnce(
  o: ConnectionOptions,
  extra: Partial<IClientOptions>,
  sinkType: string,
): Promise<{ client: MqttClient; receiveMaximum: number }> {
  const mqtt = await importSdk('mqtt', () => import('mqtt'), `${sinkType} sink`, {
    hint: 'it comes with @iotsim/sink-mqtt: reinstall that',
  });
  const label = brokerLabel(o);
  const options: IClientOptions = {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    protocolVersion: o.protocolVersion,
    connectTimeout: o.connectTimeoutS * 1000,
    keepalive: o.keepaliveS,
    reconnectPeriod: 200,
    queueQoSZero: true,
    resubscribe: true,
    ...tlsOptions(o),
    ...extra,
  };
  const client = mqtt.connect(o.url.toString(), options);
  const started = Date.now();
  let receiveMaximum = MAX_UNACKED;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`no CONNACK within ${o.connectTimeoutS} s (connect_timeout_s)`)),
        o.connectTimeoutS * 1000 + 500,
      );
      const cleanup = (): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
      };
      const fail = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onConnect = (connack: { properties?: { receiveMaximum?: number } }): void => {
        receiveMaximum = connack.properties?.receiveMaximum ?? MAX_UNACKED;
        cleanup();
        resolve();
      };
      const onError = (err: Error & { code?: string | number }): void => {
        const refused = err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET';
        if (refused && Date.now() - started < REFUSED_GRACE_MS) return; // mqtt.js reconnects
        fail(err);
      };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  } catch (err) {
    client.end(true);
    throw new SinkConnectError(sinkType, connectFailure(err, label), { cause: err });
  }
  client.options.reconnectPeriod = 1000;
  // A reconnect may bring another broker (or another limit).
  return { client, receiveMaximum };
}

function connectFailure(err: unknown, label: string): string {
  const e = err as Error & { code?: string | number };
  if (typeof e.code === 'number') {
    return `broker ${label} rejected the connection (CONNACK ${e.code}: ${CONNACK_REASONS[e.code] ?? e.message})`;
  }
  if (e.code === 'ECONNREFUSED')
    return `cannot connect to ${label}: connection refused; is the broker running there? (check url, or start one with --server mqtt_broker)`;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
    return `cannot resolve the host of ${label}; check url`;
  if (
    typeof e.code === 'string' &&
    /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(e.code) &&
    /ALERT/.test(e.code)
  )
    return `the broker ${label} refused the TLS handshake (${e.code}): it wants a client certificate it trusts; give cert and key`;
  if (typeof e.code === 'string' && /CERT|SELF_SIGNED|ALTNAME|TLS|SSL/.test(e.code))
    return `TLS handshake with ${label} failed (${e.code}); give the broker's CA with ca: FILE, or set reject_unauthorized: false to skip verification`;
  return `cannot connect to ${label}: ${e.code ? `${e.code}: ` : ''}${e.message}`;
}
