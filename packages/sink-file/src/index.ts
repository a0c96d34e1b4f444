export * from './file-sink.js';
export * from './options.js';
export { CSV_HEADER } from './text-format.js';
