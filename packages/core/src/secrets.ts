const secrets = new Set<string>();

/**
 * Registers a secret value (password, token, key) so that `redact` removes it from every log line,
 * error message and summary. Sinks call this for each credential they are given.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 3) secrets.add(value);
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

/** Removes registered secrets, URL passwords, `key=secret` pairs and bearer tokens from text. */
export function redact(text: string): string {
  let out = text
    .replace(URL_CREDENTIALS, '$1***$3')
    .replace(KEY_VALUE_SECRETS, '$1$2***')
    .replace(BEARER, '$1 ***');
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}
