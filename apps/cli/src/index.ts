export { main, type CliIo, type RunArgs } from './cli.js';
export {
  FIRST_PARTY_SERVERS,
  FIRST_PARTY_SINKS,
  cliRegistry,
  type FirstPartyPlugin,
} from './sinks.js';
export { EXIT, exitCodeFor, formatError } from './errors.js';
