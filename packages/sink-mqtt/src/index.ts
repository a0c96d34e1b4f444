export { MqttSink } from './mqtt-sink.js';
export { MqttBroker } from './mqtt-broker.js';
export type { MqttConnectionOptions, MqttPayload, MqttQos, MqttSinkOptions } from './options.js';
export type { MqttBrokerOptions } from './mqtt-broker.js';
export { SparkplugSink } from './sparkplug-sink.js';
export type { SparkplugSinkOptions } from './sparkplug-options.js';
