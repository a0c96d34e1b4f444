#!/usr/bin/env node
// Prints the workspace folders an image needs for the given sink and server types, one a line:
// @iotsim/cli, @iotsim/core, the package of each type (from core's registry: FIRST_PARTY_SINKS /
// FIRST_PARTY_SERVERS) and their workspace dependencies. Needs packages/core built (dist/).
// Usage: node deploy/docker/select-packages.mjs --sinks "kafka delta" --servers "opcua"
//        ("all" selects every first-party package; types may also be separated by commas).
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const registryJs = join(root, 'packages/core/dist/registry.js');
if (!existsSync(registryJs)) {
  process.stderr.write(`select-packages: ${registryJs} is missing: build @iotsim/core first\n`);
  process.exit(2);
}
const { FIRST_PARTY_SINKS, FIRST_PARTY_SERVERS } = await import(pathToFileURL(registryJs).href);

const args = process.argv.slice(2);
const lists = { '--sinks': '', '--servers': '' };
for (let i = 0; i < args.length; i += 2) {
  if (!(args[i] in lists) || args[i + 1] === undefined) {
    process.stderr.write(`usage: select-packages.mjs --sinks "kafka delta" --servers "opcua"\n`);
    process.exit(2);
  }
  lists[args[i]] = args[i + 1];
}

// Workspace packages by name: { dir, manifest }.
const byName = new Map();
for (const parent of ['packages', 'apps']) {
  for (const d of readdirSync(join(root, parent))) {
    const file = join(root, parent, d, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    byName.set(manifest.name, { dir: `${parent}/${d}`, manifest });
  }
}

const wanted = ['@iotsim/cli', '@iotsim/core'];
const problems = [];
for (const [flag, known] of [
  ['--sinks', FIRST_PARTY_SINKS],
  ['--servers', FIRST_PARTY_SERVERS],
]) {
  const types = lists[flag].split(/[\s,]+/).filter(Boolean);
  for (const type of types.includes('all') ? Object.keys(known) : types) {
    const plugin = known[type];
    if (!plugin) {
      problems.push(`${flag}: unknown type '${type}' (known: ${Object.keys(known).join(', ')})`);
      continue;
    }
    wanted.push(plugin.packageName);
  }
}
if (problems.length) {
  for (const p of problems) process.stderr.write(`select-packages: ${p}\n`);
  process.exit(2);
}

// Close over workspace dependencies (`workspace:` ranges of dependencies and of peerDependencies
// that are not optional: the CLI lists every sink as an optional peer).
const seen = new Set();
const order = [];
const visit = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  const pkg = byName.get(name);
  if (!pkg) throw new Error(`select-packages: ${name} is not a workspace package`);
  const optional = pkg.manifest.peerDependenciesMeta ?? {};
  const peers = Object.entries(pkg.manifest.peerDependencies ?? {}).filter(
    ([dep]) => !optional[dep]?.optional,
  );
  const deps = { ...pkg.manifest.dependencies, ...Object.fromEntries(peers) };
  for (const [dep, range] of Object.entries(deps)) {
    if (String(range).startsWith('workspace:')) visit(dep);
  }
  order.push(pkg.dir); // dependencies first
};
for (const name of wanted) visit(name);
process.stdout.write(`${order.join('\n')}\n`);
