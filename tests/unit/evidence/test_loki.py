"""The Loki collector against recorded Loki API responses (query_range streams and plain-text errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aegis.core.evidence import backends
from aegis.core.evidence.backends import BackendError
from aegis.core.evidence.loki import ERROR_PATTERN, LokiCollector, error_lines_query
from aegis.core.evidence.scope import PodScope, TimeWindow
from aegis.core.models import EvidenceKind

RECORDED = Path(__file__).parents[2] / "data" / "loki"
SCOPE = PodScope(namespace="shop", pod="checkout-7d9f-x2", container="app")
WINDOW = TimeWindow(start=datetime(2026, 11, 25, 15, 30, tzinfo=UTC), end=datetime(2026, 11, 25, 16, 5, tzinfo=UTC))


def transport(seen: list[httpx.Request], status: int = 200, body: str | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        text = body if body is not None else (RECORDED / "query_range_streams.json").read_text()
        return httpx.Response(status, text=text, headers={"Content-Type": "application/json" if status == 200 else "text/plain"})

    return httpx.MockTransport(handle)


async def test_query_is_scoped_to_pod_and_window_with_tenant() -> None:
    """The request carries the pod's LogQL, the window in epoch ns, a limit, backward direction and X-Scope-OrgID."""
    seen: list[httpx.Request] = []
    await LokiCollector("http://loki:3100/", tenant="team-a", transport=transport(seen)).observe(SCOPE, WINDOW)
    (request,) = seen
    assert request.url.path == "/loki/api/v1/query_range"
    params = request.url.params
    assert params["query"] == '{namespace="shop", pod="checkout-7d9f-x2", container="app"} |~ "' + ERROR_PATTERN + '"'
    assert int(params["start"]) == int(WINDOW.start.timestamp()) * 10**9
    assert int(params["end"]) == int(WINDOW.end.timestamp()) * 10**9
    assert params["direction"] == "backward" and int(params["limit"]) > 0
    assert request.headers["X-Scope-OrgID"] == "team-a"


async def test_error_lines_become_redacted_log_evidence_oldest_first_with_link() -> None:
    """Lines of all streams merge oldest first; secrets are masked; the link comes from the injected builder."""
    links: list[tuple[str, str]] = []

    def link(backend: str, query: str, window: TimeWindow) -> str:
        links.append((backend, query))
        return "https://grafana.example/explore?x"

    result = await LokiCollector("http://loki:3100", links=link, transport=transport([])).observe(SCOPE, WINDOW)
    (obs,) = result.observations
    assert obs.kind is EvidenceKind.LOG
    assert obs.summary.startswith("Loki: 3 error lines from shop/checkout-7d9f-x2 container app")
    lines = obs.excerpt.splitlines()
    assert "FATAL missing required" in lines[0] and "retry failed" in lines[1] and "connection refused" in lines[2]
    assert "hunter2hunter2" not in obs.excerpt
    assert obs.link == "https://grafana.example/explore?x"
    assert links == [("loki", error_lines_query(SCOPE))]


async def test_no_lines_is_a_note_not_evidence() -> None:
    """An empty streams answer yields a note and no evidence."""
    empty = json.dumps({"status": "success", "data": {"resultType": "streams", "result": []}})
    result = await LokiCollector("http://loki:3100", transport=transport([], body=empty)).observe(SCOPE, WINDOW)
    assert result.observations == [] and "no error lines" in result.notes[0]


async def test_plain_text_error_is_a_backend_error() -> None:
    """Loki's plain-text 400 (bad LogQL) surfaces as a permanent BackendError with Loki's words."""
    collector = LokiCollector("http://loki:3100", transport=transport([], status=400, body="parse error at line 1, col 2: syntax error"))
    with pytest.raises(BackendError, match="HTTP 400: parse error") as info:
        await collector.observe(SCOPE, WINDOW)
    assert info.value.transient is False


async def test_unreachable_loki_becomes_a_note() -> None:
    """A refused connection is a note from backends.collect, never an exception."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    collector = LokiCollector("http://loki:3100", transport=httpx.MockTransport(refuse))
    (result,) = await backends.collect([collector], SCOPE, WINDOW, timeout=2)
    assert result.observations == []
    assert result.notes[0].startswith("Loki evidence is missing: loki: http://loki:3100 is unreachable (ConnectError")


def test_window_defaults_cover_lookback() -> None:
    """TimeWindow.around reaches back the lookback and a minute past the end."""
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    window = TimeWindow.around(now, lookback_minutes=30)
    assert window.start == now - timedelta(minutes=30) and window.end == now + timedelta(minutes=1)
