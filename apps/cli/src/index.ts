export { main, type CliIo, type RunArgs } from './cli.js';
export { FIRST_PARTY_SINKS, registerFirstPartySinks, type FirstPartySink } from './sinks.js';
export { EXIT, exitCodeFor, formatError } from './errors.js';
