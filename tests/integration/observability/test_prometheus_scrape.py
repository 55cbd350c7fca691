"""A real Prometheus scrapes a running AEGIS (and recorded kube-state-metrics) through an incident.

The bot runs as `aegis serve --http` builds it, with AEGIS_PROMETHEUS_URL and AEGIS_GRAFANA_URL set;
`/aegis analyze` opens an incident whose thread must carry metric evidence from that Prometheus, the
Grafana links and the memory/restarts graph. Then every PromQL query of the dashboard and of the
alert rules runs against the same Prometheus, and the panels fed by AEGIS return data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.app import BotApp
from aegis.bot.observability import Observability
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.store import open_store
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, SECRET, SNAPSHOT, latest, sign, slash_body
from tests.integration.observability.prometheus import ALERTS, RecordedKubeMetrics, dashboard_queries, poll, prometheus, rule_queries
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration

POD, CONTAINER = "checkout-7d9f8b6c5d-x2x9k", "checkout"
GRAFANA = "https://grafana.example.com"
GRAFANA_VARS = {"$namespace": "shop", "$pod": ".+", "$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s"}
# Panels whose series AEGIS itself exports and this incident exercises: they must return data.
AEGIS_PANELS = {
    "Incidents detected by severity",
    "Incidents detected by namespace",
    "Workflow success rate",
    "Workflow runs by stage and outcome",
    "Analysis duration (p50, p95)",
    "Active shadow environments",
    "Slack API errors",
    "AEGIS scrape health",
    "Backend queries (Prometheus, Loki) by outcome",
    "Pod memory working set and limit",
    "Pod restarts and waiting reasons",
    "Pod CPU throttling",
}


@dataclass
class Stack:
    bot: BotApp
    standin: SlackStandIn
    prometheus: str
    http: httpx.AsyncClient

    async def query(self, promql: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.prometheus}/api/v1/query", params={"query": promql})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{promql}: {body}"
        return list(body["data"]["result"])


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """Slack stand-in, the bot over HTTP, recorded kube-state-metrics, and Prometheus scraping the last two."""
    kube = RecordedKubeMetrics("shop", POD, CONTAINER)
    async with SlackStandIn(rate_per_second=None).serve() as standin, kube.serve() as kube_target:
        aegis_port_holder: dict[str, int] = {}
        store = await open_store(str(tmp_path / "aegis.db"))
        chat = SlackChatClient(standin.token, standin.url, per_channel_interval=0.0)
        # The bot must know Prometheus' URL before it starts, and Prometheus the bot's port: bind the bot first.
        runner: web.AppRunner | None = None
        try:
            placeholder = config.load(
                slack_bot_token=standin.token, slack_signing_secret=SECRET, slack_api_url=standin.url, slack_channel=CHANNEL,
                alertmanager_token=ALERT_TOKEN, store_url=str(tmp_path / "aegis.db"),
            )  # fmt: skip
            site_app = web.Application()
            runner = web.AppRunner(site_app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            aegis_port_holder["port"] = runner.addresses[0][1]
            await runner.cleanup()
            runner = None
            port = aegis_port_holder["port"]
            async with prometheus(tmp_path, {"aegis": f"127.0.0.1:{port}", "kube-state-metrics": kube_target}, (ALERTS,)) as prom_url:
                settings = placeholder.model_copy(update={"prometheus_url": prom_url, "grafana_url": GRAFANA, "backend_timeout_seconds": 10.0})
                investigator = Investigator(SnapshotGateway.open(SNAPSHOT), settings=settings, links=Observability.from_settings(settings).link_builder)
                bot = app_factory.build(settings, chat=chat, store=store, investigator=investigator)
                runner = web.AppRunner(bot.web)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                    yield Stack(bot, standin, prom_url, http)
                await bot.service.drain()
        finally:
            if runner is not None:
                await runner.cleanup()
            await chat.aclose()
            await store.close()


async def test_incident_thread_and_every_query_against_real_prometheus(stack: Stack) -> None:
    """Evidence, links and graph come from the real Prometheus; every dashboard and rule query runs; AEGIS panels have data."""
    started = time.time()

    async def scraped() -> bool:
        up = await stack.query('up{job=~"aegis|kube-state-metrics"} == 1')
        samples = await stack.query("count_over_time(kube_pod_container_status_restarts_total[1m])")
        return len(up) == 2 and bool(samples) and float(samples[0]["value"][1]) >= 3

    await poll("Prometheus to scrape AEGIS and kube-state-metrics", scraped, timeout=60)

    body = slash_body("analyze deploy/checkout -n shop")
    response = await stack.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))
    assert response.status_code == 200
    await stack.bot.service.drain()

    messages = stack.standin.recorder.messages(CHANNEL)
    (parent,) = [m for m in messages if m.thread_ts is None]
    replies = stack.standin.recorder.thread(CHANNEL, parent.ts)
    diagnosis = latest(replies[0])
    text = json.dumps(diagnosis)
    assert "missing_env_var" in diagnosis["text"]
    assert f"Prometheus: container {CONTAINER} of shop/{POD} restarted" in text
    assert "MiB working set" in text and "of its 256 MiB limit" in text

    footer = next(e["text"] for b in diagnosis["blocks"] if b["type"] == "context" for e in b["elements"] if "Grafana dashboard" in e["text"])
    dashboard_url, loki_url = re.findall(r"<(https?:[^|>]+)\|", footer)[:2]
    dash = parse_qs(urlsplit(dashboard_url).query)
    assert urlsplit(dashboard_url).path == "/d/aegis-overview/aegis-overview"
    assert dash["var-namespace"] == ["shop"] and dash["var-pod"] == [POD]
    assert int(dash["from"][0]) < int(started * 1000) < int(dash["to"][0])
    (pane,) = json.loads(parse_qs(urlsplit(loki_url).query)["panes"][0]).values()
    assert pane["queries"][0]["expr"] == f'{{namespace="shop", pod="{POD}"}}'
    assert pane["range"] == {"from": dash["from"][0], "to": dash["to"][0]}

    (graph,) = [f for f in stack.standin.recorder.files.values() if f.thread_ts == parent.ts]
    assert graph.content is not None and graph.content[:8] == b"\x89PNG\r\n\x1a\n" and graph.filename.endswith(".png")

    async def counted() -> bool:
        runs = await stack.query('aegis_workflow_runs_total{stage="analyze", outcome="ok"} >= 1')
        incidents = await stack.query('aegis_incidents_total{source="slash_command", namespace="shop"} >= 1')
        return bool(runs and incidents)

    await poll("AEGIS's incident and workflow counters in Prometheus", counted, timeout=30)

    queries = dashboard_queries(GRAFANA_VARS)
    assert {title for title, _ in queries} >= AEGIS_PANELS

    async def aegis_panels_have_data() -> list[str] | bool:
        # Every query must run; each AEGIS panel needs data from at least one of its queries.
        with_data: set[str] = set()
        for title, expr in queries:
            if await stack.query(expr):
                with_data.add(title)
        return not (AEGIS_PANELS - with_data) or False

    await poll("every AEGIS panel to return data", aegis_panels_have_data, timeout=30)
    for _alert, expr in rule_queries():
        await stack.query(expr)  # each rule's expression is valid PromQL on this Prometheus

    # The rules loaded into this Prometheus too, and the crash-looping rule is pending on the recorded pod.
    rules = (await stack.http.get(f"{stack.prometheus}/api/v1/rules")).json()["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} == {a for a, _ in rule_queries()}
    crashloop = next(r for g in rules for r in g["rules"] if r["name"] == "KubePodCrashLooping")
    assert crashloop["health"] == "ok" and any(a["labels"]["pod"] == POD for a in crashloop["alerts"])
