"""The Prometheus collector against recorded API answers: queries, evidence with numbers, soft failures."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from aegis.core.evidence import backends
from aegis.core.evidence.backends import BackendError, BackendResult
from aegis.core.evidence.prometheus import PrometheusCollector
from aegis.core.evidence.scope import PodScope, TimeWindow
from aegis.core.models import EvidenceKind

SCOPE = PodScope(namespace="shop", pod="checkout-7d9f-x2", container="app")
WINDOW = TimeWindow(start=datetime(2026, 11, 25, 15, 30, tzinfo=UTC), end=datetime(2026, 11, 25, 16, 5, tzinfo=UTC))
MIB = 1024 * 1024
T0 = WINDOW.start.timestamp()


def matrix(values: list[float], **labels: str) -> dict[str, Any]:
    return {"metric": labels, "values": [[T0 + 60 * i, str(v)] for i, v in enumerate(values)]}


def answer(query: str) -> list[dict[str, Any]]:
    if "restarts_total" in query:
        return [matrix([2, 2, 3, 5], container="app")]
    if "working_set" in query:
        return [matrix([100 * MIB, 240 * MIB, 255 * MIB], container="app")]
    if "resource_limits" in query:
        return [matrix([256 * MIB, 256 * MIB], container="app")]
    if "throttled" in query:
        return [matrix([0.1, 0.6], container="app")]
    return []


def prometheus(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"status": "success", "data": {"resultType": "matrix", "result": answer(request.url.params["query"])}}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


async def test_queries_are_scoped_and_ranged() -> None:
    """Each query_range names the pod's namespace, pod and container and spans the window with a sane step."""
    seen: list[httpx.Request] = []
    await PrometheusCollector("http://prom:9090", tenant="t1", transport=prometheus(seen)).observe(SCOPE, WINDOW)
    assert len(seen) == 4
    for request in seen:
        assert request.url.path == "/api/v1/query_range"
        assert 'namespace="shop", pod="checkout-7d9f-x2", container="app"' in request.url.params["query"]
        assert float(request.url.params["start"]) == WINDOW.start.timestamp()
        assert float(request.url.params["end"]) == WINDOW.end.timestamp()
        assert int(request.url.params["step"]) >= 15
        assert request.headers["X-Scope-OrgID"] == "t1"
    queries = " ".join(r.url.params["query"] for r in seen)
    for series in (
        "kube_pod_container_status_restarts_total",
        "container_memory_working_set_bytes",
        "kube_pod_container_resource_limits",
        "container_cpu_cfs_throttled_periods_total",
    ):
        assert series in queries


async def test_evidence_states_restarts_memory_against_limit_and_throttling() -> None:
    """Restarts in the window, peak memory as a share of the limit and heavy throttling become metric evidence."""
    result = await PrometheusCollector("http://prom:9090", transport=prometheus([])).observe(SCOPE, WINDOW)
    summaries = [o.summary for o in result.observations]
    assert all(o.kind is EvidenceKind.METRIC for o in result.observations)
    assert any("restarted 3 times in the window (5 in all)" in s for s in summaries)
    assert any("peaked at 255 MiB working set, 100% of its 256 MiB limit" in s for s in summaries)
    assert any("60% of its CPU periods throttled" in s for s in summaries)


async def test_prefix_scope_uses_a_regex_matcher() -> None:
    """Before any pod exists the workload's name prefix is matched with an escaped regex."""
    scope = PodScope(namespace="shop", pod="web.v2", pod_is_prefix=True)
    assert scope.selector() == 'namespace="shop", pod=~"web\\\\.v2-.*"'


async def test_error_answers_are_backend_errors() -> None:
    """Prometheus' own error JSON (bad_data, HTTP 400) becomes a permanent BackendError quoting it."""

    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error at char 5"})

    with pytest.raises(BackendError, match="HTTP 400: parse error at char 5") as info:
        await PrometheusCollector("http://prom:9090", transport=httpx.MockTransport(bad)).observe(SCOPE, WINDOW)
    assert not info.value.transient


async def test_unreachable_and_slow_backends_are_notes() -> None:
    """A refused connection and a source over the time budget each come back as a note, concurrently."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    class Slow:
        name = "loki"

        async def observe(self, scope: PodScope, window: TimeWindow) -> BackendResult:
            await asyncio.Event().wait()  # a hung backend: only the budget ends it
            raise AssertionError("not reached")

    prom = PrometheusCollector("http://127.0.0.1:1", transport=httpx.MockTransport(refuse))
    started = asyncio.get_running_loop().time()
    results = await backends.collect([prom, Slow()], SCOPE, WINDOW, timeout=0.3)
    assert asyncio.get_running_loop().time() - started < 5
    assert "Prometheus evidence is missing" in results[0].notes[0] and "unreachable" in results[0].notes[0]
    assert "Loki did not answer within 0.3 s" in results[1].notes[0]


def test_recorded_shape_round_trips() -> None:
    """The recorded matrix shape is what the Prometheus API documents ([seconds, "value"])."""
    sample = matrix([1.0], container="app")
    assert json.loads(json.dumps(sample))["values"][0][1] == "1.0"
