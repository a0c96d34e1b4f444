export { AWSIoTSink } from './aws-iot-sink.js';
export type { AWSIoTPayloadMode, AWSIoTSinkOptions } from './options.js';
