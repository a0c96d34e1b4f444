export * from './file-sink.js';
export {
  FILE_EXTENSIONS,
  parseRotation,
  type FileFormat,
  type FileSinkOptions,
  type ResolvedFileSinkOptions,
} from './options.js';
export { CSV_HEADER } from './text-format.js';
