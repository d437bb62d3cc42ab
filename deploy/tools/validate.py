#!/usr/bin/env python3
"""Static checks of everything under deploy/, run by scripts/deploy-check.sh:

- the Dockerfile: hadolint, plus the rules the image relies on (below);
- every kustomize overlay renders (`kubectl kustomize`), every rendered object validates
  against the Kubernetes API schemas (kubernetes-validate, strict) or, for custom resources,
  against deploy/tools/crd_schemas.py; checkov finds nothing beyond the skips justified in
  deploy/tools/checkov.yaml;
- what the manifests and deploy/compose.yaml say about the binaries holds: every environment
  variable, subcommand, port and probe path is one the binaries have (their `--help` output
  is the reference), termination grace covers the shutdown grace, KEDA never scales beyond
  the partition count and watches the consumer groups the binaries join;
- the Prometheus rules check and their unit tests pass, the PrometheusRule matches them, and
  each rendered alert's runbook_url is the overlay's runbook base + `#` + its section of
  docs/OPERATIONS.md (the replacement is also rendered once with a sample base);
- the Grafana dashboard's conventions hold (variables, data sources, layout), and it is valid
  for Grafana's schema of the schemaVersion it declares (deploy/tools/dashboard-schema).

Usage: validate.py --bin-dir DIR --work DIR --dashboard-schema DIR
  --bin-dir           holds projector, producer, tributary-admin
  --dashboard-schema  where deploy/tools/dashboard-schema's npm packages are installed
Prints one line per check; exits non-zero naming every failure."""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from crd_schemas import SCHEMAS  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ["dev", "prod"]
# Kubernetes versions the manifests must be valid for: the oldest we support and the newest
# kubernetes-validate knows.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
BINARIES = ["projector", "producer", "tributary-admin"]
PASSTHROUGH_PREFIX = "KAFKA_"  # runtime/src/kafka/config.rs: KAFKA_* go to librdkafka
# Read by the logging set-up (runtime/src/telemetry.rs) rather than declared with clap.
EXTRA_ENV = {"RUST_LOG"}
OPS_PATHS = {"/healthz", "/readyz", "/metrics"}  # runtime/src/http.rs

failures: list[str] = []


def ok(message: str) -> None:
    print(f"  ok    {message}")


def fail(message: str) -> None:
    print(f"  FAIL  {message}")
    failures.append(message)


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


# ---- what the binaries accept --------------------------------------------------------------


class Binaries:
    """Subcommands and environment variables of each binary, read from its --help output."""

    def __init__(self, bin_dir: pathlib.Path):
        self.dir = bin_dir
        self.subcommands: dict[str, set[str]] = {}
        self.env: dict[tuple[str, str], set[str]] = {}
        for binary in BINARIES:
            path = bin_dir / binary
            top = run([str(path), "--help"])
            if top.returncode != 0:
                raise SystemExit(f"{path} --help failed: {top.stderr}")
            commands = set(re.findall(r"^  ([a-z][a-z-]*)\s", top.stdout.split("Commands:")[-1], re.M)) - {"help"}
            if binary == "tributary-admin":
                commands = {"ensure", "check"}
            self.subcommands[binary] = commands
            for command in commands:
                text = run([str(path), command, "--help"]).stdout
                names = set(re.findall(r"\[env: ([A-Z0-9_]+)", text))
                names |= set(re.findall(r"\[env: ([A-Z0-9_]+)", top.stdout))
                self.env[(binary, command)] = names

    def known_anywhere(self) -> set[str]:
        return set().union(*self.env.values()) | EXTRA_ENV

    def check_invocation(self, where: str, argv: list[str], env_names: set[str]) -> None:
        """`argv` must be a binary and subcommand of the image, and every name in `env_names`
        (the variables given to this container alone) one that this subcommand reads."""
        if not argv or argv[0] not in self.subcommands:
            fail(f"{where}: runs {argv!r}, not one of the image's binaries {BINARIES}")
            return
        binary = argv[0]
        command = argv[1] if len(argv) > 1 else None
        if command not in self.subcommands[binary]:
            fail(f"{where}: `{' '.join(argv)}`: {binary} has no subcommand {command!r} (it has {sorted(self.subcommands[binary])})")
            return
        known = self.env[(binary, command)] | EXTRA_ENV
        unknown = sorted(n for n in env_names if n not in known and not n.startswith(PASSTHROUGH_PREFIX))
        if unknown:
            fail(f"{where}: `{binary} {command}` reads no variable {unknown} (see `{binary} {command} --help`)")
        else:
            ok(f"{where}: `{binary} {command}` knows all {len(env_names)} variables it is given")


# ---- Dockerfile ----------------------------------------------------------------------------


def check_dockerfile(venv_bin: pathlib.Path) -> None:
    dockerfile = DEPLOY / "Dockerfile"
    result = run([str(venv_bin / "hadolint"), "--failure-threshold", "style", str(dockerfile)])
    if result.returncode == 0:
        ok("hadolint: deploy/Dockerfile has no findings")
    else:
        fail(f"hadolint: deploy/Dockerfile:\n{result.stdout}{result.stderr}")

    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    froms = [line for line in instructions if line.upper().startswith("FROM ")]
    if len(froms) < 2:
        fail("Dockerfile: not multi-stage (the toolchain must stay out of the runtime image)")
    for line in froms:
        image = line.split()[1]
        if ":" not in image or image.endswith(":latest"):
            fail(f"Dockerfile: `{line}` is not pinned to a tag")
    if froms and not froms[-1].split()[1].startswith("debian:"):
        fail(f"Dockerfile: runtime stage is `{froms[-1]}`, expected a slim Debian base")
    users = [line.split()[1] for line in instructions if line.upper().startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9][0-9]{3,}(:[0-9]+)?", users[-1]):
        fail(f"Dockerfile: the last USER must be a numeric non-root UID, got {users[-1:] or 'none'}")
    for line in instructions:
        if line.upper().startswith("ADD ") and re.search(r"https?://", line):
            fail(f"Dockerfile: `{line}` downloads with ADD")
    copied = {line.split()[-1] for line in instructions if line.upper().startswith("COPY --FROM")}
    if "/usr/local/bin/" not in copied:
        fail("Dockerfile: the binaries are not copied to /usr/local/bin/ of the runtime stage")
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    if not any(p.strip().rstrip("/") in ("target", "**/target") for p in ignore):
        fail(".dockerignore: does not exclude target/")
    if not any(p.strip().rstrip("/") == ".git" for p in ignore):
        fail(".dockerignore: does not exclude .git")
    for binary in BINARIES:
        if binary not in dockerfile.read_text():
            fail(f"Dockerfile: does not install {binary}")
    if not any(m for m in failures if m.startswith(("Dockerfile", ".dockerignore"))):
        ok("Dockerfile: multi-stage, pinned bases, numeric non-root USER, no ADD of URLs, .dockerignore excludes target/ and .git")


# ---- Kubernetes ----------------------------------------------------------------------------


def render(overlay: str, work: pathlib.Path) -> list[dict]:
    out = work / f"{overlay}.yaml"
    result = run(["kubectl", "kustomize", str(DEPLOY / "k8s/overlays" / overlay)])
    if result.returncode != 0:
        fail(f"kubectl kustomize overlays/{overlay}: {result.stderr.strip()}")
        return []
    out.write_text(result.stdout)
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    ok(f"overlays/{overlay} renders: {len(objects)} objects ({out})")
    return objects


def validate_schemas(overlay: str, objects: list[dict]) -> None:
    for obj in objects:
        name = f"overlays/{overlay}: {obj['kind']}/{obj['metadata']['name']}"
        crd = SCHEMAS.get((obj["apiVersion"], obj["kind"]))
        if crd is not None:
            errors = sorted(jsonschema.Draft202012Validator(crd).iter_errors(obj), key=lambda e: list(e.path))
            for error in errors:
                fail(f"{name}: {'/'.join(map(str, error.path))}: {error.message}")
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                fail(f"{name}: no schema for {obj['apiVersion']} {obj['kind']} (add one to deploy/tools/crd_schemas.py)")
                break
            except kubernetes_validate.ValidationError as error:
                fail(f"{name}: invalid for Kubernetes {version}: {'/'.join(map(str, error.path))}: {error.message}")
    ok(f"overlays/{overlay}: every object validated (Kubernetes {' and '.join(K8S_VERSIONS)}, strict; custom resources against crd_schemas.py)")


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield obj, obj["spec"]["template"]["spec"]
        elif obj["kind"] == "Job":
            yield obj, obj["spec"]["template"]["spec"]


def check_semantics(overlay: str, objects: list[dict], binaries: Binaries) -> None:
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in by_kind.get("ConfigMap", [])}
    config = next(iter(configmaps.values()), {})
    partitions = int(config.get("TRIBUTARY_PARTITIONS", "8"))
    prefix = config.get("TRIBUTARY_TOPIC_PREFIX", "tributary")
    projection = config.get("PROJECTOR_NAME", "bank")

    for name, data in configmaps.items():
        unread = sorted(k for k in data if k not in binaries.known_anywhere() and not k.startswith(PASSTHROUGH_PREFIX))
        if unread:
            fail(f"overlays/{overlay}: ConfigMap {name} sets {unread}, which no binary reads")

    for obj, spec in pod_specs(objects):
        where = f"overlays/{overlay}: {obj['kind']}/{obj['metadata']['name']}"
        pod_sc = spec.get("securityContext", {})
        for container in spec["containers"]:
            # The shared ConfigMap goes to every process, so each of its keys must be read by
            # some binary; a container's own `env` must be read by that container's process.
            env = {}
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                if ref not in configmaps:
                    fail(f"{where}: envFrom names ConfigMap {ref!r}, which the overlay does not define")
                env.update(configmaps.get(ref, {}))
            own = {var["name"] for var in container.get("env", [])}
            for var in container.get("env", []):
                env[var["name"]] = var.get("value", "<from secret>")
            binaries.check_invocation(where, container.get("args", []) or container.get("command", []), own)

            sc = container.get("securityContext", {})
            wanted = {
                "runAsNonRoot": sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
                "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem") is True,
                "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
                "capabilities drop ALL": sc.get("capabilities", {}).get("drop") == ["ALL"],
                "seccomp RuntimeDefault": (sc.get("seccompProfile") or pod_sc.get("seccompProfile", {})).get("type") == "RuntimeDefault",
                "resources": bool(container.get("resources", {}).get("requests")) and bool(container.get("resources", {}).get("limits")),
            }
            missing = [k for k, v in wanted.items() if not v]
            if missing:
                fail(f"{where}: container {container['name']} lacks {missing}")

            if obj["kind"] != "Deployment":
                continue
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            addr_var = "PROJECTOR_HTTP_ADDR" if container["args"][0] == "projector" else "PRODUCER_HTTP_ADDR"
            addr = env.get(addr_var, "0.0.0.0:8081" if addr_var.startswith("PROJECTOR") else "0.0.0.0:8080")
            if ports.get("http") != int(addr.rsplit(":", 1)[1]):
                fail(f"{where}: port http is {ports.get('http')}, but the process listens on {addr} ({addr_var})")
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(probe_name)
                if not probe:
                    fail(f"{where}: no {probe_name}")
                    continue
                path = probe.get("httpGet", {}).get("path")
                if path not in OPS_PATHS or probe["httpGet"].get("port") not in ports:
                    fail(f"{where}: {probe_name} asks {path} on port {probe['httpGet'].get('port')}")
            if container["readinessProbe"]["httpGet"]["path"] != "/readyz" or container["livenessProbe"]["httpGet"]["path"] != "/healthz":
                fail(f"{where}: readiness must ask /readyz and liveness /healthz")
            grace_ms = int(env.get("SHUTDOWN_GRACE_MS", "20000")) if container["args"][0] == "projector" else int(env.get("COMMAND_TIMEOUT_MS", "10000"))
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            pre_stop_s = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
            period = spec.get("terminationGracePeriodSeconds", 30)
            if period * 1000 <= grace_ms + pre_stop_s * 1000:
                fail(f"{where}: terminationGracePeriodSeconds {period} does not cover preStop {pre_stop_s}s + {grace_ms} ms of shutdown")
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            if not any(_selects(p["spec"]["selector"], labels) for p in by_kind.get("PodDisruptionBudget", [])):
                fail(f"{where}: no PodDisruptionBudget selects it")
            if not any(_selects(n["spec"]["podSelector"], labels) for n in by_kind.get("NetworkPolicy", [])):
                fail(f"{where}: no NetworkPolicy selects it")

    groups = {"tributary-projector": f"{prefix}.projector.{projection}", "tributary-processor": f"{prefix}.processor"}
    for scaled in by_kind.get("ScaledObject", []):
        target = scaled["spec"]["scaleTargetRef"]["name"]
        where = f"overlays/{overlay}: ScaledObject/{scaled['metadata']['name']}"
        if target not in {d["metadata"]["name"] for d in by_kind.get("Deployment", [])}:
            fail(f"{where}: scales {target}, which is not a Deployment of the overlay")
        if scaled["spec"].get("maxReplicaCount", 100) > partitions:
            fail(f"{where}: maxReplicaCount {scaled['spec'].get('maxReplicaCount')} exceeds the partition count {partitions}: extra consumers would idle")
        for trigger in scaled["spec"]["triggers"]:
            meta = trigger["metadata"]
            if meta.get("consumerGroup") != groups.get(target):
                fail(f"{where}: watches consumer group {meta.get('consumerGroup')!r}, but {target} joins {groups.get(target)!r}")
            if "topic" in meta and meta["topic"] != f"{prefix}.commands":
                fail(f"{where}: watches topic {meta['topic']!r}")
        if "replicas" in next((d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == target), {}).get("spec", {}):
            fail(f"{where}: {target} sets replicas, which fights the autoscaler on every apply")
    for topic in by_kind.get("KafkaTopic", []):
        name = topic["spec"].get("topicName", topic["metadata"]["name"])
        if not name.startswith(prefix + "."):
            fail(f"overlays/{overlay}: KafkaTopic {name} does not carry the prefix {prefix}")
        if name != f"{prefix}.markers" and topic["spec"]["partitions"] != partitions:
            fail(f"overlays/{overlay}: KafkaTopic {name} has {topic['spec']['partitions']} partitions, TRIBUTARY_PARTITIONS is {partitions}")
    if not any(m.startswith(f"overlays/{overlay}") for m in failures):
        ok(f"overlays/{overlay}: commands, variables, ports, probes, grace periods, security contexts, PDBs, network policies, autoscaling bounds and topics agree with the binaries")


def _selects(selector: dict, labels: dict) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def run_checkov(venv_bin: pathlib.Path, work: pathlib.Path) -> None:
    scan = work / "checkov"
    shutil.rmtree(scan, ignore_errors=True)
    scan.mkdir()
    for overlay in OVERLAYS:
        shutil.copy(work / f"{overlay}.yaml", scan / f"{overlay}.yaml")
    shutil.copy(DEPLOY / "Dockerfile", scan / "Dockerfile")
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false", LOG_LEVEL="ERROR")
    # A relative directory: checkov's kubernetes runner skips paths with a hidden component,
    # and the work directory is usually under ~/.cache.
    result = run(
        [str(venv_bin / "checkov"), "--config-file", str(DEPLOY / "tools/checkov.yaml"), "-d", scan.name],
        env=env,
        cwd=work,
    )
    results = dict(re.findall(r"(\w+) scan results:\s*\n(Passed checks: \d+, Failed checks: \d+, Skipped checks: \d+)", result.stdout))
    summary = "; ".join(f"{framework}: {counts}" for framework, counts in sorted(results.items()))
    missing = {"kubernetes", "dockerfile"} - set(results)
    if missing:
        fail(f"checkov reported no {sorted(missing)} results (nothing scanned?):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    elif result.returncode == 0:
        ok(f"checkov (kubernetes, dockerfile): {summary}")
    else:
        failed = "\n".join(line for line in result.stdout.splitlines() if "Check:" in line or "FAILED" in line)
        fail(f"checkov: {summary}\n{failed or result.stdout[-3000:] + result.stderr[-3000:]}")


# ---- compose -------------------------------------------------------------------------------


def check_compose(binaries: Binaries) -> None:
    compose = DEPLOY / "compose.yaml"
    result = run(["docker-compose", "-f", str(compose), "config", "-q"])
    if result.returncode != 0:
        fail(f"deploy/compose.yaml does not validate (docker-compose config): {result.stderr.strip()}")
        return
    ok("deploy/compose.yaml validates (docker-compose config)")
    config = yaml.safe_load(run(["docker-compose", "-f", str(compose), "config"]).stdout)
    for name, service in config["services"].items():
        if service.get("image") != "tributary:dev":
            continue
        binaries.check_invocation(f"compose service {name}", service.get("command", []), set(service.get("environment", {})))
        if service.get("user") != "10001:10001" or not service.get("read_only"):
            fail(f"compose service {name}: must run as 10001:10001 with a read-only root filesystem")
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/") and not pathlib.Path(source).exists():
                fail(f"compose service {name}: mounts {source}, which does not exist")
    prom = run(["promtool", "check", "config", str(DEPLOY / "prometheus/prometheus.yml")])
    (ok if prom.returncode == 0 else fail)(f"promtool check config deploy/prometheus/prometheus.yml{'' if prom.returncode == 0 else ': ' + prom.stdout + prom.stderr}")


# ---- Prometheus rules and dashboard --------------------------------------------------------


def check_rules(venv_python: pathlib.Path) -> None:
    prom = DEPLOY / "prometheus"
    for args, what in (
        (["check", "rules", str(prom / "rules/tributary.rules.yaml")], "promtool check rules"),
        (["test", "rules", str(prom / "tests/tributary.test.yaml")], "promtool test rules"),
    ):
        result = run(["promtool", *args], cwd=prom / "tests")
        if result.returncode == 0:
            ok(f"{what}: {result.stdout.strip().splitlines()[-1].strip()}")
        else:
            fail(f"{what}:\n{result.stdout}{result.stderr}")
    sync = run([str(venv_python), str(DEPLOY / "tools/sync_rules.py"), "--check"])
    (ok if sync.returncode == 0 else fail)(f"PrometheusRule: {(sync.stdout + sync.stderr).strip()}")
    rules = yaml.safe_load((prom / "rules/tributary.rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and not rule.get("annotations", {}).get("summary"):
                fail(f"alert {rule['alert']}: no summary")
    ok("every alert has a summary")


# Each alert's runbook_url in the rule file is RUNBOOK_REF#<anchor of its section>
# (tests/tests/deploy_assets.rs checks that, and the sections); kustomize replaces RUNBOOK_REF
# by the overlay's `tributary-runbooks` base (components/prometheus-rules).
RUNBOOK_REF = "docs/OPERATIONS.md"
RUNBOOK_COMPONENT = DEPLOY / "k8s/components/prometheus-rules"
# Only ever rendered here, to see that a base reaches every alert; a reserved name (RFC 2606).
SAMPLE_RUNBOOK_BASE = "https://runbooks.test/tributary/blob/v0.0.0/docs/OPERATIONS.md"


def _runbook_base(overlay: str) -> str | None:
    kustomization = yaml.safe_load((DEPLOY / "k8s/overlays" / overlay / "kustomization.yaml").read_text())
    for generator in kustomization.get("configMapGenerator", []):
        if generator["name"] == "tributary-runbooks":
            literals = dict(literal.split("=", 1) for literal in generator.get("literals", []))
            return literals.get("base")
    return None


def _check_rendered_runbooks(where: str, objects: list[dict], base: str, anchors: set[str]) -> int:
    """Every alert of the rendered PrometheusRule links to `base#<its section>`; the count."""
    count = 0
    for obj in objects:
        if obj["kind"] != "PrometheusRule":
            continue
        for group in obj["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                count += 1
                url = rule.get("annotations", {}).get("runbook_url")
                anchor = _anchor(rule["alert"])
                if url != f"{base}#{anchor}":
                    fail(f"{where}: alert {rule['alert']}: runbook_url {url!r}, expected {base}#{anchor}")
                elif anchor not in anchors:
                    fail(f"{where}: alert {rule['alert']}: docs/OPERATIONS.md has no section #{anchor}")
    return count


def check_runbook_links(rendered: dict[str, list[dict]], work: pathlib.Path) -> None:
    ops = (ROOT / "docs/OPERATIONS.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", ops, re.M)}
    for overlay, objects in rendered.items():
        if not any(o["kind"] == "PrometheusRule" for o in objects):
            continue
        before = len(failures)
        base = _runbook_base(overlay)
        if base is None:
            fail(f"overlays/{overlay}: has the PrometheusRule but generates no tributary-runbooks base")
            continue
        count = _check_rendered_runbooks(f"overlays/{overlay}", objects, base, anchors)
        if len(failures) == before:
            ok(f"overlays/{overlay}: the {count} alerts' runbook links are {base}#<their section>")
    # The replacement itself, with a base that is not the repository reference.
    scratch = work / "runbook-base"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    (scratch / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "components": [os.path.relpath(RUNBOOK_COMPONENT, scratch)],
                "configMapGenerator": [
                    {
                        "name": "tributary-runbooks",
                        "literals": [f"base={SAMPLE_RUNBOOK_BASE}"],
                        "options": {"disableNameSuffixHash": True, "annotations": {"config.kubernetes.io/local-config": "true"}},
                    }
                ],
            }
        )
    )
    result = run(["kubectl", "kustomize", str(scratch)])
    if result.returncode != 0:
        fail(f"components/prometheus-rules with a runbook base: kubectl kustomize: {result.stderr.strip()}")
        return
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    if any(o["kind"] == "ConfigMap" for o in objects):
        fail("components/prometheus-rules: the tributary-runbooks ConfigMap is rendered (it must stay local-config)")
    before = len(failures)
    count = _check_rendered_runbooks("components/prometheus-rules", objects, SAMPLE_RUNBOOK_BASE, anchors)
    if count == 0:
        fail("components/prometheus-rules: rendered no alerts")
    elif len(failures) == before:
        ok(f"components/prometheus-rules: a runbook base reaches all {count} alerts' links, and stays out of the cluster")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"}


def check_dashboard() -> None:
    path = DEPLOY / "grafana/dashboards/tributary.json"
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        fail(f"{path.name}: not JSON: {error}")
        return
    problems = []
    for key in ("uid", "title", "panels", "templating", "time"):
        if key not in dash:
            problems.append(f"no {key}")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    builtins = {"__rate_interval", "__interval", "__range"}
    ids = set()
    for panel in dash.get("panels", []):
        pid = panel.get("id")
        title = panel.get("title", "?")
        if pid in ids:
            problems.append(f"panel id {pid} repeats")
        ids.add(pid)
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"panel {title!r}: type {panel.get('type')!r}")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid["x"] + grid["w"] > 24:
            problems.append(f"panel {title!r}: gridPos {grid}")
        if panel.get("type") == "row":
            continue
        refs = [t.get("refId") for t in panel.get("targets", [])]
        if not refs or len(refs) != len(set(refs)):
            problems.append(f"panel {title!r}: targets need distinct refIds")
        for target in panel.get("targets", []):
            used = set(re.findall(r"\$\{?(\w+)", target.get("expr", ""))) - builtins
            if used - variables:
                problems.append(f"panel {title!r}: uses undefined variables {sorted(used - variables)}")
            if target.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"panel {title!r}: target {target.get('refId')} does not use the datasource variable")
    for problem in problems:
        fail(f"dashboard {path.name}: {problem}")
    if not problems:
        ok(f"dashboard {path.name}: {len(ids)} panels, ids, layout, variables and data sources consistent")


def check_dashboard_schema(modules: pathlib.Path, work: pathlib.Path) -> None:
    """Grafana's schema, for the schemaVersion each dashboard declares: see the header of
    deploy/tools/dashboard-schema/check.mjs (which also shows, on every run, that it refuses a
    broken copy)."""
    dashboards = sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    result = run(
        ["node", str(DEPLOY / "tools/dashboard-schema/check.mjs"), "--modules", str(modules), "--work", str(work / "dashboard-schema"), *map(str, dashboards)]
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode == 0:
        for line in lines:
            ok(f"dashboard {line}")
    else:
        for line in lines:
            fail(f"dashboard {line}")
        if not lines:
            fail(f"dashboard schema check exited {result.returncode} without output")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--dashboard-schema", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    venv_bin = pathlib.Path(sys.executable).parent

    print("Dockerfile")
    check_dockerfile(venv_bin)
    binaries = Binaries(args.bin_dir)
    print("Kubernetes")
    rendered = {}
    for overlay in OVERLAYS:
        objects = render(overlay, args.work)
        if objects:
            rendered[overlay] = objects
            validate_schemas(overlay, objects)
            check_semantics(overlay, objects, binaries)
    run_checkov(venv_bin, args.work)
    print("Compose")
    check_compose(binaries)
    print("Prometheus")
    check_rules(pathlib.Path(sys.executable))
    check_runbook_links(rendered, args.work)
    print("Grafana")
    check_dashboard()
    check_dashboard_schema(args.dashboard_schema, args.work)
    if failures:
        print(f"\n{len(failures)} deploy check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
