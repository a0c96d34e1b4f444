export { DeltaSink } from './delta-sink.js';
export { DeltaTableMismatchError } from './errors.js';
export type {
  DeltaCompression,
  DeltaSinkOptions,
  DeltaTimestampType,
  DeltaWriteMode,
  ResolvedDeltaOptions,
} from './options.js';
