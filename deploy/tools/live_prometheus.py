#!/usr/bin/env python3
"""A real Prometheus scrapes a running projector and producer and evaluates the project's
rules against them (run by scripts/deploy-check.sh after the static checks).

1. Starts `projector run` and `producer all` on free local ports, on the broker and database
   the test suite uses (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), with a topic prefix, schema
   and consumer groups of their own, creating their topics (TOPICS_AUTO_CREATE=true).
2. Starts Debian's `prometheus` scraping both every second, loading
   deploy/prometheus/rules/tributary.rules.yaml.
3. Sends commands through the gateway, so the command, processor and projector metrics move.
4. Fails if any metric name the rules or the dashboard use is neither exported by the running
   binaries nor declared in their METRIC_NAMES lists (names only declared are listed: they
   appear once their event happens, e.g. a dead letter); if any rule's evaluation reports an
   error; if a dashboard expression is refused by Prometheus; or if the recording rule
   tributary:gateway_commands:rate1m does not show the accepted commands.

Usage: live_prometheus.py --bin-dir DIR --work DIR"""

import argparse
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules/tributary.rules.yaml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/tributary.json"
METRIC_SOURCES = ["projector/src/metrics.rs", "producer/src/metrics.rs", "producer/src/gateway/metrics.rs"]
# Metrics of other exporters the rules use (kube-state-metrics, Prometheus itself).
FOREIGN = {"kube_deployment_status_replicas_unavailable", "up"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


def wait(what: str, seconds: float, condition, procs=()) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        for name, proc, log in procs:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited ({proc.returncode}) while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            detail = "".join(f"\n--- {name} ---\n{tail(log)}" for name, _, log in procs)
            raise SystemExit(f"timed out after {seconds}s waiting for {what}{detail}")
        time.sleep(0.25)


def tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def declared_metrics() -> set[str]:
    names = set()
    for source in METRIC_SOURCES:
        text = (ROOT / source).read_text()
        block = re.search(r"pub const METRIC_NAMES: &\[&str\] = &\[(.*?)\];", text, re.S)
        if not block:
            raise SystemExit(f"{source}: no METRIC_NAMES list")
        names |= set(re.findall(r'"([a-z_:]+)"', block.group(1)))
        # Entries may name constants (`names::EVENTS_APPLIED_TOTAL`) defined in the same file.
        constants = dict(re.findall(r'pub const ([A-Z0-9_]+): &str = "([a-z_:]+)";', text))
        for constant in re.findall(r"names::([A-Z0-9_]+)", block.group(1)):
            if constant not in constants:
                raise SystemExit(f"{source}: METRIC_NAMES names {constant}, which is not defined there")
            names.add(constants[constant])
    return names


def used_metrics() -> tuple[set[str], set[str]]:
    """Metric names (tributary_*, foreign) and recording-rule names (tributary:*) the rules
    and the dashboard use."""
    text = RULES.read_text() + DASHBOARD.read_text()
    names = set(re.findall(r"\btributary_[a-z0-9_]+", text)) | {n for n in FOREIGN if re.search(rf"\b{n}\b", text)}
    recorded = set(re.findall(r"\btributary:[a-z0-9_:]+", text))
    return names, recorded


def base_name(name: str, known: set[str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, type=pathlib.Path)
    parser.add_argument("--work", required=True, type=pathlib.Path)
    args = parser.parse_args()
    work = args.work / "live"
    work.mkdir(parents=True, exist_ok=True)

    run_id = uuid.uuid4().hex[:12]
    prefix = f"deploycheck.{run_id}"
    schema = f"deploycheck_{run_id}"
    projector_port, producer_port, prom_port = free_port(), free_port(), free_port()
    base_env = dict(
        os.environ,
        TRIBUTARY_TOPIC_PREFIX=prefix,
        TRIBUTARY_PARTITIONS="2",
        TOPICS_AUTO_CREATE="true",
        PROJECTOR_SCHEMA=schema,
        PROJECTOR_NAME="bank",
        LOG_FORMAT="text",
        RUST_LOG="info",
    )
    procs = []

    def start(name, argv, extra):
        log = work / f"{name}.log"
        proc = subprocess.Popen(argv, env=dict(base_env, **extra), stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append((name, proc, log))
        return proc

    try:
        print(f"  starting projector and producer (prefix {prefix}, schema {schema})")
        start("projector", [str(args.bin_dir / "projector"), "run"], {"PROJECTOR_HTTP_ADDR": f"127.0.0.1:{projector_port}"})
        start("producer", [str(args.bin_dir / "producer"), "all"], {"PRODUCER_HTTP_ADDR": f"127.0.0.1:{producer_port}"})
        for name, port in (("projector", projector_port), ("producer", producer_port)):
            wait(f"{name} /readyz", 120, lambda p=port: http(f"http://127.0.0.1:{p}/readyz")[0] == 200, procs)

        config = work / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": "tributary-projector", "static_configs": [{"targets": [f"127.0.0.1:{projector_port}"]}]},
                {"job_name": "tributary-producer", "static_configs": [{"targets": [f"127.0.0.1:{producer_port}"]}]},
            ],
        }, indent=2))
        api = f"http://127.0.0.1:{prom_port}/api/v1"
        print(f"  starting prometheus on 127.0.0.1:{prom_port}")
        start("prometheus", ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"], {})

        def targets_up():
            status, body = http(f"{api}/targets")
            if status != 200:
                return False
            active = json.loads(body)["data"]["activeTargets"]
            return len(active) == 2 and all(t["health"] == "up" for t in active)

        wait("both targets scraped", 60, targets_up, procs)

        def command(aggregate, ident, body):
            payload = json.dumps({"aggregate": aggregate, "id": ident, "command": body}).encode()
            return http(f"http://127.0.0.1:{producer_port}/v1/commands", payload, timeout=30)

        account = f"acc-{run_id}"
        status, body = command("account", account, {"type": "OpenAccount", "owner_id": "ann", "currency": "EUR"})
        if status != 200:
            raise SystemExit(f"OpenAccount answered {status}: {body}")
        def query(expr):
            status, body = http(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))
            return status, json.loads(body) if body.startswith("{") else {"error": body}

        def deposits_scraped(count):
            status, result = query('sum(tributary_gateway_commands_total{command="Deposit",outcome="accepted"})')
            return status == 200 and any(float(s["value"][1]) >= count for s in result["data"]["result"])

        # rate() needs a counter's rise between two scrapes: each deposit is sent only once the
        # previous one has been scraped, so the series is seen at 1, 2 and 3, never first at 3.
        for sent, amount in enumerate((100, 200, 300), start=1):
            status, body = command("account", account, {"type": "Deposit", "amount": amount})
            if status != 200:
                raise SystemExit(f"Deposit answered {status}: {body}")
            wait(f"deposit {sent} to be scraped", 60, lambda n=sent: deposits_scraped(n), procs)
        status, _ = command("account", account, {"type": "Withdraw", "amount": 10_000})
        print(f"  sent 5 commands through the gateway (the overdraft answered {status})")

        def accepted_rate():
            status, result = query('tributary:gateway_commands:rate1m{outcome="accepted"}')
            return status == 200 and any(float(s["value"][1]) > 0 for s in result["data"]["result"])

        wait("the recording rule tributary:gateway_commands:rate1m to show accepted commands", 60, accepted_rate, procs)
        _, result = query('tributary:gateway_commands:rate1m{outcome="accepted"}')
        print(f"  ok    Prometheus evaluated tributary:gateway_commands:rate1m{{outcome=\"accepted\"}} = {float(result['data']['result'][0]['value'][1]):.3f}/s")

        def projector_applied():
            status, result = query(f'sum(tributary_projector_events_applied_total{{topic="{prefix}.account.events"}})')
            return status == 200 and any(float(s["value"][1]) >= 4 for s in result["data"]["result"])

        wait("the projector's applied events to be scraped", 60, projector_applied, procs)
        print("  ok    the projector's tributary_projector_events_applied_total counts the 4 account events")
        time.sleep(2)  # one more evaluation of every rule group on the final data

        failures = []
        declared = declared_metrics()
        _, names = query('group by (__name__) ({__name__=~"tributary_.+"})')
        exported = {s["metric"]["__name__"] for s in names["data"]["result"]}
        exported_base = {base_name(n, declared) for n in exported}
        undeclared_exports = sorted(exported_base - declared)
        if undeclared_exports:
            failures.append(f"the binaries export metrics missing from METRIC_NAMES: {undeclared_exports}")
        used, recorded = used_metrics()
        missing, pending = [], []
        for name in sorted(used):
            base = base_name(name, declared)
            if name in FOREIGN or base in exported_base:
                continue
            (pending if base in declared else missing).append(name)
        if missing:
            failures.append(f"the rules or the dashboard use metrics the binaries do not have: {missing}")
        print(f"  {'FAIL' if missing else 'ok  '}  {len(used)} metric names used by the rules and the dashboard: "
              f"{len(used) - len(pending) - len(missing)} scraped live, {len(pending)} declared in METRIC_NAMES and not yet observed "
              f"(they appear when their event happens): {', '.join(pending) or '-'}")

        _, rules = (lambda r: (r[0], json.loads(r[1])))(http(f"{api}/rules"))
        defined = set()
        for group in rules["data"]["groups"]:
            for rule in group["rules"]:
                defined.add(rule["name"])
                if rule.get("health") != "ok" or rule.get("lastError"):
                    failures.append(f"rule {rule['name']} evaluates with an error: {rule.get('lastError')}")
        for name in sorted(recorded - defined):
            failures.append(f"{name} is used but no rule records it")
        print(f"  ok    Prometheus loaded {len(defined)} rules and evaluated each without error" if not any("rule " in f for f in failures) else "  FAIL  rule evaluation")

        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        exprs.append(dashboard["templating"]["list"][1]["query"]["query"].replace("label_values(", "group by (projection) (").replace(", projection)", ")"))
        with_data = 0
        for expr in exprs:
            concrete = expr.replace("$__rate_interval", "1m").replace("$projection", ".*")
            status, result = query(concrete)
            if status != 200:
                failures.append(f"Prometheus refuses the dashboard expression {expr!r}: {result.get('error')}")
            elif result["data"]["result"]:
                with_data += 1
        print(f"  ok    Prometheus accepts all {len(exprs)} dashboard expressions ({with_data} with data in this run)")

        for failure in failures:
            print(f"  FAIL  {failure}")
        return 1 if failures else 0
    finally:
        for name, proc, _ in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc, log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if os.environ.get("DATABASE_URL"):
            subprocess.run(["psql", os.environ["DATABASE_URL"], "-qc", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'],
                           capture_output=True, check=False)


if __name__ == "__main__":
    sys.exit(main())
