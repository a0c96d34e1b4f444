import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  Redactor,
  redact,
  redactValue,
  registerSecret,
  validateConfig,
} from '../src/index.js';

describe('redact', () => {
  it('removes registered secrets, URL passwords, key=value secrets and bearer tokens', () => {
    registerSecret('reg-Secret-1');
    expect(redact('x reg-Secret-1 y')).toBe('x *** y');
    expect(redact('postgres://u:pw1@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redact('HostName=h;SharedAccessKey=abc+/=;DeviceId=d')).toBe(
      'HostName=h;SharedAccessKey=***;DeviceId=d',
    );
    expect(redact('{"password": "pw2"}')).toBe('{"password": "***"}');
    expect(redact('password="pw3"')).toBe('password="***"');
    expect(redact('password:pw4')).toBe('password:***');
    expect(redact('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer ***');
  });

  it('covers a URL password with an unencoded / or @', () => {
    expect(redact('"postgres://u:se/cr@t@127.0.0.1:x/db"')).toBe(
      '"postgres://u:***@127.0.0.1:x/db"',
    );
  });

  it("leaves our own messages readable: 'key: words' is not a secret", () => {
    const msg =
      'sinks[0].sasl_password: environment variable X is not set; cannot get an OAuth token: could not reach host';
    expect(redact(msg)).toBe(msg);
    expect(redact('(HostName=…;SharedAccessKey=…) from the portal')).toBe(
      '(HostName=…;SharedAccessKey=***) from the portal',
    );
  });
});

describe('${VAR} in configs', () => {
  it('registers the value of a credential-named variable, so a misplaced one is not echoed', () => {
    process.env.IOTSIM_TEST_API_TOKEN = 'tok-from-env-77';
    try {
      validateConfig({ sinks: [], simulator: { seed: '${IOTSIM_TEST_API_TOKEN}' } });
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('simulator.seed: must be a number');
      expect((err as Error).message).not.toContain('tok-from-env-77');
    } finally {
      delete process.env.IOTSIM_TEST_API_TOKEN;
    }
  });
});

describe('a secret is redacted where it stands, never inside an ordinary word', () => {
  it('the original sample URL user:pass@…: the message stays readable', () => {
    const r = new Redactor().add('pass');
    const message =
      'connect to postgresql://user:pass@127.0.0.1:5432/db failed: password authentication failed for user "user"; check the user and password';
    expect(r.redact(message)).toBe(
      'connect to postgresql://user:***@127.0.0.1:5432/db failed: password authentication failed for user "user"; check the user and password',
    );
  });

  it('short and common-word secrets: inside words nothing changes; standing alone they go', () => {
    const r = new Redactor().add('abc', 'key', 'secret');
    expect(r.redact('abcdef keyboard secretary')).toBe('abcdef keyboard secretary');
    expect(r.redact('token=abc; "key":"key" (secret)')).toBe('token=***; "***":"***" (***)');
    expect(redactValue('x=abc,abc.abc', 'abc')).toBe('x=***,***.***');
  });

  it('a secret that starts or ends with punctuation goes wherever it appears', () => {
    expect(redactValue('a#p@ss#b', '#p@ss#')).toBe('a***b');
    expect(redactValue('ap@ss#b c p@ss#', 'p@ss#')).toBe('ap@ss#b c ***');
  });
});
