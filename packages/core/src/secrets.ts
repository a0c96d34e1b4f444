const secrets = new Set<string>();

/**
 * Registers a secret value process-wide, so that the global `redact` removes it. A run keeps its
 * own `Redactor` (its config's `${VAR}` credentials and every sink's `secrets`); this global set is
 * for code outside a run.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 3) secrets.add(value);
}

/**
 * The secrets of one run and the redaction that removes them (plus URL passwords, `key=secret`
 * pairs and bearer tokens) from text. `Simulator` makes one per instance.
 */
export class Redactor {
  private readonly values = new Set<string>();
  private readonly sources = new Set<{ readonly secrets: readonly string[] }>();

  /** Adds credentials (values shorter than 3 characters are ignored). */
  add(...values: readonly (string | undefined | null)[]): this {
    for (const v of values) if (typeof v === 'string' && v.length >= 3) this.values.add(v);
    return this;
  }

  /** Also redacts whatever `source.secrets` holds at the time (a sink learns some credentials only at connect). */
  watch(source: { readonly secrets: readonly string[] }): this {
    this.sources.add(source);
    return this;
  }

  /** `text` with every known secret replaced by `***` (where it stands alone, not inside a word). */
  redact(text: string): string {
    let out = redactPatterns(text);
    for (const s of this.values) out = redactValue(out, s);
    for (const src of this.sources)
      for (const s of src.secrets) if (s.length >= 3) out = redactValue(out, s);
    for (const s of secrets) out = redactValue(out, s);
    return out;
  }
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;

/**
 * `text` with each occurrence of `secret` replaced by `***`, except where the occurrence is part of
 * a longer word: with the password `pass`, `user:pass@host` becomes `user:***@host` but
 * `password authentication failed` stays readable. A secret that itself begins or ends with a
 * non-word character (`p@ss!`) is replaced wherever it appears.
 */
export function redactValue(text: string, secret: string): string {
  if (!secret || !text.includes(secret)) return text;
  const guardStart = WORD_CHAR.test(secret[0]!);
  const guardEnd = WORD_CHAR.test(secret[secret.length - 1]!);
  let out = '';
  let from = 0;
  for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
    if (at < from) continue;
    const before = at > 0 ? text[at - 1]! : '';
    const after = text[at + secret.length] ?? '';
    if (
      (guardStart && before && WORD_CHAR.test(before)) ||
      (guardEnd && after && WORD_CHAR.test(after))
    )
      continue;
    out += text.slice(from, at) + '***';
    from = at + secret.length;
  }
  return out + text.slice(from);
}

// The password runs to the last `@` of the URL, so an unencoded `/` or `@` in it is covered too.
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"']*:)([^\s"']+)(@)/gi;
// `key=value`, `key = "value"`, `"key": "value"`, `key: "value"` and `key:value`; not `key: word`,
// which is how our own messages read (`sinks[0].sasl_password: environment variable … is not set`).
const KEY_VALUE_SECRETS =
  /\b(SharedAccessKey|SharedAccessSignature|AccountKey|password|passwd|pwd|secret|client_secret|token|sasl_password|aws_secret_access_key)(\s*=\s*"?|"?\s*:\s*"|:(?=[^\s"]))([^;\s",&)]+)/gi;

/** Environment variable names whose values are credentials (`${KAFKA_PASSWORD}` in a config). */
export const SECRET_VARIABLE_NAME =
  /pass|pwd|secret|token|credential|api_?key|access_?key|sas|auth/i;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/g;

function redactPatterns(text: string): string {
  return text
    .replace(URL_CREDENTIALS, '$1***$3')
    .replace(KEY_VALUE_SECRETS, '$1$2***')
    .replace(BEARER, '$1 ***');
}

/** Removes process-wide registered secrets, URL passwords, `key=secret` pairs and bearer tokens from text. */
export function redact(text: string): string {
  let out = redactPatterns(text);
  for (const s of secrets) out = redactValue(out, s);
  return out;
}
