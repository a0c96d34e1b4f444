import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, SinkConnectError, importSdk, type SinkShard } from '@iotsim/core';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { ConnectionOptions } from '../options.js';

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

/**
 * The connection of one shard of a sharded or multi-worker run (`SinkContext.shard`): a client id
 * given in the options gets `-<shard id>`, since a broker keeps one session per client id and the
 * shards would take it from each other; a random one is unique already.
 */
export function shardConnection(
  o: ConnectionOptions,
  shard: SinkShard | undefined,
): ConnectionOptions {
  if (!shard?.id || !o.clientIdExplicit) return o;
  return { ...o, clientId: `${o.clientId}-${shard.id}` };
}
