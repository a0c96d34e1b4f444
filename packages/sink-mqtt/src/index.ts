export { MqttSink } from './mqtt-sink.js';
export { MqttBroker } from './mqtt-broker.js';
export type {
  MqttBrokerOptions,
  MqttConnectionOptions,
  MqttPayload,
  MqttQos,
  MqttSinkOptions,
  SparkplugSinkOptions,
} from './options.js';
export { SparkplugSink } from './sparkplug-sink.js';
