export { FileSink } from './file-sink.js';
export { FileWriteError } from './file-writers.js';
export type { FileFormat, FileSinkOptions, ResolvedFileSinkOptions } from './options.js';
