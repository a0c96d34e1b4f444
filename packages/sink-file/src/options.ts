import { parseInterval, type OptionReader } from '@iotsim/core';
import type { ParquetCompression, ParquetTimestampType } from '@iotsim/parquet';

/** Output formats: CSV, JSON Lines (`json`, written as `.jsonl`), Parquet. */
export type FileFormat = 'csv' | 'json' | 'parquet';

/**
 * Options of FileSink (YAML keys in snake_case: `timestamp_type`, `row_group_size`, ...).
 * Throughput (`batchSize`, `rateHz`, ...) is given beside the sink: `sim.addSink(sink, { batchSize })`.
 */
export interface FileSinkOptions {
  /** Output directory, created on connect (with parents). Default `./output`. */
  path?: string;
  /** `csv`, `json` (JSON Lines) or `parquet`. Default `csv`. */
  format?: FileFormat;
  /** Start a new file every `<n><s|m|h|d>` of record time (`30s`, `5m`, `1h`, `1d`); null: one file per run. Default null. */
  rotation?: string | null;
  /** Parquet codec: `snappy`, `zstd`, `gzip`, `lz4`, `none`. Default `snappy`. */
  compression?: ParquetCompression;
  /** Parquet `timestamp` column: `double` epoch seconds, or `timestamp` (TIMESTAMP(MICROS, UTC)). Default `double`. */
  timestampType?: ParquetTimestampType;
  /** Parquet rows per row group (written out as soon as it fills). Default 131,072. */
  rowGroupSize?: number;
  /** Complete the open file once it holds this many records and start the next; null: no bound. Default null. */
  maxFileRows?: number | null;
  /** Complete the open file at the first write after it has been open `<n><s|m|h|d>` of wall time; null: no bound. Default null. */
  maxFileAge?: string | null;
}

/** FileSink options with defaults filled in. */
export interface ResolvedFileSinkOptions {
  readonly path: string;
  readonly format: FileFormat;
  /** The rotation text as given, or null. */
  readonly rotation: string | null;
  /** The rotation interval in seconds, or null. */
  readonly rotationS: number | null;
  readonly compression: ParquetCompression;
  readonly timestampType: ParquetTimestampType;
  readonly rowGroupSize: number;
  /** Records per file at most, or null. */
  readonly maxFileRows: number | null;
  /** Wall-clock seconds a file stays open at most, or null. */
  readonly maxFileAgeS: number | null;
}

/** File name extension of each format. */
export const FILE_EXTENSIONS: Readonly<Record<FileFormat, string>> = {
  csv: 'csv',
  json: 'jsonl',
  parquet: 'parquet',
};

/** `30s` → 30, `5m` → 300, `1h` → 3600, `1d` → 86400; undefined when the text is not `<n><s|m|h|d>`. */
export function parseRotation(text: string): number | undefined {
  return parseInterval(text, { wholeNumbers: true });
}

/** A `<n><s|m|h|d>` option (rotation, max_file_age) in seconds, or null when not set. */
function readInterval(
  r: OptionReader,
  key: string,
): { text: string | null; seconds: number | null } {
  const text = r.string(key) ?? null;
  if (text === null || text.trim() === '') return { text, seconds: null };
  const seconds = parseRotation(text);
  if (seconds === undefined) {
    r.problem(
      key,
      `must be a whole number and a unit s, m, h or d (e.g. 30s, 5m, 1h, 1d), got ${JSON.stringify(text)}`,
    );
    return { text, seconds: null };
  }
  return { text, seconds };
}

const COMPRESSIONS: readonly ParquetCompression[] = ['snappy', 'zstd', 'gzip', 'lz4', 'none'];

/** Reads FileSink's own options through `r`, reporting every problem there. */
export function readFileSinkOptions(r: OptionReader): ResolvedFileSinkOptions {
  const path = r.string('path', './output');
  if (path.trim() === '') r.problem('path', 'must be a directory path, got ""');
  const formatGiven = r.raw('format');
  const format = r.oneOf('format', ['csv', 'json', 'parquet'] as const, 'csv');
  const formatValid = formatGiven === undefined || formatGiven === null || formatGiven === format;
  const { text: rotation, seconds: rotationS } = readInterval(r, 'rotation');
  const maxFileRows = r.number('maxFileRows', undefined, { min: 1, integer: true }) ?? null;
  const { seconds: maxFileAgeS } = readInterval(r, 'maxFileAge');
  const parquetOnly = ['compression', 'timestampType', 'rowGroupSize'].filter(
    (k) => r.raw(k) !== undefined && r.raw(k) !== null,
  );
  const compression = r.oneOf('compression', COMPRESSIONS, 'snappy');
  const timestampType = r.oneOf('timestampType', ['double', 'timestamp'] as const, 'double');
  const rowGroupSize = r.number('rowGroupSize', 131_072, { min: 1, integer: true });
  if (format !== 'parquet' && formatValid) {
    for (const k of parquetOnly)
      r.problem(k, `applies only to format 'parquet' (format is '${format}')`);
  }
  return {
    path,
    format,
    rotation: rotationS === null ? null : rotation,
    rotationS,
    compression,
    timestampType,
    rowGroupSize,
    maxFileRows,
    maxFileAgeS,
  };
}
