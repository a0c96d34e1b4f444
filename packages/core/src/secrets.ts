const secrets = new Set<string>();

/**
 * Registers a secret value (password, token, key) so that `redact` removes it from every log line,
 * error message and summary. Sinks call this for each credential they are given.
 */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 3) secrets.add(value);
}

const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)(@)/gi;
const KEY_VALUE_SECRETS =
  /\b(SharedAccessKey|SharedAccessSignature|AccountKey|password|passwd|pwd|secret|client_secret|token|sasl_password|aws_secret_access_key)(\s*[=:]\s*"?)([^;\s",&]+)/gi;
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
