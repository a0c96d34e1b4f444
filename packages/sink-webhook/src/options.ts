import {
  describe,
  field,
  opt,
  readString,
  recordKey,
  v,
  type InputOf,
  type OutputOf,
} from '@iotsim/core';

/** HTTP methods the webhook sink can send its batches with. */
export type WebhookMethod = 'POST' | 'PUT';

/** Header names whose values are credentials: registered as secrets, never logged. */
export const SECRET_HEADER = /authorization|x-api-key|api-key|apikey|cookie|token|secret|password/i;

const URL_HINT = 'the http:// or https:// address to send records to';
/** What a bad url reads as (never used: the options are rejected). */
const NO_URL = new URL('http://invalid.invalid/');

export const WebhookSchema = opt.resolve(
  opt.object({
    /** Target endpoint, `http://` or `https://` (required). */
    url: field<string, URL>(
      { type: 'string', minLength: 1 },
      (value, problem) => {
        const text = readString(value, problem);
        if (text?.trim() === '') problem(`is required: ${URL_HINT}`);
        if (!text?.trim()) return NO_URL;
        try {
          const parsed = new URL(text);
          if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
            problem(`must be an http:// or https:// URL, got scheme '${parsed.protocol}'`);
          return parsed;
        } catch {
          problem(`is not a valid URL (expected e.g. https://example.com/ingest)`);
          return NO_URL;
        }
      },
      URL_HINT,
    ),
    /** Extra HTTP headers sent with every request (secret-looking values are redacted from logs). */
    headers: v.nullish(
      field<Readonly<Record<string, string>>, Record<string, string>>(
        { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
        (value, problem) => {
          if (typeof value !== 'object' || Array.isArray(value)) {
            problem(`must be a mapping of names to strings, got ${describe(value)}`);
            return {};
          }
          const given: [string, string][] = [];
          for (const [name, x] of Object.entries(value as object)) {
            if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
              given.push([name, String(x)]);
            else problem(`must be a string, got ${describe(x)}`, [recordKey(name)]);
          }
          const headers: Record<string, string> = {};
          for (const [name, x] of given) {
            if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
              problem('is not a valid HTTP header name', [recordKey(name)]);
            else if (/[\r\n]/.test(x)) problem('must not contain line breaks', [recordKey(name)]);
            else headers[name.toLowerCase()] = x;
          }
          return headers;
        },
      ),
      {},
    ),
    /** Seconds to wait for a complete response before the attempt counts as failed. Default 30. */
    timeoutS: v.nullish(opt.number({ above: 0 }), 30),
    /** Gzip the request body and send `Content-Encoding: gzip`. Default false. */
    gzip: v.nullish(opt.boolean(), false),
    /** HTTP method (any case). Default `POST`. */
    method: v.nullish(
      field<WebhookMethod>({ type: 'string', examples: ['POST', 'PUT'] }, (value, problem) => {
        const m = (readString(value, problem) ?? 'POST').toUpperCase();
        if (m === 'POST' || m === 'PUT') return m;
        problem(`must be POST or PUT, got ${JSON.stringify(m)}`);
        return 'POST';
      }),
      'POST',
    ),
    /** Verify the server's TLS certificate. Default true; false is logged as a warning. */
    tlsRejectUnauthorized: v.nullish(opt.boolean(), true),
  }),
  (o) => ({
    ...o,
    /** Credentials found in the headers and the URL, for the sink to register as secrets. */
    secrets: credentials(o.url, o.headers),
  }),
);

/**
 * Options of `WebhookSink` (YAML keys in snake_case: `timeout_s`, `tls_reject_unauthorized`).
 * Throughput (`batchSize`, `rateHz` …) is given beside the sink, not here.
 */
export type WebhookSinkOptions = InputOf<typeof WebhookSchema>;

/** Webhook options after validation. */
export type ResolvedWebhookOptions = Readonly<OutputOf<typeof WebhookSchema>>;

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
