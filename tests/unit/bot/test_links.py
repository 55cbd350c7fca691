"""Grafana links: the dashboard and Explore URLs decode to the pod's scope, its LogQL and the incident's window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from aegis.bot.observability import Observability, scope_of
from aegis.bot.render import blocks, links
from aegis.core import config
from aegis.core.evidence.scope import PodScope, TimeWindow
from aegis.core.models import Incident, IncidentId, IncidentSource, ObjectRef
from tests.unit.bot.test_blocks import _diagnosis

CONFIG = links.GrafanaConfig(url="https://grafana.example.com/sub", dashboard_uid="aegis-overview", loki_uid="loki-main")
SCOPE = PodScope(namespace="shop", pod="checkout-7d9f-x2")
WINDOW = TimeWindow(start=datetime(2026, 11, 25, 15, 30, tzinfo=UTC), end=datetime(2026, 11, 25, 16, 5, tzinfo=UTC))
START_MS, END_MS = 1795620600000, 1795622700000


def test_window_in_epoch_ms() -> None:
    """The window converts to the epoch milliseconds Grafana's from/to take."""
    assert WINDOW.epoch_ms() == (START_MS, END_MS)


def test_dashboard_link_scopes_namespace_pod_and_range() -> None:
    """/d/<uid>/<slug> with orgId, var-namespace, var-pod, from and to."""
    url = urlsplit(links.dashboard(CONFIG, SCOPE, WINDOW))
    assert url.netloc == "grafana.example.com" and url.path == "/sub/d/aegis-overview/aegis-overview"
    q = parse_qs(url.query)
    assert q == {"orgId": ["1"], "var-namespace": ["shop"], "var-pod": ["checkout-7d9f-x2"], "from": [str(START_MS)], "to": [str(END_MS)]}


def test_explore_link_carries_loki_query_and_range_in_panes() -> None:
    """/explore?schemaVersion=1&orgId=1&panes=<JSON>: one pane on the Loki uid, the pod's LogQL, range as ms strings."""
    url = urlsplit(links.explore(CONFIG, "loki", SCOPE.logql(), WINDOW))
    assert url.path == "/sub/explore"
    q = parse_qs(url.query)
    assert q["schemaVersion"] == ["1"] and q["orgId"] == ["1"]
    (pane,) = json.loads(q["panes"][0]).values()
    assert pane["datasource"] == "loki-main"
    assert pane["range"] == {"from": str(START_MS), "to": str(END_MS)}
    (query,) = pane["queries"]
    assert query["expr"] == '{namespace="shop", pod="checkout-7d9f-x2"}'
    assert query["datasource"] == {"type": "loki", "uid": "loki-main"} and query["queryType"] == "range" and query["refId"] == "A"


def test_links_reach_the_diagnosis_context_line() -> None:
    """IncidentService's links land in the diagnosis reply's context line, both of them."""
    settings = config.load(grafana_url="https://grafana.example.com/")
    obs = Observability.from_settings(settings)
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    incident = Incident(
        id=IncidentId("INC-7"), source=IncidentSource.SLASH_COMMAND, title="t", target=ObjectRef(kind="Pod", namespace="shop", name="checkout-7d9f-x2"),
        created_at=now, updated_at=now,
    )  # fmt: skip
    diagnosis = _diagnosis()
    message = blocks.diagnosis_reply(incident, diagnosis, obs.links(incident, diagnosis))
    context = [b for b in message.blocks if b["type"] == "context"]
    footer = next(b["elements"][0]["text"] for b in context if "Grafana dashboard" in b["elements"][0]["text"])
    assert "|Loki logs>" in footer and "var-pod=checkout-7d9f-x2" in footer and "/explore?" in footer


def test_no_grafana_no_links_and_scope_falls_back_to_workload_prefix() -> None:
    """Without AEGIS_GRAFANA_URL there are no links; a Deployment without pod evidence scopes by name prefix."""
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    incident = Incident(
        id=IncidentId("INC-8"), source=IncidentSource.ALERTMANAGER, title="t", target=ObjectRef(kind="Deployment", namespace="shop", name="web"),
        created_at=now, updated_at=now,
    )  # fmt: skip
    assert Observability().links(incident, None) == blocks.Links()
    assert scope_of(incident, None) == PodScope(namespace="shop", pod="web", pod_is_prefix=True)
    assert "var-pod=web.%2A" in links.dashboard(CONFIG, PodScope(namespace="shop", pod="web", pod_is_prefix=True), WINDOW)
