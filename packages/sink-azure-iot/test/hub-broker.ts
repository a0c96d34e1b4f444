// A local stand-in for IoT Hub's MQTT endpoint: aedes behind a TLS server on 127.0.0.1:8883 with a
// self-signed CA made by the openssl CLI. It checks what IoT Hub checks (client id, SAS username
// and password with a verified HMAC-SHA256 signature, the telemetry topic) and records every
// device-to-cloud message it accepts.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import { Aedes } from 'aedes';

/** One device-to-cloud message as the broker received it. */
export interface HubMessage {
  topic: string;
  body: string;
  /** Application properties from the topic. */
  properties: Record<string, string>;
  /** System properties (`$.ct`, `$.ce`, …) from the topic. */
  system: Record<string, string>;
}

export { makeCertificates } from '@iotsim/test-utils';

function parseProps(text: string): {
  properties: Record<string, string>;
  system: Record<string, string>;
} {
  const properties: Record<string, string> = {};
  const system: Record<string, string> = {};
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (k.startsWith('$.')) system[k] = v;
    else properties[k] = v;
  }
  return { properties, system };
}

/** Checks a SAS token for `host/devices/deviceId` signed with `key`; returns a reason or null. */
export function checkSas(
  token: string,
  host: string,
  deviceId: string,
  key: string,
): string | null {
  const m = /^SharedAccessSignature (.+)$/.exec(token);
  if (!m) return 'password is not a SharedAccessSignature';
  const fields = new Map<string, string>();
  for (const part of m[1]!.split('&')) {
    const eq = part.indexOf('=');
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (!sr || !sig || !se) return 'SAS lacks sr, sig or se';
  if (decodeURIComponent(sr).toLowerCase() !== `${host}/devices/${deviceId}`.toLowerCase())
    return `SAS resource ${decodeURIComponent(sr)} is not this device`;
  if (Number(se) * 1000 < Date.now()) return 'SAS expired';
  const expected = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeURIComponent(sig), 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  return null;
}

/** The broker and what it saw. */
export class HubBroker {
  readonly messages: HubMessage[] = [];
  readonly rejections: string[] = [];
  readonly usernames: string[] = [];
  private server: Server | undefined;
  private broker: Aedes | undefined;

  constructor(
    private readonly host: string,
    private readonly deviceId: string,
    private readonly key: string,
    private readonly tlsFiles: { key: string; cert: string },
  ) {}

  async start(port = 8883): Promise<void> {
    const host = this.host;
    const deviceId = this.deviceId;
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.usernames.push(username ?? '');
        const reject = (why: string): void => {
          this.rejections.push(why);
          const err = Object.assign(new Error(why), { returnCode: 4 as const });
          done(err, false);
        };
        if (client.id !== deviceId) return reject(`client id ${client.id} is not ${deviceId}`);
        const prefix = `${host}/${deviceId}/?api-version=`;
        if (!username?.startsWith(prefix)) return reject(`username ${username} lacks ${prefix}`);
        const why = checkSas(password?.toString('utf8') ?? '', host, deviceId, this.key);
        if (why) return reject(why);
        done(null, true);
      },
      authorizePublish: (_client, packet, done) => {
        const prefix = `devices/${deviceId}/messages/events/`;
        if (!packet.topic.startsWith(prefix)) {
          this.rejections.push(`publish to ${packet.topic}`);
          done(new Error(`topic ${packet.topic} is not ${prefix}…`));
          return;
        }
        const { properties, system } = parseProps(packet.topic.slice(prefix.length));
        this.messages.push({
          topic: packet.topic,
          body: Buffer.from(packet.payload).toString('utf8'),
          properties,
          system,
        });
        done(null);
      },
    });
    this.broker = broker;
    this.server = createServer(
      { key: readFileSync(this.tlsFiles.key), cert: readFileSync(this.tlsFiles.cert) },
      (socket) => broker.handle(socket),
    );
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
  }

  async stop(): Promise<void> {
    const broker = this.broker;
    const server = this.server;
    this.broker = undefined;
    this.server = undefined;
    if (broker) await new Promise<void>((r) => broker.close(() => r()));
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
