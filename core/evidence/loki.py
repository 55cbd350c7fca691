"""Log evidence from Loki: the pod's error lines around the incident, with the LogQL that found them.

The stream selector uses the labels Kubernetes log shippers (Grafana Alloy's and Promtail's
kubernetes discovery) set: `namespace`, `pod`, `container`. Lines are redacted before they
become evidence, like the kubelet logs the Kubernetes collector reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from aegis.core import redaction
from aegis.core.evidence.backends import BackendError, BackendResult, Observation
from aegis.core.evidence.scope import Backend, LinkBuilder, PodScope, TimeWindow
from aegis.core.models import EvidenceKind

ERROR_PATTERN = "(?i)(error|exception|fatal|panic|traceback|failed|refused|denied|killed)"
MAX_LINES = 50
SHOWN_LINES = 15


def pod_logs_query(scope: PodScope) -> str:
    """Every line of the pod's container(s): what the Explore link opens."""
    return scope.logql()


def error_lines_query(scope: PodScope) -> str:
    return f'{{{scope.selector()}}} |~ "{ERROR_PATTERN}"'


class LokiCollector:
    """Error lines of one pod over the incident's window, newest first from Loki, shown oldest first."""

    name: Backend = "loki"

    def __init__(
        self, base_url: str, *, tenant: str | None = None, links: LinkBuilder | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"X-Scope-OrgID": tenant} if tenant else {}
        self._links = links
        self._transport = transport

    async def query_range(self, logql: str, window: TimeWindow, *, limit: int = MAX_LINES) -> list[tuple[datetime, dict[str, str], str]]:
        """(time, stream labels, line) of a log query, oldest first."""
        start, end = window.epoch_ns()
        params: dict[str, Any] = {"query": logql, "start": start, "end": end, "limit": limit, "direction": "backward"}
        async with httpx.AsyncClient(base_url=self._base, headers=self._headers, transport=self._transport, timeout=httpx.Timeout(10.0, connect=3.0)) as http:
            try:
                response = await http.get("/loki/api/v1/query_range", params=params)
            except httpx.TimeoutException as exc:
                raise BackendError(self.name, f"{self._base} timed out ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise BackendError(self.name, f"{self._base} is unreachable ({type(exc).__name__}: {exc}); check AEGIS_LOKI_URL") from exc
        if response.status_code != 200:
            # Loki answers errors as plain text ("parse error at line 1, col 5: …", "no org id").
            raise BackendError(
                self.name, f"query_range answered HTTP {response.status_code}: {response.text[:300].strip()}", transient=response.status_code >= 500
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise BackendError(self.name, "query_range answered without JSON", transient=False) from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "streams":
            raise BackendError(self.name, f"query_range answered {data.get('resultType') if isinstance(data, dict) else body!r}, not streams", transient=False)
        lines = [
            (datetime.fromtimestamp(int(ts) / 1e9, UTC), dict(stream.get("stream", {})), str(line))
            for stream in data.get("result", [])
            for ts, line, *_ in stream.get("values", [])
        ]
        return sorted(lines, key=lambda entry: entry[0])

    async def observe(self, scope: PodScope, window: TimeWindow) -> BackendResult:
        result = BackendResult(self.name)
        query = error_lines_query(scope)
        lines = await self.query_range(query, window)
        where = f"{scope.namespace}/{scope.pod}{'*' if scope.pod_is_prefix else ''}" + (f" container {scope.container}" if scope.container else "")
        if not lines:
            result.notes.append(f"Loki has no error lines for {where} in the window.")
            return result
        shown = lines[-SHOWN_LINES:]
        excerpt = "\n".join(f"{at:%H:%M:%S} {redaction.mask(line.rstrip())[:400]}" for at, _, line in shown)
        more = f"{len(lines)}{'+' if len(lines) >= MAX_LINES else ''}"
        last = redaction.mask(shown[-1][2].strip())[:160]
        link = self._links("loki", query, window) if self._links else None
        result.observations.append(
            Observation(EvidenceKind.LOG, f"Loki: {more} error lines from {where} in the window; latest: {last}", excerpt=excerpt, link=link)
        )
        return result
