export { AzureIoTSink } from './azure-iot-sink.js';
export type {
  AzureIoTPayloadMode,
  AzureIoTSinkOptions,
  ResolvedAzureIoTOptions,
} from './options.js';
