export * from './conformance.js';
export * from './fixtures.js';
export * from './records.js';
export * from './services.js';
export * from './temp.js';
export * from './parquet.js';
export * from './tls.js';
export * from './servers.js';
