export { KafkaSink } from './kafka-sink.js';
export {
  COMPRESSIONS,
  KEY_FIELDS,
  SASL_MECHANISMS,
  SECURITY_PROTOCOLS,
  type Compression,
  type KafkaSinkOptions,
  type KafkaSslOptions,
  type KeyField,
  type ResolvedKafkaOptions,
  type SaslMechanism,
  type SecurityProtocol,
} from './options.js';
export { installFastProduce, type FastProduceStatus } from './fast-produce.js';
export { zstdCodec, type KafkaCodec, type KafkaCodecFactory } from './codecs.js';
