import type { ProducerFactory } from './producer.js';

/** The Kafka clients behind the producer port. */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic'] as const;
/** A Kafka client behind the producer port. */
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

/** The client the sink uses (see the README's "Client" section for the measurements). */
export const DEFAULT_CLIENT: KafkaClientName = 'kafkajs';

/** Loads an adapter module only when it is used (the other client is never loaded). */
export async function producerFactory(name: KafkaClientName): Promise<ProducerFactory> {
  if (name === 'kafkajs') return (await import('./kafkajs-producer.js')).kafkajsProducer;
  return (await import('./platformatic-producer.js')).platformaticProducer;
}

/**
 * The client for this process: `IOTSIM_KAFKA_CLIENT` (bench/kafka.mjs's A/B switch) or the default.
 * An unknown name is an error, never a silent fallback.
 */
export function clientFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaClientName {
  const v = env.IOTSIM_KAFKA_CLIENT;
  if (v === undefined || v === '') return DEFAULT_CLIENT;
  if ((KAFKA_CLIENTS as readonly string[]).includes(v)) return v as KafkaClientName;
  throw new Error(`IOTSIM_KAFKA_CLIENT must be one of ${KAFKA_CLIENTS.join(', ')}, got '${v}'`);
}
