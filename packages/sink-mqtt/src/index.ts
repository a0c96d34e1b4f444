export { MqttSink } from './mqtt-sink.js';
export type { MqttConnectionOptions, MqttPayload, MqttQos, MqttSinkOptions } from './options.js';
