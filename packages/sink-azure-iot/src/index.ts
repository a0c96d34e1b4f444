export { AzureIoTSink } from './azure-iot-sink.js';
export {
  parseConnectionString,
  type AzureConnectionString,
  type AzureIoTPayloadMode,
  type AzureIoTSinkOptions,
  type ResolvedAzureIoTOptions,
} from './options.js';
