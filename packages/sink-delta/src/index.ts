export { DeltaSink, DeltaTableMismatchError, MAX_COMMIT_ATTEMPTS } from './delta-sink.js';
export {
  PARTITIONABLE_COLUMNS,
  type DeltaCompression,
  type DeltaSinkOptions,
  type DeltaTimestampType,
  type DeltaWriteMode,
  type ResolvedDeltaOptions,
} from './options.js';
export {
  commitFileName,
  parseCommitFileName,
  recordSchema,
  type Action,
  type AddAction,
  type DeltaSchema,
  type MetadataAction,
  type RemoveAction,
} from './log.js';
export { escapePartitionValue, logPathFor, partitionDir } from './partition.js';
export { computeStats, type FileStats } from './stats.js';
export { LocalStorage, type TableStorage } from './storage.js';
export { S3Storage } from './s3-storage.js';
export {
  checkpointFileName,
  decodeCheckpoint,
  encodeCheckpoint,
  isCheckpointVersion,
  parseCheckpointFileName,
  type LastCheckpoint,
} from './checkpoint.js';
