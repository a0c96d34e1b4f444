import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import {
  Sink,
  SinkConnectError,
  SinkWriteError,
  importSdk,
  parseRetryAfter,
  parseSinkOptions,
  encodeJsonArray,
  jsonArrayEncoder,
  Redactor,
  packageInfo,
  type WriteRequest,
} from '@iotsim/core';
import type { Got, RequestError } from 'got';
import { WebhookSchema, type ResolvedWebhookOptions, type WebhookSinkOptions } from './options.js';

/** The User-Agent of every request, with this package's version (`iotsim-sink-webhook/0.1.0`). */
const USER_AGENT = `iotsim-sink-webhook/${packageInfo(import.meta.url, '@iotsim/sink-webhook', 1).version}`;

const gzip = promisify(gzipCallback);

/** How much of an error response's body goes into the error message. */
const BODY_SNIPPET = 200;

/** TLS failures that no retry can fix: the certificate is what it is. */
const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Sends each batch as one HTTP request whose body is a JSON array of records (`toDict()` form),
 * `Content-Type: application/json`, optionally gzipped. Connection errors, timeouts, 408, 429 and
 * 5xx are retried by the runner (honouring `Retry-After`); other 4xx fail the batch at once.
 *
 * One batch at a time (the default capabilities): concurrent requests could land out of order.
 * A request still running at the shutdown deadline is cancelled (the write request's signal).
 *
 * @example
 * const sink = new WebhookSink({
 *   url: 'https://example.com/api/ingest',
 *   headers: { Authorization: 'Bearer my-token' },
 *   timeoutS: 10,
 * });
 * sim.addSink(sink, { batchSize: 500 });
 */
export class WebhookSink extends Sink {
  static override readonly type = 'webhook';
  static override readonly schema = WebhookSchema;
  private readonly options: ResolvedWebhookOptions;
  private readonly headers: Record<string, string>;
  private readonly target: string;
  private client: Got | undefined;
  private agents: { http: HttpAgent; https: HttpsAgent } | undefined;
  private readonly encoder = jsonArrayEncoder();
  /** This sink's secrets (and core's patterns) out of every message it makes. */
  private readonly redactor = new Redactor();

  constructor(options: WebhookSinkOptions) {
    super();
    const own = parseSinkOptions(WebhookSchema, options);
    this.options = own;
    for (const secret of own.secrets) this.registerSecret(secret);
    this.redactor.add(...this.secrets);
    const url = own.url;
    this.target = `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
    this.headers = {
      'user-agent': USER_AGENT,
      'content-type': 'application/json',
      ...own.headers,
    };
    if (own.gzip) this.headers['content-encoding'] = 'gzip';
  }

  override describe(): string {
    return `webhook ${this.options.method} ${this.target}${this.options.gzip ? ' (gzip)' : ''}`;
  }

  async connect(): Promise<void> {
    const { default: got } = await importSdk('got', () => import('got'), 'webhook sink', {
      hint: 'it comes with @iotsim/sink-webhook: reinstall that',
    });
    const { tlsRejectUnauthorized, timeoutS } = this.options;
    await this.checkReachable(Math.min(timeoutS, 10));
    if (!tlsRejectUnauthorized) {
      this.logger.warn(
        `webhook ${this.target}: TLS certificate verification is OFF (tls_reject_unauthorized: false); anyone on the path can read and alter the records`,
      );
    }
    this.agents = {
      http: new HttpAgent({ keepAlive: true }),
      https: new HttpsAgent({ keepAlive: true, rejectUnauthorized: tlsRejectUnauthorized }),
    };
    this.client = got.extend({
      agent: this.agents,
      https: { rejectUnauthorized: tlsRejectUnauthorized },
      timeout: { request: timeoutS * 1000 },
      // The runner retries, so its counters see every attempt.
      retry: { limit: 0 },
      throwHttpErrors: false,
      // A redirected POST would re-send the body somewhere the user did not configure.
      followRedirect: false,
      responseType: 'text',
    });
  }

  /**
   * Resolves the host and opens (then closes) one TCP connection, so that a wrong host or a port
   * nobody listens on stops the run at start (exit 2) instead of failing every batch.
   */
  private async checkReachable(timeoutS: number): Promise<void> {
    const url = this.options.url;
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, reject) => {
      const socket = tcpConnect({ host, port, timeout: timeoutS * 1000 });
      const fail = (why: string, cause?: unknown): void => {
        socket.destroy();
        reject(
          new SinkConnectError(
            'webhook',
            `cannot reach ${this.target}: ${why}; check url (host and port), and that the server is running`,
            { cause },
          ),
        );
      };
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('timeout', () => fail(`no answer within ${timeoutS} s`));
      socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err));
    });
  }

  async write(request: WriteRequest): Promise<void> {
    const client = this.client;
    if (!client) throw this.notConnected();
    // A Buffer, not a string: got would otherwise UTF-8-encode the text once more to measure it.
    const json = encodeJsonArray(this.encoder, request.batch);
    const body = this.options.gzip ? await gzip(json) : json;
    const what = `${this.options.method} ${this.target}`;
    let status: number;
    let responseText: string;
    let headers: Record<string, string | string[] | undefined>;
    try {
      this.count('requests');
      const res = await client(this.options.url, {
        method: this.options.method,
        body,
        headers: this.headers,
        // Fires at the shutdown deadline: a hung request is cancelled, not waited for.
        signal: request.signal,
      });
      status = res.statusCode;
      responseText = res.body;
      headers = res.headers;
    } catch (err) {
      throw this.requestFailure(err as RequestError, what);
    }
    if (status >= 200 && status < 300) return;
    const snippet = bodySnippet(responseText);
    const detail = `${what} answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterS = parseRetryAfter(headers['retry-after']);
      throw new SinkWriteError(this.redact(detail), { retryAfterS });
    }
    if (status >= 300 && status < 400) {
      const location = headerValue(headers.location);
      throw new SinkWriteError(
        this.redact(
          `${what} answered HTTP ${status} redirect${location ? ` to ${location}` : ''}; redirects are not followed, set url to the final address`,
        ),
        { retryable: false },
      );
    }
    throw new SinkWriteError(this.redact(detail), { retryable: false });
  }

  override async close(): Promise<void> {
    this.agents?.http.destroy();
    this.agents?.https.destroy();
    this.agents = undefined;
    this.client = undefined;
  }

  private redact(text: string): string {
    return this.redactor.redact(text);
  }

  private requestFailure(err: RequestError, what: string): SinkWriteError {
    const code = err.code;
    if (err.name === 'AbortError') {
      return new SinkWriteError(`${what}: cancelled, the sink is stopping`, {
        retryable: false,
        cause: err,
      });
    }
    if (err.name === 'TimeoutError') {
      return new SinkWriteError(
        `${what}: no complete response within ${this.options.timeoutS} s (timeout_s)`,
        { cause: err },
      );
    }
    if (code && TLS_ERRORS.has(code)) {
      return new SinkWriteError(
        this.redact(
          `${what}: TLS certificate rejected (${code}); give Node the CA with NODE_EXTRA_CA_CERTS, or set tls_reject_unauthorized: false to skip verification`,
        ),
        { retryable: false, cause: err },
      );
    }
    return new SinkWriteError(this.redact(`${what}: ${code ?? err.name}: ${err.message}`), {
      cause: err,
    });
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function bodySnippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > BODY_SNIPPET ? `${oneLine.slice(0, BODY_SNIPPET)}…` : oneLine;
}
