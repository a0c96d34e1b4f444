export { KafkaSink } from './kafka-sink.js';
export type {
  Compression,
  KafkaSinkOptions,
  KafkaSslOptions,
  KeyField,
  ResolvedKafkaOptions,
  SaslMechanism,
  SecurityProtocol,
} from './options.js';
