import type { OptionReader } from '@iotsim/core';

/** HTTP methods the webhook sink can send its batches with. */
export type WebhookMethod = 'POST' | 'PUT';

/**
 * Options of `WebhookSink` (YAML keys in snake_case: `timeout_s`, `tls_reject_unauthorized`).
 * Throughput (`batchSize`, `rateHz` …) is given beside the sink, not here.
 */
export interface WebhookSinkOptions {
  /** Target endpoint, `http://` or `https://` (required). */
  url?: string;
  /** Extra HTTP headers sent with every request (secret-looking values are redacted from logs). */
  headers?: Record<string, string>;
  /** Seconds to wait for a complete response before the attempt counts as failed. Default 30. */
  timeoutS?: number;
  /** Gzip the request body and send `Content-Encoding: gzip`. Default false. */
  gzip?: boolean;
  /** HTTP method. Default `POST`. */
  method?: WebhookMethod;
  /** Verify the server's TLS certificate. Default true; false is logged as a warning. */
  tlsRejectUnauthorized?: boolean;
}

/** Webhook options after validation. */
export interface ResolvedWebhookOptions {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutS: number;
  readonly gzip: boolean;
  readonly method: WebhookMethod;
  readonly tlsRejectUnauthorized: boolean;
  /** Credentials found in the headers and the URL, for the sink to register as secrets. */
  readonly secrets: readonly string[];
}

/** Header names whose values are credentials: registered as secrets, never logged. */
export const SECRET_HEADER = /authorization|x-api-key|api-key|apikey|cookie|token|secret|password/i;

/** Reads and validates the webhook sink's own options. */
export function readWebhookOptions(r: OptionReader): ResolvedWebhookOptions {
  const raw = r.requiredString('url', 'the http:// or https:// address to send records to');
  let url = new URL('http://invalid.invalid/');
  if (raw) {
    try {
      url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        r.problem('url', `must be an http:// or https:// URL, got scheme '${url.protocol}'`);
      }
    } catch {
      r.problem('url', `is not a valid URL (expected e.g. https://example.com/ingest)`);
    }
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.stringRecord('headers'))) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      r.problem(`headers.${name}`, 'is not a valid HTTP header name');
      continue;
    }
    if (/[\r\n]/.test(value)) {
      r.problem(`headers.${name}`, 'must not contain line breaks');
      continue;
    }
    headers[name.toLowerCase()] = value;
  }
  return {
    url,
    headers,
    secrets: credentials(url, headers),
    timeoutS: r.number('timeoutS', 30, { above: 0 }),
    gzip: r.boolean('gzip', false),
    method: readMethod(r),
    tlsRejectUnauthorized: r.boolean('tlsRejectUnauthorized', true),
  };
}

/**
 * Secret-looking header values (and, for `Bearer abc`, the credential alone), a password in the
 * URL, and secret-looking query values.
 */
function credentials(url: URL, headers: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!SECRET_HEADER.test(name)) continue;
    out.push(value);
    // `Bearer abc`: the credential alone must be redacted too.
    if (value.includes(' ')) out.push(value.split(' ').pop()!);
  }
  if (url.password) {
    out.push(url.password);
    try {
      out.push(decodeURIComponent(url.password));
    } catch {
      // not percent-encoded: the raw form is registered
    }
  }
  for (const [name, value] of url.searchParams) {
    if (SECRET_HEADER.test(name) || /^(code|key|sig|signature)$/i.test(name)) out.push(value);
  }
  return out;
}

function readMethod(r: OptionReader): WebhookMethod {
  const m = r.string('method', 'POST').toUpperCase();
  if (m === 'POST' || m === 'PUT') return m;
  r.problem('method', `must be POST or PUT, got ${JSON.stringify(m)}`);
  return 'POST';
}
