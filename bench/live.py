"""Whole-process time of a live `aegis analyze` against the test control plane, as a person runs it.

Starts the control plane (tests/cluster: kube-apiserver, etcd, controller-manager, scheduler, KWOK;
binaries from `make cluster`), breaks three example incidents (their manifests, revision by revision,
as the live example tier deploys them), waits until each is diagnosed as its expected.json says, then
runs `aegis analyze TARGET -n NS --kubeconfig <AEGIS's ServiceAccount>` N times per incident as a
separate process, and prints p50/p95 per incident and overall with the ratio to the goal
(issue 14: p50 <= 0.3 s; a Go CLI takes ~0.07 s on the same cluster).

Run: .venv/bin/python bench/live.py [--runs N] [--incident NAME ...] [--output text|json] [--baseline OTHER/bin/aegis]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the control-plane harness lives in tests/

from tests.cluster.controlplane import ControlPlane, bin_dir, missing_binaries  # noqa: E402
from tests.incidents import EXAMPLES, Incident, load_all  # noqa: E402
from tests.integration.conftest import Cluster  # noqa: E402
from tests.integration.examples import deploy_example  # noqa: E402

GOAL_SECONDS = 0.3
DEFAULT_INCIDENTS = ("crashloop-missing-env", "web-storefront", "storefront-intermittent-502")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def analyze_cmd(target: str, namespace: str, kubeconfig: Path, output: str, aegis: Path | None = None) -> list[str]:
    aegis = aegis or Path(sys.executable).parent / "aegis"
    return [str(aegis), "analyze", target, "-n", namespace, "--kubeconfig", str(kubeconfig), "--output", output]


def wait_diagnosed(cmd: list[str], expected: str, timeout: float = 120.0) -> None:
    """Until the live state is the broken one the example describes (the JSON report names its category)."""
    json_cmd = [*cmd[:-1], "json"]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        run = subprocess.run(json_cmd, capture_output=True, text=True, check=False)
        if run.returncode == 0:
            last = json.loads(run.stdout)["diagnosis"]["category"]
            if last == expected:
                return
        else:
            last = run.stderr.strip()[-300:]
        time.sleep(1.0)
    raise SystemExit(f"{' '.join(cmd)}: not diagnosed as {expected} within {timeout:.0f}s (last: {last})")


def main(runs: int, names: list[str], output: str, baseline: Path | None) -> int:
    bins = bin_dir()
    if missing_binaries(bins):
        print(f"control-plane binaries missing in {bins}: run `make cluster` first", file=sys.stderr)
        return 2
    incidents: dict[str, Incident] = {i.name: i for i in load_all(EXAMPLES)}
    unknown = [n for n in names if n not in incidents]
    if unknown:
        print(f"unknown example(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="aegis-bench-live-"))
    cp = ControlPlane(workdir, nodes=2, bins=bins)
    try:
        cp.start()
        cluster = Cluster(cp)
        targets = []
        for name in names:
            incident = incidents[name]
            ref = deploy_example(cluster, incident)
            cmd = analyze_cmd(f"{ref.kind.lower()}/{ref.name}", ref.namespace, cp.aegis_kubeconfig, output)
            wait_diagnosed(cmd, incident.expected["category"])
            targets.append((name, cmd))
            if baseline is not None:  # another install's aegis, run in turn with this one under the same load
                targets.append((f"{name} [baseline]", analyze_cmd(f"{ref.kind.lower()}/{ref.name}", ref.namespace, cp.aegis_kubeconfig, output, baseline)))
        # A person's shell: bytecode cached as after any pip install (PYTHONDONTWRITEBYTECODE, set in some
        # sandboxes, recompiles AEGIS's modules on every run), no AEGIS_* settings of the caller's.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("AEGIS_")}
        for _, cmd in targets:  # warm the page cache and .pyc files
            subprocess.run(cmd, capture_output=True, check=True, env=env)
        times: dict[str, list[float]] = {name: [] for name, _ in targets}
        cpu: dict[str, list[float]] = {name: [] for name, _ in targets}
        for _ in range(runs):  # round-robin, so a burst of load elsewhere on the machine hits every target alike
            for name, cmd in targets:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True, env=env)
                times[name].append(time.perf_counter() - started)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        # CPU time (user + system) of the aegis process: what its wall time is on an idle machine, less waiting on the API server.
        for name, values in times.items():
            print(
                f"{name:42s} p50 {statistics.median(values) * 1000:4.0f} ms  p95 {percentile(values, 0.95) * 1000:4.0f} ms"
                f"  cpu p50 {statistics.median(cpu[name]) * 1000:4.0f} ms  ({runs} runs)"
            )
        overall = [t for name, values in times.items() if not name.endswith("[baseline]") for t in values]
        p50 = statistics.median(overall)
        print(f"{'all':42s} p50 {p50 * 1000:4.0f} ms  p95 {percentile(overall, 0.95) * 1000:4.0f} ms  ({len(overall)} runs, output {output})")
        if baseline is not None:
            base = statistics.median([t for name, values in times.items() if name.endswith("[baseline]") for t in values])
            print(f"{'all [baseline]':42s} p50 {base * 1000:4.0f} ms: this install takes {p50 / base:.2f}x the baseline's time")
        print(f"goal p50 <= {GOAL_SECONDS * 1000:.0f} ms: p50 is {p50 / GOAL_SECONDS:.2f}x the goal ({'met' if p50 <= GOAL_SECONDS else 'MISSED'})")
        return 0
    finally:
        cp.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="whole-process runs per incident")
    parser.add_argument("--incident", action="append", default=None, help=f"example to break (repeatable; default: {', '.join(DEFAULT_INCIDENTS)})")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="aegis analyze --output (text: as a person reads it)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="AEGIS", help="another install's aegis executable, timed in turn with this one")
    args = parser.parse_args()
    sys.exit(main(args.runs, args.incident or list(DEFAULT_INCIDENTS), args.output, args.baseline))
