"""A real Prometheus (Debian's binary) on loopback with a temp config, the shipped queries, and recorded pod series.

`RecordedKubeMetrics` is for an incident read from a snapshot (no cluster behind it): it serves the
kube-state-metrics and kubelet cAdvisor series of one crash-looping pod, the restart count rising
at every scrape, with those exporters' names, label sets and types. A live cluster is scraped by the
real kube-state-metrics instead (kube_state_metrics.py); KWOK's fake nodes have no kubelet, so the
cAdvisor series (memory working set, CPU throttling) exist only in the recording.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "deploy" / "docker" / "prometheus-alerts.yaml"
DASHBOARD = ROOT / "deploy" / "docker" / "grafana" / "dashboards" / "aegis-overview.json"
MIB = 1024 * 1024


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        msg = "the prometheus binary is missing: run deploy/check.sh (installs Debian's prometheus)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def poll(what: str, probe: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.25) -> Any:
    """Await probe() until it returns something truthy; fail naming `what` and the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(interval)


def dashboard_queries(variables: dict[str, str]) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's `variables` substituted) for every Prometheus target of the dashboard."""
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        if panel.get("datasource", {}).get("type") != "prometheus":
            continue
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(var, value)
            out.append((panel["title"], expr))
    return out


def rule_queries(rules: Path = ALERTS) -> list[tuple[str, str]]:
    """(alert name, expression) for every rule of a rule file."""
    groups = yaml.safe_load(rules.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


class RecordedKubeMetrics:
    """kube-state-metrics and cAdvisor series for one pod; each scrape is one more restart and more memory."""

    def __init__(self, namespace: str, pod: str, container: str) -> None:
        self.labels = f'namespace="{namespace}",pod="{pod}",container="{container}"'
        self.scrapes = 0

    async def metrics(self, _: web.Request) -> web.Response:
        self.scrapes += 1
        n = self.scrapes
        lines = [
            "# TYPE kube_pod_container_status_restarts_total counter",
            f"kube_pod_container_status_restarts_total{{{self.labels}}} {n}",
            "# TYPE kube_pod_container_status_waiting_reason gauge",
            f'kube_pod_container_status_waiting_reason{{{self.labels},reason="CrashLoopBackOff"}} 1',
            "# TYPE kube_pod_container_status_last_terminated_reason gauge",
            f'kube_pod_container_status_last_terminated_reason{{{self.labels},reason="Error"}} 1',
            "# TYPE kube_pod_container_resource_limits gauge",
            f'kube_pod_container_resource_limits{{{self.labels},node="kwok-node-0",resource="memory",unit="byte"}} {256 * MIB}',
            "# TYPE container_memory_working_set_bytes gauge",
            f"container_memory_working_set_bytes{{{self.labels}}} {(60 + 10 * (n % 8)) * MIB}",
            "# TYPE container_cpu_cfs_periods_total counter",
            f"container_cpu_cfs_periods_total{{{self.labels}}} {100 * n}",
            "# TYPE container_cpu_cfs_throttled_periods_total counter",
            f"container_cpu_cfs_throttled_periods_total{{{self.labels}}} {10 * n}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


async def stop_process_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group started with start_new_session, SIGKILL it after 15 s, reap it."""
    if proc.returncode is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=15)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), timeout=5)


@asynccontextmanager
async def daemon(
    name: str, argv: list[str], log_path: Path, ready_url: str, *, ready: Callable[[httpx.Response], bool] | None = None, timeout: float = 30.0
) -> AsyncIterator[None]:
    """Run `argv` in its own process group, output to `log_path`, until `ready_url` answers 200 (and `ready`); stop it on exit."""
    log = log_path.open("w")
    proc = await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def answering() -> bool:
                if proc.returncode is not None:
                    output = await asyncio.to_thread(log_path.read_text)
                    raise AssertionError(f"{name} exited {proc.returncode}: {output[-2000:]}")
                try:
                    response = await http.get(ready_url)
                except httpx.HTTPError:
                    return False
                return response.status_code == 200 and (ready is None or ready(response))

            await poll(f"{name} at {ready_url}", answering, timeout=timeout)
        yield
    finally:
        await stop_process_group(proc)
        log.close()


@asynccontextmanager
async def prometheus(
    workdir: Path, targets: dict[str, str], rule_files: tuple[Path, ...] = (), *, port: int | None = None, alertmanager: str | None = None
) -> AsyncIterator[str]:
    """Prometheus scraping `targets` (job -> host:port) every second and evaluating `rule_files`; its base URL.

    `port` when the caller had to hand the URL out before the start; `alertmanager` (host:port) receives its alerts.
    """
    binary = prometheus_binary()
    port = port or free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    argv = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    async with daemon("prometheus", argv, workdir / "prometheus.log", f"{url}/-/ready"):
        yield url
