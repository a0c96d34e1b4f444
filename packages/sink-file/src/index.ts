export * from './file-sink.js';
export * from './options.js';
export { CSV_HEADER, CsvFormatter, JsonLinesFormatter, csvField } from './text-format.js';
