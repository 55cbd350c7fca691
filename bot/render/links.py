"""Grafana links for a thread: the AEGIS dashboard and Explore, scoped to the pod and the incident's window.

Pure string building (notes/observability.md): the dashboard link is
`/d/<uid>/<slug>?orgId=1&var-namespace=…&var-pod=…&from=<ms>&to=<ms>`; Explore is
`/explore?schemaVersion=1&orgId=1&panes=<url-encoded JSON>` with one pane holding the query and
the same range as epoch-ms strings (the older `left=` form loads only through a lossy migration).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict

from aegis.bot.render.blocks import Links
from aegis.core.config import Settings
from aegis.core.evidence.scope import Backend, LinkBuilder, PodScope, TimeWindow

DASHBOARD_SLUG = "aegis-overview"


class GrafanaConfig(BaseModel):
    """Where Grafana is and the uids its provisioning gave the dashboard and datasources."""

    model_config = ConfigDict(frozen=True)

    url: str
    dashboard_uid: str = "aegis-overview"
    org_id: int = 1
    prometheus_uid: str = "prometheus"
    loki_uid: str = "loki"

    @classmethod
    def from_settings(cls, settings: Settings) -> GrafanaConfig | None:
        if not settings.grafana_url:
            return None
        return cls(
            url=settings.grafana_url.rstrip("/"),
            dashboard_uid=settings.grafana_dashboard_uid,
            org_id=settings.grafana_org_id,
            prometheus_uid=settings.grafana_prometheus_uid,
            loki_uid=settings.grafana_loki_uid,
        )


def dashboard(config: GrafanaConfig, scope: PodScope, window: TimeWindow) -> str:
    """The AEGIS dashboard with its namespace and pod variables set and the time picker on the window."""
    start, end = window.epoch_ms()
    pod = f"{scope.pod}.*" if scope.pod_is_prefix else scope.pod
    query = [("orgId", str(config.org_id)), ("var-namespace", scope.namespace), ("var-pod", pod), ("from", str(start)), ("to", str(end))]
    return f"{config.url}/d/{config.dashboard_uid}/{DASHBOARD_SLUG}?{urlencode(query)}"


def explore(config: GrafanaConfig, backend: Backend, expr: str, window: TimeWindow) -> str:
    """Grafana Explore on one datasource with `expr` over the window."""
    start, end = window.epoch_ms()
    uid = config.loki_uid if backend == "loki" else config.prometheus_uid
    query: dict[str, object] = {"refId": "A", "datasource": {"type": backend, "uid": uid}, "expr": expr}
    if backend == "loki":
        query["queryType"] = "range"
    else:
        query["range"] = True
        query["instant"] = False
    pane = {"datasource": uid, "queries": [query], "range": {"from": str(start), "to": str(end)}}
    panes = json.dumps({"aegis": pane}, separators=(",", ":"))
    return f"{config.url}/explore?{urlencode([('schemaVersion', '1'), ('orgId', str(config.org_id)), ('panes', panes)])}"


def for_scope(config: GrafanaConfig | None, scope: PodScope | None, window: TimeWindow) -> Links:
    """The context line's links: the dashboard and the pod's logs in Explore (none without Grafana)."""
    if config is None or scope is None:
        return Links()
    return Links(grafana=dashboard(config, scope, window), loki=explore(config, "loki", scope.logql(), window))


def builder(config: GrafanaConfig | None) -> LinkBuilder | None:
    """A LinkBuilder for the collectors' evidence (Explore on the query that found it)."""
    if config is None:
        return None

    def build(backend: Backend, query: str, window: TimeWindow) -> str | None:
        return explore(config, backend, query, window)

    return build
