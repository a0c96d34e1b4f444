"""Checks what `helm template` rendered for one values file, beyond the Kubernetes schemas.

Usage: python assert_rendered.py RENDERED.yaml --kind Job|StatefulSet --shards N [--dump DIR]
Exits 1 listing every failed check. With --dump, writes the pod's config (DIR/config.yaml) and
environment (DIR/env.json: plain values, Secret values, the downward-API index as 0) for
config_check.mjs. Called by scripts/k8s-check.sh.
"""

import argparse
import json
import os
import re
import sys

import yaml


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--kind", required=True, choices=["Job", "StatefulSet"])
    ap.add_argument("--shards", required=True, type=int)
    ap.add_argument("--metrics-port", type=int, default=9464)
    ap.add_argument("--dump")
    args = ap.parse_args()

    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    other = "StatefulSet" if args.kind == "Job" else "Job"
    check(len(by_kind.get(args.kind, [])) == 1, f"exactly one {args.kind}")
    check(not by_kind.get(other), f"no {other} beside the {args.kind}")
    if problems:
        return report(args.rendered, problems)
    workload = by_kind[args.kind][0]
    spec = workload["spec"]
    pod = spec["template"]
    pod_spec = pod["spec"]
    n = args.shards

    if args.kind == "Job":
        check(spec.get("completionMode") == "Indexed", "Job completionMode is Indexed")
        check(spec.get("completions") == n, f"Job completions == {n}, got {spec.get('completions')}")
        check(spec.get("parallelism") == n, f"Job parallelism == {n}, got {spec.get('parallelism')}")
        check(isinstance(spec.get("backoffLimitPerIndex"), int), "Job backoffLimitPerIndex set")
        check(pod_spec.get("restartPolicy") == "Never", "Job pods restartPolicy Never (backoffLimitPerIndex needs it)")
        rules = spec.get("podFailurePolicy", {}).get("rules", [])
        check(
            any(r.get("action") == "FailJob" and 2 in r.get("onExitCodes", {}).get("values", []) for r in rules),
            "podFailurePolicy fails the Job on exit code 2 (configuration error)",
        )
        index_field = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    else:
        check(spec.get("replicas") == n, f"StatefulSet replicas == {n}, got {spec.get('replicas')}")
        check(spec.get("podManagementPolicy") == "Parallel", "StatefulSet podManagementPolicy Parallel")
        services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
        svc = services.get(spec.get("serviceName"))
        check(svc is not None, f"the StatefulSet's serviceName {spec.get('serviceName')} is a rendered Service")
        if svc is not None:
            check(svc["spec"].get("clusterIP") == "None", "the StatefulSet's Service is headless")
        index_field = "metadata.labels['apps.kubernetes.io/pod-index']"
    sel = spec.get("selector", {}).get("matchLabels")
    if sel is not None:
        labels = pod["metadata"].get("labels", {})
        check(all(labels.get(k) == v for k, v in sel.items()), "the selector matches the pod labels")

    containers = pod_spec["containers"]
    check(len(containers) == 1 and containers[0]["name"] == "iotsim", "one container named iotsim")
    c = containers[0]
    argv = [str(a) for a in c.get("args", [])]
    check(argv[:3] == ["run", "--config", "/config/config.yaml"], f"args start with run --config /config/config.yaml, got {argv[:3]}")
    shard = argv[argv.index("--shard") + 1] if "--shard" in argv[:-1] else None
    check(shard == f"$(IOTSIM_SHARD_INDEX)/{n}", f"--shard $(IOTSIM_SHARD_INDEX)/{n}, got {shard}")
    env = {e["name"]: e for e in c.get("env", [])}
    field = env.get("IOTSIM_SHARD_INDEX", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    check(field == index_field, f"IOTSIM_SHARD_INDEX from {index_field}, got {field}")
    if args.kind == "Job":
        check("--start" in argv, "a backfill passes --start")
        # Every pod and every retry must cover one range: no time a pod reads from its own clock.
        absolute = re.compile(r"^(\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?|\d+(\.\d+)?)$")
        for flag in ("--start", "--end"):
            value = argv[argv.index(flag) + 1] if flag in argv[:-1] else None
            check(value is not None and absolute.match(value) is not None, f"{flag} is an absolute time, got {value}")

    # Non-root and locked down.
    psc = pod_spec.get("securityContext", {})
    csc = c.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pod securityContext runAsNonRoot: true")
    check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "pod runAsUser is a non-zero uid")
    check(csc.get("allowPrivilegeEscalation") is False, "container allowPrivilegeEscalation: false")
    check(csc.get("readOnlyRootFilesystem") is True, "container readOnlyRootFilesystem: true")
    check("ALL" in csc.get("capabilities", {}).get("drop", []), "container drops ALL capabilities")
    check(c.get("resources", {}).get("requests"), "container resource requests set")
    check(pod_spec.get("automountServiceAccountToken") is False, "no service account token mounted")

    # The config: a ConfigMap mounted at /config, with the http server for /metrics.
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    cfg_mount = mounts.get("/config")
    cm_name = volumes.get(cfg_mount["name"], {}).get("configMap", {}).get("name") if cfg_mount else None
    cms = {m["metadata"]["name"]: m for m in by_kind.get("ConfigMap", [])}
    check(cm_name in cms, f"/config is the rendered ConfigMap {cm_name}")
    config_text = cms[cm_name]["data"].get("config.yaml", "") if cm_name in cms else ""
    config = yaml.safe_load(config_text) or {}
    check(isinstance(config.get("simulator"), dict) and config.get("sinks"), "config.yaml has simulator and sinks")
    # Every shard must draw from one seed: a pod's own random seed would give its devices other values.
    seed = argv[argv.index("--seed") + 1] if "--seed" in argv[:-1] else None
    config_seed = (config.get("simulator") or {}).get("seed") if isinstance(config.get("simulator"), dict) else None
    check(
        (seed is not None and re.match(r"^\d+$", seed) is not None) or isinstance(config_seed, int),
        f"one seed for every pod: --seed N or simulator.seed in the config, got --seed {seed}",
    )
    check(c.get("workingDir") in mounts, "the working directory is a mounted (writable) volume")
    for path in ["/tmp"]:
        check(path in mounts, f"a writable {path} (read-only root filesystem)")

    ann = pod["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true", "pod annotation prometheus.io/scrape: 'true'")
    check(ann.get("prometheus.io/port") == str(args.metrics_port), f"pod annotation prometheus.io/port: '{args.metrics_port}'")
    check(ann.get("prometheus.io/path") == "/metrics", "pod annotation prometheus.io/path: /metrics")
    check(bool(ann.get("checksum/config")), "pod annotation checksum/config (a config change rolls the pods)")
    ports = {p.get("name"): p for p in c.get("ports", [])}
    check(ports.get("metrics", {}).get("containerPort") == args.metrics_port, "container port metrics")
    http = [s for s in config.get("servers", []) if s.get("type") == "http"]
    check(
        len(http) == 1 and http[0].get("host") == "0.0.0.0" and http[0].get("port") == args.metrics_port,
        f"config.yaml has one http server on 0.0.0.0:{args.metrics_port}, got {http}",
    )
    if args.kind == "StatefulSet":
        for probe in ["readinessProbe", "livenessProbe"]:
            check(c.get(probe, {}).get("httpGet", {}).get("path") == "/healthz", f"{probe} on /healthz")

    # Every ${VAR} of the config is in the container's environment; secrets come from secretKeyRef
    # of a rendered Secret (or a named existing one) and never sit in the ConfigMap.
    refs = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", config_text))
    defaulted = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-", config_text))
    for var in sorted(refs - defaulted):
        check(var in env, f"${{{var}}} of config.yaml is set in the container env")
    secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    for name, e in env.items():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if not ref:
            continue
        check(bool(ref.get("name")) and bool(ref.get("key")), f"{name}: secretKeyRef has name and key")
        if secrets:
            sec = secrets.get(ref.get("name"))
            check(sec is not None, f"{name}: Secret {ref.get('name')} is rendered")
            if sec is not None:
                check(ref.get("key") in sec.get("stringData", {}), f"{name}: key {ref.get('key')} in the Secret")
    for sec in secrets.values():
        for value in sec.get("stringData", {}).values():
            check(str(value) not in config_text, "a secret value appears in the ConfigMap")

    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        with open(os.path.join(args.dump, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(config_text)
        values = {}
        for name, e in env.items():
            source = e.get("valueFrom", {})
            if "value" in e:
                values[name] = str(e["value"])
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = secrets.get(ref.get("name"), {}).get("stringData", {})
                values[name] = str(data.get(ref.get("key"), f"placeholder-{ref.get('key')}"))
            elif "fieldRef" in source:
                values[name] = "0"
        with open(os.path.join(args.dump, "env.json"), "w", encoding="utf-8") as f:
            json.dump(values, f)
    return report(args.rendered, problems)


def report(rendered: str, problems: list[str]) -> int:
    for p in problems:
        print(f"  FAIL {rendered}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
