export * from './schema.js';
export * from './writer.js';
