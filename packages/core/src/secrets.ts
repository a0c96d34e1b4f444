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

  /** `text` with every known secret replaced by `***`. */
  redact(text: string): string {
    let out = redactPatterns(text);
    for (const s of this.values) {
      if (out.includes(s)) out = out.split(s).join('***');
    }
    for (const src of this.sources) {
      for (const s of src.secrets)
        if (s.length >= 3 && out.includes(s)) out = out.split(s).join('***');
    }
    for (const s of secrets) {
      if (out.includes(s)) out = out.split(s).join('***');
    }
    return out;
  }
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
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}
