import {
  field,
  opt,
  parseInterval,
  readString,
  v,
  type InputOf,
  type OutputOf,
} from '@iotsim/core';
import type { ParquetCompression, ParquetTimestampType } from '@iotsim/parquet';

const FORMATS = ['csv', 'json', 'parquet'] as const;
const COMPRESSIONS: readonly ParquetCompression[] = ['snappy', 'zstd', 'gzip', 'lz4', 'none'];
const TIMESTAMP_TYPES: readonly ParquetTimestampType[] = ['double', 'timestamp'];
const PARQUET_ONLY = ['compression', 'timestampType', 'rowGroupSize'] as const;

/** Output formats: CSV, JSON Lines (`json`, written as `.jsonl`), Parquet. */
export type FileFormat = (typeof FORMATS)[number];

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

/** A `<n><s|m|h|d>` option (rotation, max_file_age): its text and seconds; blank text is not set. */
function interval() {
  return field<string, { text: string; seconds: number } | null>(
    { type: 'string' },
    (value, problem) => {
      const text = readString(value, problem);
      if (text === undefined || text.trim() === '') return null;
      const seconds = parseRotation(text);
      if (seconds !== undefined) return { text, seconds };
      problem(
        `must be a whole number and a unit s, m, h or d (e.g. 30s, 5m, 1h, 1d), got ${JSON.stringify(text)}`,
      );
      return null;
    },
  );
}

export const FileSinkSchema = opt.resolve(
  opt.object({
    /** Output directory, created on connect (with parents). Default `./output`. */
    path: v.nullish(
      field<string>({ type: 'string', minLength: 1 }, (value, problem) => {
        const text = readString(value, problem) ?? '';
        if (typeof value === 'string' && text.trim() === '')
          problem('must be a directory path, got ""');
        return text;
      }),
      './output',
    ),
    /** `csv`, `json` (JSON Lines) or `parquet`. Default `csv`. */
    format: v.nullish(opt.oneOf(FORMATS), 'csv'),
    /** Start a new file every `<n><s|m|h|d>` of record time (`30s`, `5m`, `1h`, `1d`); null: one file per run. Default null. */
    rotation: v.nullish(interval(), null),
    /** Parquet codec: `snappy`, `zstd`, `gzip`, `lz4`, `none`. Default `snappy`. */
    compression: v.nullish(opt.oneOf(COMPRESSIONS)),
    /** Parquet `timestamp` column: `double` epoch seconds, or `timestamp` (TIMESTAMP(MICROS, UTC)). Default `double`. */
    timestampType: v.nullish(opt.oneOf(TIMESTAMP_TYPES)),
    /** Parquet rows per row group (written out as soon as it fills). Default 131,072. */
    rowGroupSize: v.nullish(opt.number({ min: 1, integer: true })),
    /** Complete the open file once it holds this many records and start the next; null: no bound. Default null. */
    maxFileRows: v.nullish(opt.number({ min: 1, integer: true }), null),
    /** Complete the open file at the first write after it has been open `<n><s|m|h|d>` of wall time; null: no bound. Default null. */
    maxFileAge: v.nullish(interval(), null),
  }),
  (o) => ({
    path: o.path,
    format: o.format,
    /** The rotation text as given, or null. */
    rotation: o.rotation?.text ?? null,
    /** The rotation interval in seconds, or null. */
    rotationS: o.rotation?.seconds ?? null,
    compression: o.compression ?? 'snappy',
    timestampType: o.timestampType ?? 'double',
    rowGroupSize: o.rowGroupSize ?? 131_072,
    /** Records per file at most, or null. */
    maxFileRows: o.maxFileRows,
    /** Wall-clock seconds a file stays open at most, or null. */
    maxFileAgeS: o.maxFileAge?.seconds ?? null,
  }),
  // The Parquet options have no schema default so that giving one with a text format is seen.
  ({ format, ...o }, problem) => {
    if (format === 'parquet' || !(FORMATS as readonly unknown[]).includes(format)) return;
    for (const k of PARQUET_ONLY)
      if (o[k] !== undefined && o[k] !== null)
        problem(`applies only to format 'parquet' (format is '${String(format)}')`, [k]);
  },
);

/**
 * Options of FileSink (YAML keys in snake_case: `timestamp_type`, `row_group_size`, ...).
 * Throughput (`batchSize`, `rateHz`, ...) is given beside the sink: `sim.addSink(sink, { batchSize })`.
 */
export type FileSinkOptions = InputOf<typeof FileSinkSchema>;

/** FileSink options with defaults filled in. */
export type ResolvedFileSinkOptions = Readonly<OutputOf<typeof FileSinkSchema>>;
