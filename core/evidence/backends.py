"""Evidence from observability backends (Prometheus, Loki) beside the Kubernetes API: optional and soft.

Each backend is asked only when its URL is configured. All of them run concurrently after the
Kubernetes collection under one time budget; a backend that is down, slow or answers nonsense
becomes a note on the diagnosis ("Prometheus unreachable: …"), never a failed investigation.
httpx is imported only by the collector modules, and those only when a backend is configured,
so `aegis analyze --snapshot` without backends never loads it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aegis.core import telemetry
from aegis.core.config import Settings
from aegis.core.errors import AegisError
from aegis.core.evidence.scope import Backend, LinkBuilder, PodScope, TimeWindow
from aegis.core.models import Evidence, EvidenceId, EvidenceKind, ObjectRef


class BackendError(AegisError):
    """A backend could not answer (unreachable, refused, timed out, bad response); the message says which and why."""

    def __init__(self, backend: Backend, message: str, *, transient: bool = True) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend
        self.transient = transient


@dataclass(frozen=True)
class Observation:
    """One fact from a backend, before it is numbered into the diagnosis' evidence."""

    kind: EvidenceKind
    summary: str
    excerpt: str = ""
    link: str | None = None


@dataclass
class BackendResult:
    backend: Backend
    observations: list[Observation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class EvidenceSource(Protocol):
    """A backend collector: what it found for a pod over a window (raises BackendError when it cannot answer)."""

    name: Backend

    async def observe(self, scope: PodScope, window: TimeWindow) -> BackendResult: ...


def from_settings(settings: Settings, links: LinkBuilder | None = None) -> list[EvidenceSource]:
    """The collectors the settings configure; empty (and nothing imported) when none is."""
    sources: list[EvidenceSource] = []
    if settings.prometheus_url:
        from aegis.core.evidence.prometheus import PrometheusCollector

        sources.append(PrometheusCollector(settings.prometheus_url, tenant=settings.prometheus_tenant, links=links))
    if settings.loki_url:
        from aegis.core.evidence.loki import LokiCollector

        sources.append(LokiCollector(settings.loki_url, tenant=settings.loki_tenant, links=links))
    return sources


async def collect(sources: Sequence[EvidenceSource], scope: PodScope, window: TimeWindow, *, timeout: float) -> list[BackendResult]:
    """Ask every source concurrently, each within `timeout`; failures come back as notes."""
    return list(await asyncio.gather(*(_one(source, scope, window, timeout) for source in sources)))


async def _one(source: EvidenceSource, scope: PodScope, window: TimeWindow, timeout: float) -> BackendResult:
    log = telemetry.get_logger(backend=source.name, namespace=scope.namespace, pod=scope.pod)
    started = time.perf_counter()
    title = _TITLE[source.name]
    try:
        async with asyncio.timeout(timeout):
            result = await source.observe(scope, window)
    except TimeoutError:
        telemetry.BACKEND_QUERIES.labels(backend=source.name, outcome="timeout").inc()
        log.warning("analysis.backend.timeout", timeout_s=timeout)
        return BackendResult(source.name, notes=[f"{title} did not answer within {timeout:g} s; its evidence is missing (AEGIS_BACKEND_TIMEOUT_SECONDS)."])
    except BackendError as exc:
        telemetry.BACKEND_QUERIES.labels(backend=source.name, outcome="error").inc()
        log.warning("analysis.backend.failed", error=str(exc))
        return BackendResult(source.name, notes=[f"{title} evidence is missing: {exc}"])
    telemetry.BACKEND_QUERIES.labels(backend=source.name, outcome="ok").inc()
    log.debug("analysis.backend.complete", observations=len(result.observations), duration_ms=round((time.perf_counter() - started) * 1000, 1))
    return result


def number(observations: Sequence[Observation], *, after: int, source: ObjectRef | None) -> list[Evidence]:
    """Evidence with ids that continue the diagnosis' own (E<n+1>, …), so citations stay unambiguous."""
    return [
        Evidence(id=EvidenceId(f"E{after + i}"), kind=o.kind, summary=o.summary, excerpt=o.excerpt, source=source, link=o.link)
        for i, o in enumerate(observations, start=1)
    ]


_TITLE: dict[Backend, str] = {"prometheus": "Prometheus", "loki": "Loki"}
