#!/usr/bin/env bash
# The published form, tested: `pnpm pack` of every public package into a temp folder, the tarballs
# checked (dist/, README.md, LICENSE, CHANGELOG.md, no `workspace:` range, no dependency on a
# private package, the private packages not packed), then installed with plain npm into empty
# projects OUTSIDE the repository, as the README's Quick start does:
#   stage 1  npm install @iotsim/cli @iotsim/core          (nothing may compile)
#   stage 2  npm install @iotsim/sink-file @iotsim/sink-kafka (nothing may compile)
#   stage 3  npm install every other tarball                (native modules listed)
#   stage 4  npm install -g of the CLI, core and the file sink (a temp prefix), run elsewhere
# and, after each stage, the Quick start's commands (short durations) and the README's first
# TypeScript snippet (type-checked with tsc against the installed .d.ts, then run by Node).
# Third-party dependencies come from the npm registry (the only network it needs).
# The last line is `PACK_TEST {json}`: tarball sizes, native modules, timings.
#   bash scripts/pack-test.sh            builds first (turbo, cached)
#   PACK_TEST_KEEP=1 bash scripts/pack-test.sh   keeps the temp folders and prints where
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/env.sh
source scripts/env.sh
started=$(date +%s)
stamp() { echo "== [$(($(date +%s) - started))s] $*"; }
fail() {
  echo "PACK TEST FAILED: $*" >&2
  exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/iotsim-pack-test.XXXXXX")"
case "$work" in "$repo"/*) fail "temp folder $work is inside the repository" ;; esac
if [ "${PACK_TEST_KEEP:-0}" = "1" ]; then
  trap 'echo "== kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
tgz="$work/tarballs"
mkdir -p "$tgz"

stamp "build"
"${PNPM[@]}" exec turbo run build --output-logs=errors-only >/dev/null

# Every workspace package: name, folder, private flag.
"${PNPM[@]}" ls -r --depth -1 --json >"$work/workspace.json"
node -e '
  const ws = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const p of ws) if (p.name !== "iotsim-monorepo") console.log([p.name, p.path, p.private ? "private" : "public"].join("\t"));
' "$work/workspace.json" >"$work/packages.tsv"

stamp "pnpm pack of every public package into $tgz"
filters=()
while IFS=$'\t' read -r name _dir visibility; do
  if [ "$visibility" = "public" ]; then filters+=(--filter "$name"); fi
done <"$work/packages.tsv"
"${PNPM[@]}" -r "${filters[@]}" pack --pack-destination "$tgz" >"$work/pack.log" 2>&1 || fail "pnpm pack: $(tail -20 "$work/pack.log")"

stamp "checking the tarballs"
node "$repo/scripts/pack-check.mjs" "$work/packages.tsv" "$tgz" >"$work/check.json" || fail "tarball check"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const t of c.tarballs) console.log(`   ${t.file.padEnd(34)} ${(t.bytes / 1024).toFixed(1).padStart(7)} KiB packed, ${String(t.files).padStart(4)} files, ${(t.unpackedBytes / 1024).toFixed(1).padStart(7)} KiB unpacked`);
  console.log(`   private, not packed: ${c.private.join(", ")}`);
' "$work/check.json"

tarball() { # the tarball file of a package name
  local f="$tgz/$(echo "$1" | sed 's/^@//; s/\//-/')-"*.tgz
  # shellcheck disable=SC2086
  ls $f
}

project="$work/project"
mkdir -p "$project"
cd "$project"
npm init -y >/dev/null
npmi() { # npm's warnings (peer conflicts, engines, deprecations) are kept and shown at the end
  npm install --no-audit --no-fund --loglevel=warn "$@" 2>>npm-warnings.txt || fail "npm install $*: $(tail -20 npm-warnings.txt)"
}

# The packages in this tree whose install compiled or downloaded a native binary (a .node file).
native_modules() {
  node -e '
    const fs = require("fs"), path = require("path");
    const found = new Set();
    (function walk(dir, depth) {
      let entries; try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory() && !e.isSymbolicLink()) walk(p, depth + 1);
        else if (e.name.endsWith(".node")) {
          const rel = path.relative("node_modules", p).split(path.sep);
          found.add(rel[0].startsWith("@") ? rel[0] + "/" + rel[1] : rel[0]);
        }
      }
    })("node_modules", 0);
    console.log([...found].sort().join(" "));
  '
}
# The packages in this tree that have an install script (preinstall/install/postinstall, or a
# binding.gyp npm would build), and whether a build/ folder (a compile) is there.
install_scripts() {
  node -e '
    const fs = require("fs"), path = require("path");
    const out = new Set();
    (function walk(dir) {
      let entries; try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const p = path.join(dir, e.name);
        if (e.name.startsWith("@")) { walk(p); continue; }
        const pj = path.join(p, "package.json");
        if (fs.existsSync(pj)) {
          const j = JSON.parse(fs.readFileSync(pj, "utf8")), s = j.scripts ?? {};
          const hooks = ["preinstall", "install", "postinstall"].filter((k) => s[k]).map((k) => `${k}: ${s[k]}`);
          if (fs.existsSync(path.join(p, "binding.gyp")) && j.gypfile !== false && !s.install && !s.preinstall) hooks.push("node-gyp rebuild (binding.gyp)");
          if (hooks.length) out.add(`${j.name} (${hooks.join("; ")})${fs.existsSync(path.join(p, "build")) ? " [compiled: build/]" : ""}`);
        }
        walk(path.join(p, "node_modules"));
      }
    })("node_modules");
    console.log([...out].sort().join("\n"));
  '
}
iotsim() { npx --no -- iotsim "$@"; }
expect_no_native() {
  local n
  n="$(native_modules)"
  [ -z "$n" ] || fail "$1 installed native modules: $n"
}

# The first TypeScript block of the TypeScript API chapter (docs/chapters/typescript.md), with its 10 s run made 2 s.
snippet() {
  node -e '
    const md = require("fs").readFileSync(process.argv[1], "utf8");
    const api = md.slice(md.indexOf("# TypeScript API"));
    const block = /```ts\n([\s\S]*?)```/.exec(api)[1];
    if (!block.includes("durationS: 10")) throw new Error("the README snippet changed: no durationS: 10");
    process.stdout.write(block.replace("durationS: 10", "durationS: 2") + "console.error(`delivered ${summary.sinks[0]!.delivered} of ${summary.records} records`);\n");
  ' "$repo/docs/chapters/typescript.md"
}

t0=$(date +%s)
stamp "stage 1: npm install @iotsim/cli @iotsim/core (tarballs), in $project"
npmi "$(tarball @iotsim/cli)" "$(tarball @iotsim/core)"
t_stage1=$(($(date +%s) - t0))
expect_no_native "@iotsim/cli + @iotsim/core"
version="$(iotsim --version)"
want="$(node -p 'require(process.argv[1]).version' "$repo/apps/cli/package.json")"
[ "$version" = "$want" ] || fail "iotsim --version printed '$version', want $want"
iotsim list-industries >list-industries.txt
grep -q 'TOTAL.*379' list-industries.txt || fail "list-industries has no TOTAL 379: $(cat list-industries.txt)"
iotsim list-sensors mining | grep -q crusher_1_motor_power || fail "list-sensors mining lacks crusher_1_motor_power"
npx --no -- iot-simulator --version >/dev/null || fail "the iot-simulator alias"
iotsim run --industries mining utilities --rate 2 --duration 2 >run1.txt 2>run1.err || fail "run (console): $(cat run1.err)"
grep -q '^\[mining/' run1.txt || fail "run printed no [mining/...] lines"
grep -q 'run summary' run1.err || fail "run printed no summary on stderr"
iotsim run -i mining --format json -d 2 2>/dev/null | head -1 | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const r = JSON.parse(s); if (typeof r.value !== "number") throw new Error("no numeric value: " + s); });
' || fail "run --format json: the first line is not a record with a numeric value"
iotsim init-config -o x.yaml >/dev/null
[ -s x.yaml ] && [ -s iotsim.schema.json ] || fail "init-config -o x.yaml wrote no x.yaml / iotsim.schema.json"
iotsim run -c x.yaml -d 2 >/dev/null 2>run2.err || fail "run -c x.yaml: $(cat run2.err)"
iotsim init-config --output simulator.yaml >/dev/null && iotsim run --config simulator.yaml -d 2 >/dev/null 2>&1 ||
  fail "init-config --output simulator.yaml && run --config simulator.yaml"
iotsim list-sinks >list-sinks1.txt
grep -E '^file ' list-sinks1.txt | grep -q 'not installed' || fail "list-sinks says file is installed before stage 2: $(cat list-sinks1.txt)"

stamp "stage 1: the README's TypeScript snippet, tsc --strict against the installed types, then node"
npmi typescript@5.9.3 @types/node@24
snippet >snippet.mts
cat >tsconfig.json <<'EOF'
{ "compilerOptions": { "strict": true, "module": "nodenext", "moduleResolution": "nodenext",
  "target": "es2023", "noEmit": true, "skipLibCheck": false, "types": ["node"] }, "files": ["snippet.mts"] }
EOF
npx --no -- tsc -p tsconfig.json || fail "tsc of the README snippet"
node snippet.mts >snippet.out 2>snippet.err || fail "node snippet.mts: $(cat snippet.err)"
grep -Eq '^delivered [1-9][0-9]* of [1-9][0-9]* records$' snippet.err || fail "the snippet delivered nothing: $(cat snippet.err)"
echo "   snippet: $(head -3 snippet.out | tr '\n' '|') $(cat snippet.err)"

t0=$(date +%s)
stamp "stage 2: npm install @iotsim/sink-file @iotsim/sink-kafka (and @iotsim/parquet, which the registry would give)"
npmi "$(tarball @iotsim/sink-file)" "$(tarball @iotsim/sink-kafka)" "$(tarball @iotsim/parquet)"
t_stage2=$(($(date +%s) - t0))
expect_no_native "@iotsim/sink-file + @iotsim/sink-kafka"
iotsim run -i mining -s console -s file -o ./data --output-format parquet --rotation 1h -d 2 >/dev/null 2>run3.err ||
  fail "run -s console -s file parquet: $(cat run3.err)"
iotsim run -i mining aerospace --start -10m --end now -s file -o ./backfill --output-format parquet --rotation 1d >/dev/null 2>run4.err ||
  fail "backfill into parquet: $(cat run4.err)"
node -e '
  const fs = require("fs"), path = require("path");
  for (const dir of process.argv.slice(1)) {
    const files = fs.readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".parquet"));
    if (!files.length) throw new Error("no .parquet file in " + dir);
    for (const f of files) {
      const b = fs.readFileSync(path.join(dir, f));
      if (b.length < 8 || b.subarray(0, 4).toString() !== "PAR1" || b.subarray(-4).toString() !== "PAR1") throw new Error(f + " is not a closed Parquet file");
    }
  }
' data backfill || fail "the parquet files"
stage_examples() { # examples/src/*.ts against the installed packages: tsc --strict, then run
  mkdir -p examples
  cp "$repo"/examples/src/*.ts examples/
  echo '{ "type": "module" }' >examples/package.json
  cat >examples/tsconfig.json <<'EOF'
{ "compilerOptions": { "strict": true, "noUncheckedIndexedAccess": true, "module": "nodenext",
  "moduleResolution": "nodenext", "target": "es2023", "outDir": "dist", "skipLibCheck": false,
  "types": ["node"] }, "include": ["*.ts"] }
EOF
  npx --no -- tsc -p examples/tsconfig.json || fail "tsc of examples/src/*.ts against the installed packages"
  for f in examples/dist/*.js; do
    EXAMPLE_DURATION_S=1 node "$f" ./example-output >"$f.out" 2>&1 || fail "node $f: $(tail -5 "$f.out")"
  done
  grep -q '^delivered [1-9][0-9]* of' examples/dist/quickstart.js.out || fail "examples quickstart: $(cat examples/dist/quickstart.js.out)"
}
stamp "stage 2: examples/src/*.ts type-checked and run against the installed packages"
stage_examples
iotsim list-sinks >list-sinks2.txt
for t in file kafka; do
  grep -E "^$t " list-sinks2.txt | grep -qv 'not installed' || fail "list-sinks does not see $t installed: $(cat list-sinks2.txt)"
done

t0=$(date +%s)
stamp "stage 3: npm install every other public tarball"
# shellcheck disable=SC2046
npmi $(ls "$tgz"/*.tgz)
t_stage3=$(($(date +%s) - t0))
native="$(native_modules)"
echo "   native binaries (.node files) after installing every package: ${native:-none}"
install_scripts >install-scripts.txt
echo "   packages with an install script: $(tr '\n' ',' <install-scripts.txt | sed 's/,$//; s/,/, /g')"
if grep -q 'compiled: build/' install-scripts.txt; then fail "a package compiled on install: $(grep 'compiled' install-scripts.txt)"; fi
iotsim run -i mining -s database -d 2 >/dev/null 2>run5.err || fail "run -s database (SQLite): $(cat run5.err)"
[ -s sensor_data.db ] || fail "-s database wrote no sensor_data.db"
iotsim list-servers >list-servers.txt
grep -E '^opcua ' list-servers.txt | grep -qv 'not installed' || fail "list-servers does not see @iotsim/server-opcua installed: $(cat list-servers.txt)"

t0=$(date +%s)
stamp "stage 4: npm install -g (into a temp prefix) @iotsim/cli @iotsim/core @iotsim/sink-file, run from another folder"
npm install -g --prefix "$work/global" --no-audit --no-fund --loglevel=warn \
  "$(tarball @iotsim/cli)" "$(tarball @iotsim/core)" "$(tarball @iotsim/sink-file)" "$(tarball @iotsim/parquet)" 2>>npm-warnings.txt ||
  fail "npm install -g: $(tail -20 npm-warnings.txt)"
t_stage4=$(($(date +%s) - t0))
mkdir -p "$work/elsewhere"
(cd "$work/elsewhere" && "$work/global/bin/iotsim" run -i mining -s file -o ./out -d 1 >/dev/null 2>run.err) ||
  fail "the global iotsim with a global sink-file: $(cat "$work/elsewhere/run.err")"
ls "$work/elsewhere/out" | grep -q . || fail "the global iotsim -s file wrote nothing"

if [ -s npm-warnings.txt ]; then
  echo "   npm warnings:"
  sed 's/^/     /' npm-warnings.txt
fi
if grep -Eq 'ERESOLVE|peer dep|EBADENGINE' npm-warnings.txt 2>/dev/null; then fail "npm warned about peers or engines (above)"; fi
total=$(($(date +%s) - started))
stamp "pack test passed in ${total}s"
node -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const [native, s1, s2, s3, s4, total] = process.argv.slice(2);
  console.log("PACK_TEST " + JSON.stringify({ ok: true, tarballs: c.tarballs.map(({ name, bytes, files }) => ({ name, bytes, files })),
    private: c.private, native: native ? native.split(" ") : [],
    installScripts: require("fs").readFileSync("install-scripts.txt", "utf8").split("\n").filter(Boolean), installSeconds: { stage1: +s1, stage2: +s2, stage3: +s3, stage4: +s4 }, totalSeconds: +total }));
' "$work/check.json" "$native" "$t_stage1" "$t_stage2" "$t_stage3" "$t_stage4" "$total"
