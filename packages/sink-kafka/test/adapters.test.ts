// The producer port's adapters: error classification with each client's real error classes, and
// the client switch of the A/B bench.
import { describe, expect, it } from '@jest/globals';
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  UserError,
} from '@platformatic/kafka';
import { createRequire } from 'node:module';
import type * as KafkaJs from 'kafkajs';
import { clientFromEnv, DEFAULT_CLIENT, producerFactory } from '../src/internal/clients.js';
import { classify as classifyKafkajs, kafkajsProducer } from '../src/internal/kafkajs-producer.js';
import {
  classify as classifyPlatformatic,
  platformaticProducer,
} from '../src/internal/platformatic-producer.js';
import { ProducerError } from '../src/internal/producer.js';

const same = (t: string) => t;
const kafkajs = createRequire(import.meta.url)('kafkajs') as typeof KafkaJs;
type ErrorClass = new (e: unknown, o?: Record<string, unknown>) => Error;
const kj = kafkajs as unknown as Record<string, ErrorClass>;

describe('@platformatic/kafka errors', () => {
  it('a refused connection after the retries is retryable, with the innermost reason', () => {
    const refused = new NetworkError('Connection to 127.0.0.1:19092 failed.', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:19092'), {
        code: 'ECONNREFUSED',
      }),
    });
    const e = classifyPlatformatic(
      new MultipleErrors('produce failed 6 times.', [refused, refused]),
      same,
    );
    expect(e).toBeInstanceOf(ProducerError);
    expect(e).toMatchObject({ retryable: true, kind: 'connection' });
    expect(e.message).toBe('produce failed 6 times: connect ECONNREFUSED 127.0.0.1:19092');
  });

  it('a rejected login is not retryable and says so; the password is redacted', () => {
    const e = classifyPlatformatic(
      new AuthenticationError('SASL authentication failed for pw-1.'),
      (t) => t.replace('pw-1', '***'),
    );
    expect(e).toMatchObject({ retryable: false, kind: 'auth' });
    expect(e.message).not.toContain('pw-1');
  });

  it('a message too large is not retryable; a retriable broker error is', () => {
    const big = classifyPlatformatic(new ProtocolError('MESSAGE_TOO_LARGE'), same);
    expect(big).toMatchObject({ retryable: false, kind: 'too-large' });
    const leader = classifyPlatformatic(new ProtocolError('NOT_LEADER_OR_FOLLOWER'), same);
    expect(leader).toMatchObject({ retryable: true, kind: 'other' });
    expect(classifyPlatformatic(new UserError('bad message'), same).retryable).toBe(false);
  });
});

describe('kafkajs errors', () => {
  it('retryable unless the broker says otherwise or the login failed', () => {
    const refused = new kj.KafkaJSConnectionError!(
      'Connection error: connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(
      classifyKafkajs(new kj.KafkaJSNumberOfRetriesExceeded!(refused, { cause: refused }), same),
    ).toMatchObject({
      retryable: true,
      kind: 'connection',
    });
    const auth = new kj.KafkaJSSASLAuthenticationError!('SASL SCRAM SHA512 authentication failed');
    expect(classifyKafkajs(auth, same)).toMatchObject({ retryable: false, kind: 'auth' });
    const big = new kj.KafkaJSProtocolError!({
      type: 'MESSAGE_TOO_LARGE',
      retriable: false,
      message: 'too large',
      code: 10,
    });
    expect(
      classifyKafkajs(new kj.KafkaJSNonRetriableError!(big, { cause: big }), same),
    ).toMatchObject({
      retryable: false,
      kind: 'too-large',
    });
  });
});

describe('client switch', () => {
  it('kafkajs by default (the measured decision), @platformatic/kafka on request; an unknown name is an error', async () => {
    expect(DEFAULT_CLIENT).toBe('kafkajs');
    expect(clientFromEnv({})).toBe('kafkajs');
    expect(clientFromEnv({ IOTSIM_KAFKA_CLIENT: 'platformatic' })).toBe('platformatic');
    expect(() => clientFromEnv({ IOTSIM_KAFKA_CLIENT: 'rdkafka' })).toThrow(
      "IOTSIM_KAFKA_CLIENT must be one of kafkajs, platformatic, got 'rdkafka'",
    );
    expect(await producerFactory('kafkajs')).toBe(kafkajsProducer);
    expect(await producerFactory('platformatic')).toBe(platformaticProducer);
  });
});
