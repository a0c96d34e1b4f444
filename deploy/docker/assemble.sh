#!/usr/bin/env bash
# Assembles what the container image runs into OUT: builds the workspace packages that the given
# sink and server types need (select-packages.mjs), packs them (pnpm pack turns `workspace:`
# ranges into versions, as on the npm registry) and installs the tarballs into OUT with npm,
# production dependencies only, the way a user runs `npm install @iotsim/cli @iotsim/sink-kafka`.
# Native modules (better-sqlite3, zstd-napi, lz4) compile here.
#
# Usage: bash deploy/docker/assemble.sh OUT "SINKS" ["SERVERS"]
#   e.g. bash deploy/docker/assemble.sh /app "kafka delta" "opcua"   (the workspace installed)
# Then OUT/node_modules/@iotsim/cli/dist/bin.js is the CLI; it finds the sinks in OUT/node_modules.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: assemble.sh OUT \"SINKS\" [\"SERVERS\"]" >&2
  exit 2
fi
out=$1
sinks=$2
servers=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pnpm=${PNPM:-pnpm}
read -r -a pnpm_cmd <<<"$pnpm"

# core first: the selection reads its registry.
"${pnpm_cmd[@]}" --dir "$root" --filter @iotsim/core run build >/dev/null
dirs=$(node "$here/select-packages.mjs" --sinks "$sinks" --servers "$servers")
filters=()
for d in $dirs; do filters+=(--filter "./$d"); done
echo "assemble: building $(echo $dirs | tr '\n' ' ')"
"${pnpm_cmd[@]}" --dir "$root" "${filters[@]}" run build >/dev/null

rm -rf "$out"
mkdir -p "$out/tarballs"
for d in $dirs; do
  (cd "$root/$d" && "${pnpm_cmd[@]}" pack --pack-destination "$out/tarballs" >/dev/null)
done
# OUT/package.json: every tarball as a dependency (the peers, @iotsim/core, resolve to it).
IOTSIM_ROOT="$root" node - "$out" $dirs <<'JS'
const { readFileSync, writeFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const [out, ...dirs] = process.argv.slice(2);
const dependencies = {};
for (const d of dirs) {
  const m = JSON.parse(readFileSync(join(process.env.IOTSIM_ROOT, d, 'package.json'), 'utf8'));
  const file = `${m.name.replace(/^@/, '').replace('/', '-')}-${m.version}.tgz`;
  if (!existsSync(join(out, 'tarballs', file))) throw new Error(`assemble: ${file} was not packed`);
  dependencies[m.name] = `file:./tarballs/${file}`;
}
const manifest = { name: 'iotsim-image', private: true, type: 'module', dependencies };
writeFileSync(join(out, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
JS
(cd "$out" && npm install --omit=dev --no-audit --no-fund --loglevel=error)
echo "assemble: $out holds $(ls "$out/node_modules/@iotsim" | sed 's/^/@iotsim\//' | tr '\n' ' ')"
