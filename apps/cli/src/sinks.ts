import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FIRST_PARTY_SERVERS,
  FIRST_PARTY_SINKS,
  Registry,
  type FirstPartyPlugin,
} from '@iotsim/core';

export { FIRST_PARTY_SERVERS, FIRST_PARTY_SINKS, type FirstPartyPlugin };

/** The CLI's own folder: first-party packages installed beside the CLI resolve from here. */
export const CLI_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * The registry of a CLI run: package names resolve from the config file's folder, the cwd, then
 * the CLI's own folder (where a global install keeps the sink packages installed with it).
 */
export function cliRegistry(configPath?: string): Registry {
  const bases = [...(configPath ? [dirname(configPath)] : []), process.cwd(), CLI_DIR];
  return new Registry({ resolveFrom: bases });
}
