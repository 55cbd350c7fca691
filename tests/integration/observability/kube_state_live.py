"""A LIVE stand-in for kube-state-metrics: the pod series it publishes, computed at every scrape from the real API server.

Why it exists: kube-state-metrics cannot be built here. `go mod download
k8s.io/kube-state-metrics/v2@v2.17.0` answers "403 Forbidden, server response: This module version
is not available" from proxy.golang.org, and its source must not be copied in. The alert chain
test still needs Prometheus to see a workload break and heal on the real control plane, so this
small exporter lists the pods of the namespaces it watches (like kube-state-metrics'
`--namespaces`) on every scrape and publishes the series deploy/docker/prometheus-alerts.yaml, the
Grafana dashboard and AEGIS's Prometheus collector read, with kube-state-metrics v2's names, label
sets and types. Every value comes from the live pod object (status and spec); nothing is invented,
so there are no cAdvisor series (memory working set, CPU throttling): a kubelet would export those.

Published, per pod: kube_pod_status_phase; per app container: kube_pod_container_status_restarts_total,
kube_pod_container_status_ready, kube_pod_container_status_waiting(_reason),
kube_pod_container_status_last_terminated_reason, kube_pod_container_resource_requests and _limits.
Not published: init containers (kube_pod_init_container_*), and every other kube-state-metrics family.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from aegis.core.kube import quantity

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
FAMILIES = {
    "kube_pod_status_phase": ("gauge", "The pods current phase."),
    "kube_pod_container_status_restarts_total": ("counter", "The number of container restarts per container."),
    "kube_pod_container_status_ready": ("gauge", "Describes whether the containers readiness check succeeded."),
    "kube_pod_container_status_waiting": ("gauge", "Describes whether the container is currently in waiting state."),
    "kube_pod_container_status_waiting_reason": ("gauge", "Describes the reason the container is currently in waiting state."),
    "kube_pod_container_status_last_terminated_reason": ("gauge", "Describes the last reason the container was in terminated state."),
    "kube_pod_container_resource_requests": ("gauge", "The number of requested request resource by a container."),
    "kube_pod_container_resource_limits": ("gauge", "The number of requested limit resource by a container."),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def _number(value: float) -> str:
    """Exact: 268435456 for 256Mi (`:g` would round it to 2.68435e+08), 0.1 for 100m."""
    return str(int(value)) if value.is_integer() else repr(value)


def _unit(resource: str) -> str:
    """kube-state-metrics' `unit` label for a resource name."""
    if resource == "cpu":
        return "core"
    if resource in ("memory", "storage", "ephemeral-storage") or resource.startswith("hugepages-"):
        return "byte"
    return "integer"


def pod_samples(pod: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """family -> [(label set, value)] for one pod object, as kube-state-metrics derives them."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    base = (("namespace", meta["namespace"]), ("pod", meta["name"]), ("uid", meta.get("uid", "")))
    out: dict[str, list[tuple[str, float]]] = {name: [] for name in FAMILIES}
    phase = status.get("phase")
    if phase:
        out["kube_pod_status_phase"] += [(_labels((*base, ("phase", p))), float(p == phase)) for p in PHASES]
    for cs in status.get("containerStatuses") or []:
        labels = (*base, ("container", cs["name"]))
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
        waiting = state.get("waiting")
        out["kube_pod_container_status_restarts_total"].append((_labels(labels), float(cs.get("restartCount", 0))))
        out["kube_pod_container_status_ready"].append((_labels(labels), float(bool(cs.get("ready")))))
        out["kube_pod_container_status_waiting"].append((_labels(labels), float(waiting is not None)))
        # v2 publishes only the current reason (and nothing when the container is not waiting).
        if waiting and waiting.get("reason"):
            out["kube_pod_container_status_waiting_reason"].append((_labels((*labels, ("reason", waiting["reason"]))), 1.0))
        if last and last.get("reason"):
            out["kube_pod_container_status_last_terminated_reason"].append((_labels((*labels, ("reason", last["reason"]))), 1.0))
    node = spec.get("nodeName", "")
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        for kind, family in (("requests", "kube_pod_container_resource_requests"), ("limits", "kube_pod_container_resource_limits")):
            for resource, raw in sorted((resources.get(kind) or {}).items()):
                value = quantity.parse(raw)
                if value is None:
                    continue
                labels = (*base, ("node", node), ("container", container["name"]), ("resource", resource), ("unit", _unit(resource)))
                out[family].append((_labels(labels), value))
    return out


def exposition(pods: Iterable[dict[str, Any]]) -> str:
    """Prometheus text format 0.0.4: each family's HELP/TYPE once, then its samples."""
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in FAMILIES}
    for pod in pods:
        for family, rows in pod_samples(pod).items():
            samples[family] += rows
    lines = []
    for family, (kind, help_text) in FAMILIES.items():
        lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}"]
        lines += [f"{family}{{{labels}}} {_number(value)}" for labels, value in samples[family]]
    return "\n".join(lines) + "\n"


class KubeStateLive:
    """Serves /metrics; each scrape lists the watched namespaces' pods from the API server (async, with `token`)."""

    def __init__(self, api_url: str, token: str, ca_file: Path, namespaces: tuple[str, ...]) -> None:
        self._api_url = api_url
        self._token = token
        self._ca_file = ca_file
        self.namespaces = namespaces
        self.scrapes = 0
        self._http: httpx.AsyncClient | None = None

    async def metrics(self, _: web.Request) -> web.Response:
        assert self._http is not None
        pods: list[dict[str, Any]] = []
        try:
            for ns in self.namespaces:
                response = await self._http.get(f"/api/v1/namespaces/{ns}/pods")
                response.raise_for_status()
                pods += response.json()["items"]
        except httpx.HTTPError as exc:
            # A failed scrape (up == 0), never stale or made-up values.
            return web.Response(status=503, text=f"listing pods failed: {type(exc).__name__}: {exc}\n")
        self.scrapes += 1
        return web.Response(text=exposition(pods), content_type="text/plain", charset="utf-8")

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Run on a free loopback port; yields host:port for a scrape config."""
        tls = ssl.create_default_context(cafile=str(self._ca_file))
        async with httpx.AsyncClient(
            base_url=self._api_url, headers={"Authorization": f"Bearer {self._token}"}, verify=tls, timeout=httpx.Timeout(5.0, connect=2.0)
        ) as http:
            self._http = http
            app = web.Application()
            app.router.add_get("/metrics", self.metrics)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                yield f"127.0.0.1:{runner.addresses[0][1]}"
            finally:
                await runner.cleanup()
                self._http = None
