"""Runs the pods a rendered chart describes, as local processes of the real CLI, and checks them.

For each shard K of the rendered Job or StatefulSet: the container's args with $(VAR) expanded
from its env (the downward-API index set to K, secretKeyRef values from the rendered Secret),
/config/config.yaml replaced by the rendered ConfigMap's config (an http server's host 0.0.0.0
becomes 127.0.0.1). Job pods run one after another
(their http servers share a port), StatefulSet pods at once (render those with metrics off).
Checks: every pod exits 0; with --compare, the records of all shards (console JSON lines) are
exactly the records of one unsharded run of the same args, and no device is in two shards.

Usage: python cli_contract.py RENDERED.yaml --cli apps/cli/dist/bin.js --node node [--compare]
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--cli", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    workload = next(d for d in docs if d["kind"] in ("Job", "StatefulSet"))
    spec = workload["spec"]
    n = spec["completions"] if workload["kind"] == "Job" else spec["replicas"]
    container = spec["template"]["spec"]["containers"][0]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["config.yaml"]
    secrets = {}
    for d in docs:
        if d["kind"] == "Secret":
            secrets[d["metadata"]["name"]] = {k: str(v) for k, v in d.get("stringData", {}).items()}
    work = tempfile.mkdtemp(prefix="iotsim-cli-contract-")
    config_path = os.path.join(work, "config.yaml")
    with open(config_path, "w", encoding="utf-8") as f:
        # The pod listens on every address; here, this machine only.
        f.write(re.sub(r"(?m)^(\s*-?\s*host:) 0\.0\.0\.0$", r"\1 127.0.0.1", config))

    def pod(k: int):
        env = {"PATH": os.environ.get("PATH", "")}
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "fieldRef" in e.get("valueFrom", {}):
                env[e["name"]] = str(k) if e["name"] == "IOTSIM_SHARD_INDEX" else f"pod-{k}"
            elif "secretKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = secrets.get(ref["name"], {}).get(ref["key"], f"secret-{ref['key']}")
        argv = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(a)) for a in container["args"]]
        argv = [config_path if a == "/config/config.yaml" else a for a in argv]
        return argv, env

    def run(argv, env):
        return subprocess.Popen(
            [args.node, args.cli, *argv], env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    problems = []
    outputs = []
    procs = []
    for k in range(n):
        argv, env = pod(k)
        if k == 0:
            print(f"   pod 0: iotsim {' '.join(argv)}")
        procs.append((k, run(argv, env)))
        if workload["kind"] == "Job":
            out, err = procs[-1][1].communicate(timeout=args.timeout)
            outputs.append((k, procs[-1][1].returncode, out, err))
    if workload["kind"] == "StatefulSet":
        for k, p in procs:
            out, err = p.communicate(timeout=args.timeout)
            outputs.append((k, p.returncode, out, err))

    devices_by_shard = {}
    records = collections.Counter()
    for k, rc, out, err in outputs:
        if rc != 0:
            problems.append(f"pod {k} exited {rc}: {err.strip().splitlines()[-3:]}")
            continue
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        devices_by_shard[k] = {(r["industry"], r["device_id"]) for r in rows}
        records.update(json.dumps(r, sort_keys=True) for r in rows)
    for a in devices_by_shard:
        for b in devices_by_shard:
            if a < b and devices_by_shard[a] & devices_by_shard[b]:
                problems.append(f"shards {a} and {b} share devices {sorted(devices_by_shard[a] & devices_by_shard[b])[:3]}")
    total = sum(records.values())
    summary = f"{n} pods exited 0, {total} records, devices per shard {[len(devices_by_shard.get(k, ())) for k in range(n)]}"
    if args.compare and not problems:
        argv, env = pod(0)
        i = argv.index("--shard")
        whole = argv[:i] + argv[i + 2 :]
        p = run(whole, env)
        out, err = p.communicate(timeout=args.timeout)
        if p.returncode != 0:
            problems.append(f"the unsharded run exited {p.returncode}: {err.strip().splitlines()[-3:]}")
        else:
            unsharded = collections.Counter(json.dumps(json.loads(l), sort_keys=True) for l in out.splitlines() if l.startswith("{"))
            if unsharded != records:
                problems.append(
                    f"the union of the shards ({total} records) differs from the unsharded run ({sum(unsharded.values())})"
                )
            else:
                summary += f"; union == the unsharded run, record for record ({total})"
    shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print(f"  FAIL {args.rendered}: {p}", file=sys.stderr)
    if not problems:
        print(f"   {summary}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
