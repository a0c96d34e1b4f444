import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  parseOptions,
  resolveThroughput,
  splitSinkConfig,
  type ConfigIssue,
} from '@iotsim/core';
import { KafkaSink, type KafkaSinkOptions } from '../src/index.js';
import { KafkaOptionsSchema } from '../src/options.js';

function read(options: Record<string, unknown>) {
  try {
    return { own: parseOptions(KafkaOptionsSchema, options), issues: [] as ConfigIssue[] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { own: undefined as never, issues: [...err.issues] };
  }
}

/** The messages reported for one option path. */
function problems(options: Record<string, unknown>, path: string): string[] {
  return read(options)
    .issues.filter((i) => i.path === path)
    .map((i) => i.message);
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('KafkaSink options', () => {
  it("defaults to the original's settings", () => {
    const { own, issues } = read({});
    expect(issues).toEqual([]);
    expect(own).toMatchObject({
      brokers: ['localhost:9092'],
      topic: 'iot-sensor-data',
      compression: 'snappy',
      keyField: 'sensor_name',
      acks: -1,
      securityProtocol: 'PLAINTEXT',
      sasl: undefined,
      clientId: `iotsim-sink-kafka-${(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version}`,
      idempotent: false,
      maxRequestSize: 1_000_000,
    });
  });

  it('takes bootstrap servers as a comma-separated string or a list, port 9092 by default', () => {
    expect(read({ bootstrapServers: 'a:1, b ,[::1]:3' }).own.brokers).toEqual([
      'a:1',
      'b:9092',
      '[::1]:3',
    ]);
    expect(read({ bootstrapServers: ['x:9093', 'y:9094,z:1'] }).own.brokers).toEqual([
      'x:9093',
      'y:9094',
      'z:1',
    ]);
  });

  it('reports a bootstrap server that is not host:port, and an empty list', () => {
    expect(problems({ bootstrapServers: 'good:1,bad:port,x:70000' }, 'bootstrapServers')).toEqual([
      "'bad:port' is not host:port",
      "'x:70000' is not host:port",
    ]);
    expect(problems({ bootstrapServers: ' , ' }, 'bootstrapServers')[0]).toMatch(/at least one/);
    expect(problems({ bootstrapServers: 42 }, 'bootstrapServers')[0]).toMatch(/host:port/);
  });

  it('reads compression, null meaning none, any case', () => {
    expect(read({ compression: null }).own.compression).toBe('none');
    expect(read({ compression: 'ZSTD' }).own.compression).toBe('zstd');
    expect(read({ compression: 'lz4' }).own.compression).toBe('lz4');
    expect(problems({ compression: 'brotli' }, 'compression')[0]).toMatch(
      /must be one of none, gzip, snappy, lz4, zstd/,
    );
  });

  it('reads the key field, null (or none) meaning no key', () => {
    expect(read({ keyField: null }).own.keyField).toBeNull();
    expect(read({ keyField: 'none' }).own.keyField).toBeNull();
    expect(read({ keyField: 'device_id' }).own.keyField).toBe('device_id');
    expect(problems({ keyField: 'value' }, 'keyField')[0]).toMatch(
      /sensor_name, industry, device_id or null/,
    );
  });

  it('reads acks as all/-1/1/0, string or number', () => {
    expect(read({ acks: 'all' }).own.acks).toBe(-1);
    expect(read({ acks: -1 }).own.acks).toBe(-1);
    expect(read({ acks: 1 }).own.acks).toBe(1);
    expect(read({ acks: '0' }).own.acks).toBe(0);
    expect(problems({ acks: 2 }, 'acks')[0]).toMatch(/'all' \(or -1\), 1 or 0/);
  });

  it('rejects an invalid topic name', () => {
    expect(problems({ topic: 'has space' }, 'topic')[0]).toMatch(/not a valid Kafka topic name/);
    expect(problems({ topic: 'a'.repeat(250) }, 'topic')).toHaveLength(1);
    expect(problems({ topic: 'ok.topic_name-1' }, 'topic')).toEqual([]);
  });

  it('SASL_* needs a mechanism, a user name and a password, each reported at its path', () => {
    const { issues } = read({ securityProtocol: 'SASL_SSL' });
    expect(issues.map((i) => i.path).sort()).toEqual([
      'saslMechanism',
      'saslPassword',
      'saslUsername',
    ]);
    expect(issues[0]!.message).toMatch(/required with securityProtocol SASL_SSL/);
  });

  it('a SASL mechanism with PLAINTEXT is an error', () => {
    expect(problems({ saslMechanism: 'PLAIN' }, 'saslMechanism')[0]).toMatch(
      /only used with securityProtocol SASL_PLAINTEXT or SASL_SSL \(it is PLAINTEXT\)/,
    );
  });

  it('SASL credentials with SSL (no SASL) are an error', () => {
    const { issues } = read({
      securityProtocol: 'SSL',
      saslUsername: 'u',
      saslPassword: 'pw-1234',
    });
    expect(issues.map((i) => i.path).sort()).toEqual(['saslPassword', 'saslUsername']);
    // the password itself is never quoted
    expect(issues.map((i) => i.message).join(' ')).not.toContain('pw-1234');
  });

  it('accepts a complete SASL setup, mechanism names in any spelling', () => {
    const { own, issues } = read({
      securityProtocol: 'sasl_plaintext',
      saslMechanism: 'scram_sha_256',
      saslUsername: 'iotsim',
      saslPassword: 'secret-pw',
    });
    expect(issues).toEqual([]);
    expect(own.securityProtocol).toBe('SASL_PLAINTEXT');
    expect(own.sasl).toEqual({
      mechanism: 'SCRAM-SHA-256',
      username: 'iotsim',
      password: 'secret-pw',
    });
    expect(problems({ saslMechanism: 'GSSAPI' }, 'saslMechanism')[0]).toMatch(
      /must be one of PLAIN/,
    );
  });

  it('ssl settings need SSL or SASL_SSL', () => {
    expect(problems({ ssl: { ca: '/ca.pem' } }, 'ssl')[0]).toMatch(
      /only used with securityProtocol SSL/,
    );
    expect(problems({ securityProtocol: 'SSL', ssl: { ca: '/ca.pem' } }, 'ssl')).toEqual([]);
  });

  it('ssl cert and key go together; unknown ssl keys and bad values are reported', () => {
    const base = { securityProtocol: 'SSL' };
    expect(problems({ ...base, ssl: { cert: '/c.pem' } }, 'ssl')[0]).toMatch(
      /cert and key go together/,
    );
    expect(problems({ ...base, ssl: { cafile: '/x' } }, 'ssl.cafile')[0]).toMatch(/unknown option/);
    expect(
      problems({ ...base, ssl: { rejectUnauthorized: 'maybe' } }, 'ssl.rejectUnauthorized'),
    ).toHaveLength(1);
    expect(read({ ...base, ssl: { rejectUnauthorized: false } }).own.ssl).toEqual({
      rejectUnauthorized: false,
    });
  });

  it('an idempotent producer needs acks all', () => {
    expect(problems({ idempotent: true, acks: 1 }, 'acks')[0]).toMatch(
      /must be 'all' for an idempotent/,
    );
    expect(read({ idempotent: true }).issues).toEqual([]);
  });

  it('throughput options are not sink options: they go beside the sink', () => {
    // maxInFlight with an idempotent producer is checked when the runner attaches (kafka-sink.test.ts).
    const err = configError(
      () => new KafkaSink({ idempotent: true, maxInFlight: 2 } as KafkaSinkOptions),
    );
    expect(err.issues.map(({ path, message }) => ({ path, message }))).toEqual([
      {
        path: 'maxInFlight',
        message:
          "is a throughput option: give it beside the sink (sim.addSink(sink, { maxInFlight: … })), not in the sink's options",
      },
    ]);
  });

  it('YAML keys are mapped at every depth, and YAML messages use YAML names', () => {
    const err = configError(() =>
      KafkaSink.fromConfig(
        {
          security_protocol: 'SASL_SSL',
          sasl_mechanism: 'PLAIN',
          ssl: { reject_unauthorized: 'maybe', ca_file: '/x' },
        },
        'sinks[0].',
      ),
    );
    expect(err.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'sinks[0].ssl.reject_unauthorized: must be true or false, got "maybe"',
      'sinks[0].ssl.ca_file: unknown option',
      'sinks[0].sasl_username: required with security_protocol SASL_SSL',
      'sinks[0].sasl_password: required with security_protocol SASL_SSL',
    ]);
    expect(
      KafkaSink.fromConfig({ security_protocol: 'SSL', ssl: { reject_unauthorized: false } })
        .options.ssl,
    ).toEqual({ rejectUnauthorized: false });
  });

  it('maxRequestSize is a whole number of at least 1024 bytes', () => {
    expect(problems({ maxRequestSize: 100 }, 'maxRequestSize')[0]).toMatch(/>= 1024/);
  });

  it('the constructor reports every problem at once, unknown keys with a did-you-mean', () => {
    const err = configError(
      () =>
        new KafkaSink({
          topic: 'bad topic',
          acks: 'some',
          batchSize: 100,
          compresion: 'gzip',
        } as unknown as KafkaSinkOptions),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual([
      'acks',
      'batchSize',
      'compresion',
      'topic',
    ]);
    expect(err.message).toMatch(/compresion: unknown option \(did you mean 'compression'\?\)/);
    expect(err.message).toMatch(/batchSize: is a throughput option: give it beside the sink/);
  });

  it('YAML configs use snake_case keys and report YAML paths', () => {
    // The registry splits one YAML mapping into the sink's options and the throughput beside it.
    const { throughput, own } = splitSinkConfig({
      bootstrap_servers: '127.0.0.1:19092',
      key_field: 'industry',
      compression: null,
      batch_size: 500,
      max_in_flight: 3,
    });
    const sink = KafkaSink.fromConfig(own);
    expect(sink.options.keyField).toBe('industry');
    expect(sink.options.compression).toBe('none');
    expect(resolveThroughput(throughput)).toMatchObject({ batchSize: 500, maxInFlight: 3 });
    const err = configError(() =>
      KafkaSink.fromConfig(
        { security_protocol: 'SASL_PLAINTEXT', sasl_username: 'u' },
        'sinks[1].',
      ),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual([
      'sinks[1].sasl_mechanism',
      'sinks[1].sasl_password',
    ]);
  });

  it('describe() names the destination but never the password', () => {
    const sink = new KafkaSink({
      bootstrapServers: 'k1:9093',
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'PLAIN',
      saslUsername: 'bob',
      saslPassword: 'hunter2-secret',
    });
    expect(sink.describe()).toBe(
      'kafka k1:9093 topic=iot-sensor-data compression=snappy acks=all key=sensor_name SASL_SSL PLAIN user=bob',
    );
    expect(sink.describe()).not.toContain('hunter2');
    // Registered with the sink (its run redacts it everywhere), not process-wide.
    expect(sink.secrets).toEqual(['hunter2-secret']);
  });
});
