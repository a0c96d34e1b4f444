#!/usr/bin/env node
import module from 'node:module';

// Node >= 22.1 caches compiled code on disk: later starts (`--help`, `list-*`) skip most parsing.
module.enableCompileCache();
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv.slice(2));
