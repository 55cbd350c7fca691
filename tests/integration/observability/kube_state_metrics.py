"""The real kube-state-metrics (built by tests/cluster/build.sh), watching the control plane's pods.

Its pod series are what the shipped alert rules, the Grafana dashboard and AEGIS's Prometheus
collector read. It runs on loopback with the admin kubeconfig (its own RBAC is not AEGIS's concern),
limited to the test's namespaces and to the resources asked for: pods by default (what the
dashboard and the pod-level rules read), workloads and Jobs too for the workload-level rules.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.cluster import controlplane
from tests.integration.observability.prometheus import daemon, free_port


def binary() -> Path:
    """The cached binary; missing fails in CI (a skip there would hide a broken install) and skips locally."""
    found = controlplane.bin_dir() / "kube-state-metrics"
    if not os.access(found, os.X_OK):
        msg = f"kube-state-metrics is missing from {found.parent}: run tests/cluster/build.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


@asynccontextmanager
async def kube_state_metrics(workdir: Path, kubeconfig: Path, namespaces: tuple[str, ...], resources: tuple[str, ...] = ("pods",)) -> AsyncIterator[str]:
    """Run it until its first /metrics answer lists an object of `namespaces`; yields host:port for a scrape config."""
    exe = binary()
    port, telemetry = free_port(), free_port()
    argv = [
        str(exe),
        f"--kubeconfig={kubeconfig}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--telemetry-host=127.0.0.1",
        f"--telemetry-port={telemetry}",
        f"--namespaces={','.join(namespaces)}",
        f"--resources={','.join(resources)}",
    ]
    address = f"127.0.0.1:{port}"

    def lists_pods(response: httpx.Response) -> bool:
        return any(f'namespace="{ns}"' in response.text for ns in namespaces)

    async with daemon("kube-state-metrics", argv, workdir / "kube-state-metrics.log", f"http://{address}/metrics", ready=lists_pods):
        yield address


async def container_series(address: str, namespace: str) -> str:
    """Its current kube_pod_container_* lines for `namespace`, for a timeout message."""
    async with httpx.AsyncClient(timeout=2) as http:
        text = (await http.get(f"http://{address}/metrics")).text
    return "\n".join(line for line in text.splitlines() if line.startswith("kube_pod_container_") and f'namespace="{namespace}"' in line)
