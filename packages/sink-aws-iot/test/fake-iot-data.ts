import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SensorRecord, type SensorRecordDict } from '@iotsim/core';

/** One Publish request as the fake AWS IoT data plane saw it. */
export interface PublishRequest {
  method: string;
  /** The raw request target, e.g. `/topics/iot%2Fsensor-data?qos=1`. */
  url: string;
  topic: string;
  qos: string | null;
  headers: IncomingHttpHeaders;
  payload: Buffer;
  at: number;
  /** Why the SigV4 check failed; undefined when the signature is valid. */
  authProblem: string | undefined;
  /** The status the server answered. */
  status: number;
}

/** An answer forced by a test: status, AWS error type and message. */
export interface Fault {
  status: number;
  type?: string;
  message?: string;
  headers?: Record<string, string>;
  /** Raw body instead of the AWS JSON error shape. */
  raw?: string;
  /** Never answer. */
  hang?: boolean;
}

/** Credentials the fake accepts: access key id → secret (and session token, if temporary). */
export type KeyRing = Record<string, { secret: string; sessionToken?: string }>;

/**
 * A local stand-in for AWS IoT Core's data-plane `Publish` API (`POST /topics/{topic}?qos=`),
 * which verifies every request's SigV4 signature for real (region `region`, service `iotdata`,
 * secrets from `keys`) and answers 403 like AWS when it does not match.
 */
export class FakeIoTData {
  readonly requests: PublishRequest[] = [];
  /** Return a Fault to answer a request with it instead of accepting it. */
  fault: (req: PublishRequest) => Fault | undefined = () => undefined;

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
    readonly region: string,
    readonly keys: KeyRing,
  ) {}

  static async start(region: string, keys: KeyRing): Promise<FakeIoTData> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const fake = new FakeIoTData(server, `http://127.0.0.1:${port}`, region, keys);
    server.on('request', (msg: IncomingMessage, res: ServerResponse) => fake.handle(msg, res));
    return fake;
  }

  /** Accepted (2xx) publishes, in arrival order, optionally only those on `topic`. */
  accepted(topic?: string): PublishRequest[] {
    return this.requests.filter(
      (r) => r.status === 200 && (topic === undefined || r.topic === topic),
    );
  }

  /** Records in the accepted payloads (JSON arrays or single objects), in arrival order. */
  records(topic?: string): SensorRecordDict[] {
    return this.accepted(topic).flatMap((r) => payloadRecords(r.payload));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private handle(msg: IncomingMessage, res: ServerResponse): void {
    const at = performance.now();
    const chunks: Buffer[] = [];
    msg.on('data', (c: Buffer) => chunks.push(c));
    msg.on('end', () => {
      const payload = Buffer.concat(chunks);
      const url = new URL(msg.url ?? '/', 'http://fake');
      const match = /^\/topics\/([^/]+)$/.exec(url.pathname);
      const req: PublishRequest = {
        method: msg.method ?? '',
        url: msg.url ?? '',
        topic: match ? decodeURIComponent(match[1]!) : '',
        qos: url.searchParams.get('qos'),
        headers: msg.headers,
        payload,
        at,
        authProblem: verifySigV4(msg, payload, this.keys, this.region, 'iotdata'),
        status: 0,
      };
      this.requests.push(req);
      const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
        req.status = status;
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
      };
      const error = (status: number, type: string, message: string, headers = {}): void =>
        send(status, JSON.stringify({ message }), { 'x-amzn-errortype': type, ...headers });
      if (req.method !== 'POST' || !match)
        return error(405, 'MethodNotAllowedException', `${req.method} ${url.pathname}`);
      if (req.authProblem) return error(403, 'ForbiddenException', req.authProblem);
      const fault = this.fault(req);
      if (fault?.hang) return;
      if (fault?.raw !== undefined) {
        req.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
        res.end(fault.raw);
        return;
      }
      if (fault)
        return error(
          fault.status,
          fault.type ?? 'InternalFailureException',
          fault.message ?? 'injected fault',
          fault.headers,
        );
      send(200, '{}');
    });
  }
}

/** Records in one payload: a JSON array (batch mode) or one object (record mode). */
export function payloadRecords(payload: Buffer): SensorRecordDict[] {
  const parsed = JSON.parse(payload.toString('utf8')) as unknown;
  const list = (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
  return list.map((d) => SensorRecord.fromDict(d).toDict());
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})$/;

/** The `Authorization` header shape the SDK must produce. */
export const SIGV4_AUTHORIZATION = AUTH;

/** Recomputes the request's SigV4 signature; returns what is wrong, or undefined. */
export function verifySigV4(
  msg: IncomingMessage,
  payload: Buffer,
  keys: KeyRing,
  region: string,
  service: string,
): string | undefined {
  const auth = msg.headers.authorization;
  if (!auth) return 'Missing Authentication Token';
  const m = AUTH.exec(auth);
  if (!m) return `malformed Authorization header: ${auth.slice(0, 40)}`;
  const [, keyId, day, scopeRegion, scopeService, signedList, signature] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const amzDate = String(msg.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) return `bad x-amz-date '${amzDate}'`;
  if (amzDate.slice(0, 8) !== day) return 'credential scope date differs from x-amz-date';
  if (scopeRegion !== region)
    return `Credential should be scoped to a valid region, not '${scopeRegion}' (expected '${region}')`;
  if (scopeService !== service)
    return `Credential should be scoped to correct service: '${service}', not '${scopeService}'`;
  const key = keys[keyId];
  if (!key) return 'The security token included in the request is invalid (unknown access key)';
  if (key.sessionToken !== undefined && msg.headers['x-amz-security-token'] !== key.sessionToken)
    return 'The security token included in the request is invalid';
  const signed = signedList.split(';');
  for (const h of ['host', 'x-amz-date'])
    if (!signed.includes(h)) return `SignedHeaders lacks ${h}`;
  const bodyHash = sha256(payload);
  const declared = msg.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== bodyHash && declared !== 'UNSIGNED-PAYLOAD')
    return 'x-amz-content-sha256 does not match the body';
  const target = new URL(msg.url ?? '/', 'http://fake');
  const rawPath = (msg.url ?? '/').split('?')[0]!;
  // Non-S3 services sign the path with each segment URI-encoded a second time.
  const canonicalUri = rawPath
    .split('/')
    .map((seg) => rfc3986(seg))
    .join('/');
  const canonicalQuery = [...target.searchParams]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signed
    .map((h) => {
      const v = msg.headers[h];
      const value = Array.isArray(v) ? v.join(',') : (v ?? '');
      return `${h}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    msg.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedList,
    typeof declared === 'string' ? declared : bodyHash,
  ].join('\n');
  const scope = `${day}/${scopeRegion}/${scopeService}/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(canonicalRequest)}`;
  let k: Buffer = hmac(`AWS4${key.secret}`, day);
  for (const part of [scopeRegion, scopeService, 'aws4_request']) k = hmac(k, part);
  const expected = hmac(k, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return 'The request signature we calculated does not match the signature you provided';
  return undefined;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
