import type { OptionReader } from '@iotsim/core';
import { closestNames } from '@iotsim/core';

/** How each batch is committed on the first write of a run. */
export type DeltaWriteMode = 'append' | 'overwrite';

/** How the record's `timestamp` (epoch seconds) is stored. */
export type DeltaTimestampType = 'double' | 'timestamp';

/** Parquet codec of the data files. */
export type DeltaCompression = 'snappy' | 'zstd' | 'gzip' | 'lz4' | 'none';

/** Options of `DeltaSink` (TypeScript names; YAML uses the snake_case keys). */
export interface DeltaSinkOptions {
  /** Table location: a local directory, a `file://` URL or `s3://bucket/prefix`. Default `/tmp/delta/sensors`. */
  tablePath?: string;
  /** `append` (default) adds to the table; `overwrite` replaces its contents with the run's first batch, then appends. */
  mode?: DeltaWriteMode;
  /** Record columns to partition by (string columns or `fault_active`), e.g. `['industry']`. Default none. */
  partitionBy?: string[];
  /** Object-store settings, delta-rs style: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, … */
  storageOptions?: Record<string, string>;
  /** `double` (default, the original's schema: epoch seconds) or `timestamp` (Delta timestamp, microseconds, UTC). */
  timestampType?: DeltaTimestampType;
  /** Split a partition's rows into data files of at most this many rows. Default: one file per partition per batch. */
  targetFileRows?: number;
  /** Parquet codec of the data files. Default `snappy`. */
  compression?: DeltaCompression;
  /** Write a Parquet checkpoint after every this many commits (as delta-rs: versions 9, 19, … for 10). 0 disables. Default 10. */
  checkpointInterval?: number;
}

/** DeltaSink options after validation. */
export interface ResolvedDeltaOptions {
  readonly tablePath: string;
  readonly mode: DeltaWriteMode;
  readonly partitionBy: readonly string[];
  readonly storageOptions: Readonly<Record<string, string>>;
  readonly timestampType: DeltaTimestampType;
  readonly targetFileRows: number | undefined;
  readonly compression: DeltaCompression;
  readonly checkpointInterval: number;
}

/**
 * Record columns a table may be partitioned by. The string columns and `fault_active` have few
 * distinct values; partitioning by a double (`value`, `timestamp`, …) would make a directory per
 * reading, and `metadata` is JSON text whose equality means nothing to a query.
 */
export const PARTITIONABLE_COLUMNS = [
  'industry',
  'sensor_type',
  'device_id',
  'sensor_name',
  'unit',
  'fault_active',
] as const;

/** Storage option keys we use (upper case; delta-rs accepts them in any case). */
export const S3_STORAGE_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT',
  'AWS_ALLOW_HTTP',
  'AWS_VIRTUAL_HOSTED_STYLE_REQUEST',
  'AWS_PROFILE',
] as const;

/**
 * delta-rs keys that configure its own commit coordination. We accept them so that a config
 * written for the original keeps loading, but we do not need them: commits use S3 conditional
 * writes (`If-None-Match: *`), which is safe without a lock or unsafe renames.
 */
export const IGNORED_STORAGE_KEYS = [
  'AWS_S3_ALLOW_UNSAFE_RENAME',
  'AWS_S3_LOCKING_PROVIDER',
  'DELTA_DYNAMO_TABLE_NAME',
  'AWS_CONDITIONAL_PUT',
  'CONDITIONAL_PUT',
  'AWS_COPY_IF_NOT_EXISTS',
] as const;

/** Storage options whose values are credentials: the sink registers them as secrets. */
export const SECRET_STORAGE_KEYS = new Set(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);

/** Reads and validates DeltaSink's own options, reporting every problem through `r`. */
export function readDeltaOptions(r: OptionReader): ResolvedDeltaOptions {
  const tablePath = r.string('tablePath', '/tmp/delta/sensors');
  if (tablePath.trim() === '') r.problem('tablePath', 'must not be empty');
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(tablePath) && !/^(file|s3|s3a):\/\//i.test(tablePath)) {
    r.problem(
      'tablePath',
      `unsupported scheme in ${JSON.stringify(tablePath)}: use a local path, file:// or s3://bucket/prefix`,
    );
  } else if (/^(s3|s3a):\/\/(\/|$)/i.test(tablePath)) {
    r.problem(
      'tablePath',
      `needs a bucket name: s3://bucket/prefix, got ${JSON.stringify(tablePath)}`,
    );
  }

  const mode = r.oneOf('mode', ['append', 'overwrite'] as const, 'append');
  const partitionBy = r.stringArray('partitionBy', []);
  const seen = new Set<string>();
  for (const col of partitionBy) {
    if (seen.has(col)) r.problem('partitionBy', `lists '${col}' twice`);
    seen.add(col);
    if (!(PARTITIONABLE_COLUMNS as readonly string[]).includes(col)) {
      const hint = closestNames(col, PARTITIONABLE_COLUMNS, 1);
      const why =
        col === 'metadata' ||
        ['value', 'timestamp', 'min_value', 'max_value', 'nominal_value'].includes(col)
          ? ` ('${col}' would make a partition per distinct value)`
          : hint.length
            ? ` (did you mean '${hint[0]}'?)`
            : '';
      r.problem(
        'partitionBy',
        `cannot partition by '${col}'${why}; use one or more of ${PARTITIONABLE_COLUMNS.join(', ')}`,
      );
    }
  }

  const raw = r.stringRecord('storageOptions');
  const storageOptions: Record<string, string> = {};
  const known = [...S3_STORAGE_KEYS, ...IGNORED_STORAGE_KEYS] as readonly string[];
  for (const [key, value] of Object.entries(raw)) {
    const upper = key.toUpperCase();
    if (!known.includes(upper)) {
      const hint = closestNames(upper, known, 1);
      r.problem(
        `storageOptions.${key}`,
        `unknown storage option${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}; known: ${S3_STORAGE_KEYS.join(', ')}`,
      );
      continue;
    }
    storageOptions[upper] = value;
  }

  const timestampType = r.oneOf('timestampType', ['double', 'timestamp'] as const, 'double');
  const targetFileRows = r.number('targetFileRows', undefined, { min: 1, integer: true });
  const compression = r.oneOf(
    'compression',
    ['snappy', 'zstd', 'gzip', 'lz4', 'none'] as const,
    'snappy',
  );
  const checkpointInterval = r.number('checkpointInterval', 10, { min: 0, integer: true });
  return {
    tablePath,
    mode,
    partitionBy,
    storageOptions,
    timestampType,
    targetFileRows,
    compression,
    checkpointInterval,
  };
}
