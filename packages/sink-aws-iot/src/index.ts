export { AWSIoTSink, MAX_PAYLOAD_BYTES } from './aws-iot-sink.js';
export { TOPIC_FIELDS } from './options.js';
export type { AWSIoTPayloadMode, AWSIoTSinkOptions } from './options.js';
