import {
  closestNames,
  describe,
  field,
  opt,
  readStringMap,
  recordKey,
  STRING_MAP_JSON,
  v,
  type InputOf,
  type OutputOf,
} from '@iotsim/core';

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

const tablePath = field<string>({ type: 'string', minLength: 1 }, (value, problem) => {
  const path = typeof value === 'string' ? value : '';
  if (typeof value !== 'string') problem(`must be a string, got ${describe(value)}`);
  else if (path.trim() === '') problem('must not be empty');
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path) && !/^(file|s3|s3a):\/\//i.test(path))
    problem(
      `unsupported scheme in ${JSON.stringify(path)}: use a local path, file:// or s3://bucket/prefix`,
    );
  else if (/^(s3|s3a):\/\/(\/|$)/i.test(path))
    problem(`needs a bucket name: s3://bucket/prefix, got ${JSON.stringify(path)}`);
  return path;
});

const partitionColumns = field<string | readonly string[], string[]>(
  {
    anyOf: [
      { enum: [...PARTITIONABLE_COLUMNS] },
      { type: 'array', items: { enum: [...PARTITIONABLE_COLUMNS] } },
    ],
  },
  (value, problem) => {
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || !Array.from(list).every((x) => typeof x === 'string')) {
      problem(`must be a list of strings, got ${describe(value)}`);
      return [];
    }
    const seen = new Set<string>();
    for (const col of list as string[]) {
      if (seen.has(col)) problem(`lists '${col}' twice`);
      seen.add(col);
      if ((PARTITIONABLE_COLUMNS as readonly string[]).includes(col)) continue;
      const hint = closestNames(col, PARTITIONABLE_COLUMNS, 1);
      const why =
        col === 'metadata' ||
        ['value', 'timestamp', 'min_value', 'max_value', 'nominal_value'].includes(col)
          ? ` ('${col}' would make a partition per distinct value)`
          : hint.length
            ? ` (did you mean '${hint[0]}'?)`
            : '';
      problem(
        `cannot partition by '${col}'${why}; use one or more of ${PARTITIONABLE_COLUMNS.join(', ')}`,
      );
    }
    return [...(list as string[])];
  },
);

const KNOWN_STORAGE_KEYS = [...S3_STORAGE_KEYS, ...IGNORED_STORAGE_KEYS] as readonly string[];

const storageOptions = field<
  Readonly<Record<string, string | number | boolean>>,
  Record<string, string>
>(STRING_MAP_JSON, (value, problem) => {
  const out: Record<string, string> = {};
  for (const [key, text] of Object.entries(readStringMap(value, problem))) {
    const upper = key.toUpperCase();
    if (KNOWN_STORAGE_KEYS.includes(upper)) {
      out[upper] = text;
      continue;
    }
    const hint = closestNames(upper, KNOWN_STORAGE_KEYS, 1);
    problem(
      `unknown storage option${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}; known: ${S3_STORAGE_KEYS.join(', ')}`,
      [recordKey(key)],
    );
  }
  return out;
});

/** The schema of DeltaSink's options (TypeScript names; YAML uses the snake_case keys). */
export const DeltaOptionsSchema = opt.object({
  /** Table location: a local directory, a `file://` URL or `s3://bucket/prefix`. Default `/tmp/delta/sensors`. */
  tablePath: v.nullish(tablePath, '/tmp/delta/sensors'),
  /** `append` (default) adds to the table; `overwrite` replaces its contents with the run's first batch, then appends. */
  mode: v.nullish(opt.oneOf(['append', 'overwrite']), 'append'),
  /** Record columns to partition by (string columns or `fault_active`), e.g. `['industry']`. Default none. */
  partitionBy: v.nullish(partitionColumns, []),
  /** Object-store settings, delta-rs style: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, … */
  storageOptions: v.nullish(storageOptions, {}),
  /** `double` (default, the original's schema: epoch seconds) or `timestamp` (Delta timestamp, microseconds, UTC). */
  timestampType: v.nullish(opt.oneOf(['double', 'timestamp']), 'double'),
  /** Split a partition's rows into data files of at most this many rows. Default: one file per partition per batch. */
  targetFileRows: v.nullish(opt.number({ min: 1, integer: true })),
  /** Parquet codec of the data files. Default `snappy`. */
  compression: v.nullish(opt.oneOf(['snappy', 'zstd', 'gzip', 'lz4', 'none']), 'snappy'),
  /** Write a Parquet checkpoint after every this many commits (as delta-rs: versions 9, 19, … for 10). 0 disables. Default 10. */
  checkpointInterval: v.nullish(opt.number({ min: 0, integer: true }), 10),
});

/** Options of `DeltaSink` (TypeScript names; YAML uses the snake_case keys). */
export type DeltaSinkOptions = InputOf<typeof DeltaOptionsSchema>;

/** DeltaSink options after validation. */
export type ResolvedDeltaOptions = Readonly<OutputOf<typeof DeltaOptionsSchema>>;

/** How each batch is committed on the first write of a run. */
export type DeltaWriteMode = ResolvedDeltaOptions['mode'];

/** How the record's `timestamp` (epoch seconds) is stored. */
export type DeltaTimestampType = ResolvedDeltaOptions['timestampType'];

/** Parquet codec of the data files. */
export type DeltaCompression = ResolvedDeltaOptions['compression'];
