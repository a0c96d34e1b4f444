#!/usr/bin/env node
import module from 'node:module';

// An older Node fails below with a TypeError; say what is needed instead.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `iotsim needs Node.js >= 22.12 (this is ${process.versions.node}): install Node 24 LTS (nvm install 24, or https://nodejs.org)\n`,
  );
  process.exit(2);
}
// Node >= 22.1 caches compiled code on disk: later starts (`--help`, `list-*`) skip most parsing.
module.enableCompileCache();
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv.slice(2));
