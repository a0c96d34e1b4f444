export { ZerobusSink } from './zerobus-sink.js';
export { StreamBrokenError } from './internal/stream.js';
export { TokenError } from './internal/token.js';
export type { ZerobusRecordType, ZerobusSinkOptions } from './options.js';
