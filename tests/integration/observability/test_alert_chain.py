"""The alert path end to end on the real control plane, with nothing faked but Slack.

An example workload breaks (crashloop-missing-env, the missing DATABASE_URL) → the real
kube-state-metrics, watching the control plane, shows it CrashLoopBackOff → the shipped
KubePodCrashLooping rule fires in a real Prometheus → a real Alertmanager, configured like
deploy/docker/alertmanager.yml, posts to AEGIS's webhook with its bearer token → exactly one
thread in the Slack stand-in, diagnosed from the live cluster through AEGIS's ServiceAccount, with
Prometheus evidence, the Grafana/Loki links and the memory/restarts graph → an approver clicks
Verify in shadow (the clone passes) and Apply fix (the rollout completes) → the alert resolves,
Alertmanager posts `resolved`, and the parent is edited to say so. This is DESIGN.md's e2e tier.
Then every dashboard and alert-rule query runs against that Prometheus, which has scraped AEGIS and
kube-state-metrics through a whole incident.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.observability import Observability
from aegis.bot.render import blocks
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config
from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Incident as AegisIncident
from aegis.core.models import IncidentState, ObjectRef
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy
from aegis.core.store import open_store
from tests.incidents import EXAMPLES, Incident, load_all
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, SECRET, block_actions, interaction_body, latest, sign
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example
from tests.integration.observability.alertmanager import alertmanager, config_for_test
from tests.integration.observability.kube_state_metrics import container_series, kube_state_metrics
from tests.integration.observability.prometheus import ALERTS, dashboard_queries, free_port, poll, prometheus, rule_queries
from tests.slack_standin.server import Message, SlackStandIn

pytestmark = pytest.mark.integration

EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "crashloop-missing-env")
GRAFANA = "https://grafana.example.com"
APPROVER = "U0APPROVER"
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RANGE = re.compile(r"\[((?:\d+[smhdw])+)\]")
# Dashboard panels this run must feed: AEGIS's own series and kube-state-metrics' pod series. The
# memory and CPU panels read kubelet (cAdvisor) series, which KWOK's fake nodes do not export.
LIVE_PANELS = {
    "Incidents detected by severity",
    "Incidents detected by namespace",
    "Workflow runs by stage and outcome",
    "AEGIS scrape health",
    "Pod restarts and waiting reasons",
}


def _seconds(duration: str) -> int:
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(duration))


def _minutes_as_seconds(duration: str) -> str:
    seconds = _seconds(duration)
    return f"{max(1, seconds // 60)}s" if seconds else "0s"


def scaled_rules(into: Path) -> Path:
    """A temp copy of the shipped rules with every duration divided by 60 (minutes become seconds).

    Two fields change, on the parsed YAML: each rule's `for` (15m before KubePodCrashLooping fires
    would make the test last a quarter of an hour) and the range selectors in `expr` (`[5m]`: a
    healed pod's CrashLoopBackOff sample would keep the alert firing five minutes after the pod is
    gone, delaying the resolution). Dividing both by the same factor keeps each rule's proportions;
    with the 1 s scrape and evaluation interval a 5 s window still holds five samples. The shipped
    file itself is unchanged (promtool tests it as it is, deploy/check.sh).
    """
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = _minutes_as_seconds(str(rule["for"]))
            rule["expr"] = _RANGE.sub(lambda m: f"[{_minutes_as_seconds(m.group(1))}]", rule["expr"])
    into.write_text(yaml.safe_dump(rules, sort_keys=False))
    return into


def single_replica(example: Incident, into: Path) -> Incident:
    """The example with one replica, one pod, so one alert per rule and the incident's pod label is that pod's.

    One thread per workload does not depend on it: AEGIS merges a workload's alerts whatever the route's grouping.
    """
    docs = [d for d in yaml.safe_load_all((example.directory / "manifest.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = 1
    into.mkdir(parents=True)
    (into / "manifest.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return Incident(example.name, into, example.expected)


def parents(standin: SlackStandIn) -> list[Message]:
    return [m for m in standin.recorder.messages(CHANNEL) if m.thread_ts is None]


async def test_alert_fires_threads_diagnoses_and_resolves_on_the_live_cluster(control_plane: Cluster, tmp_path: Path) -> None:
    """Break → Prometheus rule fires → Alertmanager → one diagnosed thread with links and graph → fix → resolved edits the parent."""
    timings: dict[str, float] = {}
    started = time.monotonic()

    def mark(phase: str) -> None:
        timings[phase] = round(time.monotonic() - started, 1)

    # deploy_example blocks (a sync client, sleeps between revisions): keep it off the event loop.
    target = await asyncio.to_thread(deploy_example, control_plane, single_replica(EXAMPLE, tmp_path / "example"))
    ns = target.namespace
    mark("deployed")

    (tmp_path / "alertmanager-token").write_text(ALERT_TOKEN)
    rules = scaled_rules(tmp_path / "prometheus-alerts.yaml")
    # AEGIS must know Prometheus' URL before it starts, Alertmanager AEGIS's, and Prometheus Alertmanager's.
    prometheus_port = free_port()
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(gateway.close)
        standin = await stack.enter_async_context(SlackStandIn(rate_per_second=None).serve())
        settings = config.load(
            slack_bot_token=standin.token, slack_signing_secret=SECRET, slack_api_url=standin.url, slack_channel=CHANNEL,
            alertmanager_token=ALERT_TOKEN, store_url=str(tmp_path / "aegis.db"), approvers=[APPROVER], rollout_timeout_seconds=90, apply_watch_seconds=0,
            prometheus_url=f"http://127.0.0.1:{prometheus_port}", grafana_url=GRAFANA, backend_timeout_seconds=10.0,
        )  # fmt: skip
        store = await open_store(settings.store_url)
        stack.push_async_callback(store.close)
        chat = SlackChatClient(standin.token, standin.url, per_channel_interval=0.0)
        stack.push_async_callback(chat.aclose)
        kube_target = await stack.enter_async_context(kube_state_metrics(tmp_path, control_plane.admin_kubeconfig, (ns,)))
        investigator = Investigator(gateway, settings=settings, links=Observability.from_settings(settings).link_builder)
        shadow = ShadowManager(gateway, ShadowPolicy(settle_seconds=2.0, timeout_seconds=60.0, cleanup_wait_seconds=10.0))
        stack.push_async_callback(shadow.aclose)
        remediator = Remediator(gateway, rollout_timeout=90)
        bot = app_factory.build(settings, chat=chat, store=store, investigator=investigator, shadow=shadow, remediator=remediator)
        runner = web.AppRunner(bot.web, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        bot_address = f"127.0.0.1:{runner.addresses[0][1]}"
        stack.push_async_callback(bot.service.drain)
        am_config = config_for_test(f"http://{bot_address}/alertmanager/webhook", tmp_path / "alertmanager-token")
        am = await stack.enter_async_context(alertmanager(tmp_path, am_config))
        prom_url = await stack.enter_async_context(
            prometheus(tmp_path, {"aegis": bot_address, "kube-state-metrics": kube_target}, (rules,), port=prometheus_port, alertmanager=am)
        )
        mark("stack up")
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=5))

        async def state() -> str:
            """What Prometheus and Alertmanager see now, and the pods, for timeout messages."""
            alerts = (await http.get(f"{prom_url}/api/v1/alerts")).json()["data"]["alerts"]
            am_alerts = (await http.get(f"http://{am}/api/v2/alerts")).json()
            pods = await asyncio.to_thread(control_plane.dump, ns)
            series = await container_series(kube_target, ns)
            return f"prometheus alerts: {json.dumps(alerts)}\nalertmanager: {json.dumps(am_alerts)}\nkube-state-metrics:\n{series}\n{pods}"

        # 1. The rule fires, Alertmanager posts, AEGIS opens one thread and diagnoses it from the live cluster.
        async def diagnosed_thread() -> tuple[Message, dict[str, Any]] | None:
            found = parents(standin)
            if not found:
                return None
            replies = [latest(m) for m in standin.recorder.thread(CHANNEL, found[0].ts)]
            diagnosis = next((r for r in replies if "missing_env_var" in r["text"]), None)
            graph = [f for f in standin.recorder.files.values() if f.thread_ts == found[0].ts]
            return (found[0], diagnosis) if diagnosis and graph else None

        try:
            parent, diagnosis = await poll("a diagnosed alert thread with its graph in the Slack stand-in", diagnosed_thread, timeout=150, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await state()}") from None
        mark("thread diagnosed")

        (incident,) = await store.list_open()
        # The alert names a pod; the incident is its workload, resolved through the ReplicaSet that owns it.
        assert incident.target == ObjectRef(kind="Deployment", namespace=ns, name="checkout"), incident.target
        pod = incident.labels["pod"]
        assert incident.title.startswith("KubePodCrashLooping")
        assert [(a.alertname, a.pod, a.firing) for a in incident.alerts] == [("KubePodCrashLooping", pod, True)]
        assert incident.diagnosis is not None and incident.diagnosis.fix is not None
        assert incident.diagnosis.fix.target == ObjectRef(kind="Deployment", namespace=ns, name="checkout")
        live_pods = {p["metadata"]["name"] for p in await asyncio.to_thread(control_plane.pods, ns)}
        assert pod in live_pods, f"the alert names {pod}, the cluster has {live_pods}"

        text = json.dumps(diagnosis)
        assert "DATABASE_URL" in text
        assert f"Prometheus: container checkout of {ns}/{pod} restarted" in text  # metric evidence from the real Prometheus
        footer = next(e["text"] for b in diagnosis["blocks"] if b["type"] == "context" for e in b["elements"] if "Grafana dashboard" in e["text"])
        dashboard_url, loki_url = re.findall(r"<(https?:[^|>]+)\|", footer)[:2]
        dash = parse_qs(urlsplit(dashboard_url).query)
        assert dashboard_url.startswith(f"{GRAFANA}/d/aegis-overview/") and dash["var-namespace"] == [ns] and dash["var-pod"] == [pod]
        (pane,) = json.loads(parse_qs(urlsplit(loki_url).query)["panes"][0]).values()
        assert pane["queries"][0]["expr"] == f'{{namespace="{ns}", pod="{pod}"}}'
        (graph,) = [f for f in standin.recorder.files.values() if f.thread_ts == parent.ts]
        assert graph.content is not None and graph.content[:8] == b"\x89PNG\r\n\x1a\n" and pod in graph.filename

        # Alertmanager repeats the firing group (repeat_interval): AEGIS edits the parent, never a second thread.
        async def repeated() -> AegisIncident | None:
            found = await store.get(incident.id)
            return found if found and found.repeat_count >= 1 else None

        await poll("Alertmanager to repeat the firing group", repeated, timeout=30, interval=0.5)
        mark("repeat seen")

        # 2. From the thread, as the on-call would: Verify in shadow, then Apply (an approver's signed clicks).
        async def click(action_id: str) -> None:
            now = await store.get(incident.id)
            assert now is not None and now.diagnosis_ts is not None
            reply = latest(standin.recorder.message(CHANNEL, now.diagnosis_ts))
            (button,) = [e for b in reply["blocks"] or [] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id]
            body = interaction_body(block_actions(action_id, button["value"], APPROVER, now.diagnosis_ts, trigger_id=f"trig-{action_id}"))
            response = await http.post(f"http://{bot_address}/slack/events", content=body, headers=sign(body, int(time.time())))
            assert response.status_code == 200, response.text

        async def in_state(state: IncidentState) -> AegisIncident | None:
            found = await store.get(incident.id)
            return found if found is not None and found.state is state else None

        await click(blocks.ACTION_VERIFY)
        verified = await poll("the shadow verification to pass", lambda: in_state(IncidentState.VERIFIED), timeout=120, interval=0.5)
        shadows = await asyncio.to_thread(control_plane.api.get, "/api/v1/namespaces", params={"labelSelector": "app.kubernetes.io/managed-by=aegis"})
        assert shadows["items"] == [], [n["metadata"]["name"] for n in shadows["items"]]  # cleaned up before the verdict
        assert verified.id == incident.id
        # The thread is edited after the state is stored (the view is told in the background): wait for the verdict.

        async def verdict_shown() -> bool:
            return any("Shadow verification passed" in json.dumps(latest(m)) for m in standin.recorder.thread(CHANNEL, parent.ts))

        await poll("the verdict in the thread", verdict_shown, timeout=30, interval=0.5)
        mark("verified")
        await click(blocks.ACTION_APPLY)
        await poll("the fix applied and rolled out", lambda: in_state(IncidentState.APPLIED), timeout=150, interval=0.5)
        assert await asyncio.to_thread(control_plane.rolled_out, ns, "checkout")
        mark("applied")

        # 3. The alert resolves; Alertmanager posts `resolved`; the parent is edited to RESOLVED.
        async def resolved() -> dict[str, Any] | None:
            found = await store.get(incident.id)
            if found is None or found.state is not IncidentState.RESOLVED:
                return None
            now = latest(standin.recorder.message(CHANNEL, parent.ts))
            return now if blocks.status_word(IncidentState.RESOLVED) in now["text"] else None

        try:
            parent_now = await poll("the alert to resolve and the parent to say RESOLVED", resolved, timeout=90, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await state()}") from None
        mark("resolved")

        assert len(parents(standin)) == 1, [m.text for m in parents(standin)]
        assert standin.recorder.updates_of(CHANNEL, parent.ts)[-1] == parent_now
        # The diagnosis reply lost its buttons (notes/slack-ux.md: after resolution the buttons go away).
        assert incident.diagnosis_ts is not None
        reply_now = latest(standin.recorder.message(CHANNEL, incident.diagnosis_ts))
        assert not [b for b in reply_now["blocks"] or [] if b["type"] == "actions"], reply_now["blocks"]
        thread_texts = [latest(m)["text"] for m in standin.recorder.thread(CHANNEL, parent.ts)]
        assert any("resolved" in t for t in thread_texts), thread_texts
        audit = [(a.actor, a.action) for a in await store.audit(incident.id)]
        assert ("alertmanager", "alert") in audit and ("alertmanager", "resolve") in audit
        assert (APPROVER, "verify") in audit and (APPROVER, "apply") in audit

        # 4. Every shipped query runs on this Prometheus; the panels fed by AEGIS and kube-state-metrics have this incident's data.
        async def query(promql: str) -> list[dict[str, Any]]:
            body = (await http.get(f"{prom_url}/api/v1/query", params={"query": promql})).json()
            assert body["status"] == "success", f"{promql}: {body}"
            return list(body["data"]["result"])

        variables = {"$namespace": ns, "$pod": ".+", "$__rate_interval": "1m", "$__range": "10m", "$__interval": "15s"}
        with_data = {title for title, expr in dashboard_queries(variables) if await query(expr)}
        assert with_data >= LIVE_PANELS, f"no data: {sorted(LIVE_PANELS - with_data)}"
        for _alert, expr in rule_queries():
            await query(expr)
        (restarts,) = await query(f'max_over_time(kube_pod_container_status_restarts_total{{namespace="{ns}", pod="{pod}"}}[10m])')
        assert float(restarts["value"][1]) >= 1  # the crash loop, as the real kube-state-metrics counted it (the pod is gone now)
        mark("queries")
    timings["total"] = round(time.monotonic() - started, 1)
    print(f"\n[alert chain] {timings}")
