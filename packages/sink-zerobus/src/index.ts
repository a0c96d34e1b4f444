export { ZerobusSink, parseEndpoint } from './zerobus-sink.js';
export {
  tableNameProblems,
  type ResolvedZerobusOptions,
  type ZerobusRecordType,
  type ZerobusSinkOptions,
} from './options.js';
export {
  parseIni,
  resolveCredentials,
  type DatabricksCredentials,
  type ExplicitCredentials,
} from './credentials.js';
export { RECORD_PROTO, recordDescriptor } from './record-proto.js';
