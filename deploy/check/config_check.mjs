#!/usr/bin/env node
// Loads a rendered pod's iotsim config the way the CLI does (core's Simulator.fromConfig: the
// YAML checked, ${VAR} resolved from the pod's environment, every sink and server constructed;
// nothing is contacted), so a values file with a misspelt sink option or an unset ${VAR} fails.
// Usage: node deploy/check/config_check.mjs DIR   (DIR/config.yaml and DIR/env.json from
// assert_rendered.py --dump). Needs the workspace built (packages/core/dist, the sink packages).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: config_check.mjs DIR\n');
  process.exit(2);
}
const core = await import(pathToFileURL(join(root, 'packages/core/dist/index.js')).href);
const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8'));
Object.assign(process.env, env);
try {
  const sim = await core.Simulator.fromConfig(
    join(dir, 'config.yaml'),
    {},
    {
      resolveFrom: [join(root, 'apps/cli')],
    },
  );
  const sinks = sim.config?.sinks?.map((s) => s.type) ?? [];
  const servers = sim.config?.servers?.map((s) => s.type) ?? [];
  process.stdout.write(`sinks ${sinks.join(', ')}; servers ${servers.join(', ') || '-'}\n`);
} catch (err) {
  process.stderr.write(`  FAIL ${dir}/config.yaml: ${err instanceof Error ? err.message : err}\n`);
  process.exit(1);
}
