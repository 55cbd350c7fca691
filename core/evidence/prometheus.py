"""Metric evidence from Prometheus: restarts, memory working set against the limit, CPU throttling.

Reads the series kube-state-metrics and the kubelet's cAdvisor export (the names every
kube-prometheus setup has) over the incident's window with `query_range`, and turns what they
show into a few sentences with numbers. `pod_series` gives the thread's graph its data. Every
failure is a BackendError; backends.collect turns it into a note.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from aegis.core.evidence.backends import BackendError, BackendResult, Observation
from aegis.core.evidence.scope import Backend, LinkBuilder, PodScope, TimeWindow
from aegis.core.models import EvidenceKind

Series = list[tuple[float, float]]
MIB = 1024 * 1024


def restarts_query(scope: PodScope) -> str:
    return f"max by (container) (kube_pod_container_status_restarts_total{{{scope.selector()}}})"


def memory_query(scope: PodScope) -> str:
    return f'max by (container) (container_memory_working_set_bytes{{{scope.selector()}, container!="", container!="POD"}})'


def memory_limit_query(scope: PodScope) -> str:
    return f'max by (container) (kube_pod_container_resource_limits{{{scope.selector()}, resource="memory"}})'


def throttling_query(scope: PodScope) -> str:
    sel = f'{scope.selector()}, container!=""'
    return (
        f"sum by (container) (rate(container_cpu_cfs_throttled_periods_total{{{sel}}}[5m]))"
        f" / sum by (container) (rate(container_cpu_cfs_periods_total{{{sel}}}[5m]))"
    )


class PrometheusClient:
    """The two query endpoints of the Prometheus HTTP API, with errors translated to BackendError."""

    name: Backend = "prometheus"

    def __init__(self, base_url: str, *, tenant: str | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"X-Scope-OrgID": tenant} if tenant else {}
        self._transport = transport

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self._base, headers=self._headers, transport=self._transport, timeout=httpx.Timeout(10.0, connect=3.0))

    async def query_range(self, http: httpx.AsyncClient, promql: str, window: TimeWindow) -> dict[str, Series]:
        """Each series of the matrix keyed by its `container` label (or its whole label set)."""
        data = await self._get(
            http, "/api/v1/query_range", {"query": promql, "start": window.start.timestamp(), "end": window.end.timestamp(), "step": window.step_seconds()}
        )
        if data.get("resultType") != "matrix":
            raise BackendError(self.name, f"query_range answered {data.get('resultType')!r}, not a matrix", transient=False)
        return {_key(item.get("metric", {})): [(float(t), float(v)) for t, v in item.get("values", [])] for item in data.get("result", [])}

    async def query(self, http: httpx.AsyncClient, promql: str, at: datetime) -> dict[str, float]:
        data = await self._get(http, "/api/v1/query", {"query": promql, "time": at.timestamp()})
        if data.get("resultType") != "vector":
            raise BackendError(self.name, f"query answered {data.get('resultType')!r}, not a vector", transient=False)
        return {_key(item.get("metric", {})): float(item["value"][1]) for item in data.get("result", [])}

    async def _get(self, http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise BackendError(self.name, f"{self._base} timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise BackendError(self.name, f"{self._base} is unreachable ({type(exc).__name__}: {exc}); check AEGIS_PROMETHEUS_URL") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise BackendError(self.name, f"{path} answered HTTP {response.status_code} without JSON", transient=response.status_code >= 500) from exc
        if response.status_code != 200 or body.get("status") != "success":
            error = str(body.get("error") or body.get("errorType") or "unknown error")[:300]
            raise BackendError(self.name, f"{path} answered HTTP {response.status_code}: {error}", transient=response.status_code >= 500)
        data = body.get("data")
        if not isinstance(data, dict):
            raise BackendError(self.name, f"{path} answered without data", transient=False)
        return data


class PrometheusCollector(PrometheusClient):
    """Evidence about one pod over the incident's window."""

    def __init__(
        self, base_url: str, *, tenant: str | None = None, links: LinkBuilder | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(base_url, tenant=tenant, transport=transport)
        self._links = links

    def _link(self, query: str, window: TimeWindow) -> str | None:
        return self._links("prometheus", query, window) if self._links else None

    async def observe(self, scope: PodScope, window: TimeWindow) -> BackendResult:
        result = BackendResult(self.name)
        async with self.client() as http:
            restarts, memory, limits, throttling = await asyncio.gather(
                *(self.query_range(http, q(scope), window) for q in (restarts_query, memory_query, memory_limit_query, throttling_query))
            )
        where = f"{scope.namespace}/{scope.pod}{'*' if scope.pod_is_prefix else ''}"
        for container, points in sorted(restarts.items()):
            first, last = points[0][1], points[-1][1]
            if last > first:
                summary = f"Prometheus: container {container} of {where} restarted {last - first:.0f} times in the window ({last:.0f} in all)"
            elif last > 0:
                summary = f"Prometheus: container {container} of {where} restarted {last:.0f} times in all, none of them in the window"
            else:
                continue
            result.observations.append(Observation(EvidenceKind.METRIC, summary, excerpt=_sparkline(points), link=self._link(restarts_query(scope), window)))
        for container, points in sorted(memory.items()):
            peak = max(v for _, v in points)
            limit = max((v for _, v in limits.get(container, [])), default=0.0)
            if limit > 0:
                summary = (
                    f"Prometheus: container {container} of {where} peaked at {peak / MIB:.0f} MiB working set,"
                    f" {peak / limit:.0%} of its {limit / MIB:.0f} MiB limit"
                )
            else:
                summary = f"Prometheus: container {container} of {where} peaked at {peak / MIB:.0f} MiB working set (no memory limit)"
            result.observations.append(Observation(EvidenceKind.METRIC, summary, excerpt=_sparkline(points), link=self._link(memory_query(scope), window)))
        for container, points in sorted(throttling.items()):
            worst = max(v for _, v in points)
            if worst >= 0.25:
                result.observations.append(
                    Observation(
                        EvidenceKind.METRIC,
                        f"Prometheus: container {container} of {where} had up to {worst:.0%} of its CPU periods throttled",
                        link=self._link(throttling_query(scope), window),
                    )
                )
        if not (restarts or memory or throttling):
            result.notes.append(f"Prometheus has no series for {where} in the window (is kube-state-metrics and the kubelet's cAdvisor scraped?).")
        return result

    async def pod_series(self, scope: PodScope, window: TimeWindow) -> dict[str, dict[str, Series]]:
        """The thread graph's data: memory working set, memory limit and restarts, per container."""
        async with self.client() as http:
            memory, limit, restarts = await asyncio.gather(
                *(self.query_range(http, q(scope), window) for q in (memory_query, memory_limit_query, restarts_query))
            )
        return {"memory": memory, "limit": limit, "restarts": restarts}


def _key(metric: dict[str, str]) -> str:
    if "container" in metric:
        return metric["container"]
    return ",".join(f"{k}={v}" for k, v in sorted(metric.items())) or "value"


def _sparkline(points: Series) -> str:
    """A text trace of a series (min → max over the window) for the excerpt."""
    values = [v for _, v in points]
    if not values:
        return ""
    low, high = min(values), max(values)
    bars = "▁▂▃▄▅▆▇█"
    span = high - low or 1.0
    step = max(1, len(values) // 40)
    return "".join(bars[int((v - low) / span * (len(bars) - 1))] for v in values[::step]) + f"  min {low:.4g} max {high:.4g}"
