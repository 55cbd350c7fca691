"""Silence, Unsilence and I'm on it on an alert's incident: who may, what Alertmanager is asked, what the parent shows.

Fast tier: the crashloop-missing-env snapshot, the in-memory chat, and an in-memory Alertmanager behind httpx's fake
transport. The same over real HTTP, Slack-signed clicks and the real Alertmanager binary is
tests/integration/bot/test_silence_live.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aegis.bot.alert_updates import from_webhook
from aegis.bot.alertmanager import WebhookPayload
from aegis.bot.app import incident_service
from aegis.bot.authz import Authorizer
from aegis.bot.demo.memory_chat import MemoryChatClient
from aegis.bot.render import blocks
from aegis.core.alertmanager_api import AlertmanagerApi
from aegis.core.config import Settings
from aegis.core.incidents import silencing
from aegis.core.incidents.service import IncidentService
from aegis.core.incidents.view import Refusal
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Incident, IncidentId, IncidentState, ObjectRef
from aegis.core.store import open_store
from tests.incidents import EXAMPLES

CHANNEL = "C0ALERTS"
APPROVER = "U0APPROVER"
SILENCER = "U0SILENCER"
STRANGER = "U0STRANGER"
POD = "checkout-7d9f8b6c5d-x2x9k"


@dataclass
class FakeAlertmanager:
    """Alertmanager's silences endpoints, in memory: enough to see what AEGIS asks for."""

    silences: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    down: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("All connection attempts failed", request=request)
        if request.method == "POST":
            body = json.loads(request.content)
            old = body.pop("id", None)
            if old:
                self.silences[old]["status"] = {"state": "expired"}
            sid = f"s{len(self.silences) + 1}"
            self.silences[sid] = {**body, "id": sid, "status": {"state": "active"}}
            return httpx.Response(200, json={"silenceID": sid})
        if request.method == "GET":
            return httpx.Response(200, json=list(self.silences.values()))
        sid = request.url.path.rsplit("/", 1)[-1]
        if self.silences[sid]["status"]["state"] == "expired":
            return httpx.Response(500, json=f"silence {sid} already expired")
        self.silences[sid]["status"] = {"state": "expired"}
        return httpx.Response(200)

    def active(self) -> list[dict[str, Any]]:
        return [s for s in self.silences.values() if s["status"]["state"] == "active"]


@dataclass
class Bot:
    service: IncidentService
    chat: MemoryChatClient
    am: FakeAlertmanager

    async def incident(self) -> Incident:
        found = await self.service.parts.store.get(IncidentId("INC-1"))
        assert found is not None
        return found

    def parent(self) -> dict[str, Any]:
        (parent,) = [m for m in self.chat.messages(CHANNEL) if m.thread_ts is None]
        return {"text": parent.text, "blocks": parent.blocks}

    def parent_buttons(self) -> list[str]:
        return [e["action_id"] for b in self.parent()["blocks"] if b["type"] == "actions" for e in b["elements"]]

    def replies(self) -> list[str]:
        (parent,) = [m for m in self.chat.messages(CHANNEL) if m.thread_ts is None]
        return [m.text for m in self.chat.thread(CHANNEL, parent.ts)]


async def start(tmp_path: Path, settings: Settings, *, source_alert: bool = True) -> AsyncIterator[Bot]:
    chat = MemoryChatClient()
    store = await open_store(str(tmp_path / "aegis.db"))
    investigator = Investigator(SnapshotGateway.open(EXAMPLES / "crashloop-missing-env" / "snapshot"))
    authorizer = Authorizer(approvers=[APPROVER], approver_groups=[], chat=chat)
    service = incident_service(settings, chat=chat, store=store, investigator=investigator, authorizer=authorizer, alert_channel=CHANNEL)
    am = FakeAlertmanager()
    if service.parts.alertmanager is not None:
        service.parts.alertmanager = AlertmanagerApi(settings.alertmanager_url or "", transport=httpx.MockTransport(am))
    if source_alert:
        payload = {
            "version": "4",
            "groupKey": "g",
            "status": "firing",
            "receiver": "aegis",
            "externalURL": "https://am.example.com",
            "commonLabels": {"namespace": "shop", "alertname": "KubePodCrashLooping"},
            "commonAnnotations": {"runbook_url": "https://runbooks.example.com/crashloop", "dashboard_url": "https://grafana.example.com/d/x?token=abc123xyz9"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": POD},
                    "fingerprint": "f1",
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up&password=Hunter2-Zq9v",
                }
            ],
        }
        await service.handle_alerts(from_webhook(WebhookPayload.model_validate(payload)))
    else:
        await service.request_analysis(ObjectRef(kind="Deployment", namespace="shop", name="checkout"), user=APPROVER, channel=CHANNEL)
    await service.drain()
    try:
        yield Bot(service, chat, am)
    finally:
        await service.drain()
        await store.close()


SETTINGS = Settings(alertmanager_url="http://alertmanager:9093", silencers=[SILENCER], slack_workspace_url="https://acme.slack.com")


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    async for running in start(tmp_path, SETTINGS):
        yield running


async def test_an_approver_silences_and_the_parent_says_until_when(bot: Bot) -> None:
    """Silence 4 h: one silence in Alertmanager with the workload's matchers, createdBy and the thread in the comment;
    the parent says silenced until, links the silence and offers Unsilence instead of the Silence buttons."""
    assert bot.parent_buttons() == [blocks.ACTION_ACK, *blocks.ACTION_SILENCE.values()]
    incident = await bot.incident()
    link = "https://acme.slack.com/archives/C0ALERTS/p" + (incident.thread_ts or "").replace(".", "")
    outcome = await silencing.silence(bot.service.parts, incident.id, user=APPROVER, user_name="alice", hours=4, thread_url=link)
    await bot.service.drain()
    assert outcome.done, outcome
    (made,) = bot.am.active()
    assert [(m["name"], m["value"], m["isRegex"]) for m in made["matchers"]][:2] == [("namespace", "shop", False), ("alertname", "KubePodCrashLooping", False)]
    assert made["matchers"][2]["name"] == "pod" and POD in made["matchers"][2]["value"]
    assert made["createdBy"] == f"alice ({APPROVER})" and link in made["comment"] and silencing.tag(incident) in made["comment"]
    hours = (datetime.fromisoformat(made["endsAt"]) - datetime.fromisoformat(made["startsAt"])).total_seconds() / 3600
    assert hours == 4
    stored = await bot.incident()
    assert stored.silence is not None and stored.silence.id == made["id"] and stored.silence.by == APPROVER
    assert stored.silence.url == f"https://am.example.com/#/silences/{made['id']}"
    parent = json.dumps(bot.parent())
    assert "Silenced until <!date^" in parent and f"<@{APPROVER}>" in parent and stored.silence.url in parent
    assert bot.parent_buttons() == [blocks.ACTION_ACK, blocks.ACTION_UNSILENCE]
    assert any("silenced this workload's alerts" in r and f"<@{APPROVER}>" in r for r in bot.replies())


async def test_unsilence_expires_every_silence_of_the_incident(bot: Bot) -> None:
    """Two silences made by racing clicks (the second stored): Unsilence expires both; the Silence buttons come back."""
    incident = await bot.incident()
    await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=1)
    await bot.service.parts.store.update(incident.id, silence=None)  # the racing click read the incident before the first stored it
    await silencing.silence(bot.service.parts, incident.id, user=SILENCER, hours=24)
    assert len(bot.am.active()) == 2
    outcome = await silencing.unsilence(bot.service.parts, incident.id, user=SILENCER)
    await bot.service.drain()
    assert outcome.done and bot.am.active() == []
    assert (await bot.incident()).silence is None
    assert bot.parent_buttons() == [blocks.ACTION_ACK, *blocks.ACTION_SILENCE.values()]
    assert "Silenced until" not in json.dumps(bot.parent())
    assert any("lifted the silence" in r for r in bot.replies())


async def test_silencing_again_replaces_the_running_silence(bot: Bot) -> None:
    """A second Silence while one runs replaces it (Alertmanager is given its id): one silence stays active."""
    incident = await bot.incident()
    await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=1)
    await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=24)
    assert len(bot.am.active()) == 1 and json.loads(bot.am.requests[-1].content)["id"] == "s1"


async def test_someone_neither_approver_nor_silencer_is_refused_and_audited(bot: Bot) -> None:
    """A stranger's Silence and Unsilence never reach Alertmanager; the refusal names AEGIS_SILENCERS and is audited."""
    incident = await bot.incident()
    outcome = await silencing.silence(bot.service.parts, incident.id, user=STRANGER, hours=1)
    assert outcome.refusal is Refusal.NOT_AUTHORIZED and "AEGIS_SILENCERS" in outcome.detail
    assert (await silencing.unsilence(bot.service.parts, incident.id, user=STRANGER)).refusal is Refusal.NOT_AUTHORIZED
    assert bot.am.requests == []
    audit = await bot.service.parts.store.audit(incident.id)
    assert [(a.actor, a.action, a.outcome) for a in audit if a.actor == STRANGER] == [(STRANGER, "silence", "refused"), (STRANGER, "unsilence", "refused")]


async def test_alertmanager_down_is_a_clear_failure_and_nothing_is_recorded(bot: Bot) -> None:
    """Connection refused: the outcome says Alertmanager is unreachable and which setting to check; no silence is recorded."""
    bot.am.down = True
    incident = await bot.incident()
    outcome = await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=1)
    assert outcome.refusal is Refusal.FAILED and "unreachable" in outcome.detail and "AEGIS_ALERTMANAGER_URL" in outcome.detail
    assert (await bot.incident()).silence is None
    assert (await bot.service.parts.store.audit(incident.id))[-1].outcome == "failed"


async def test_without_alertmanager_configured_there_are_no_silence_buttons_and_a_click_says_why(tmp_path: Path) -> None:
    """AEGIS_ALERTMANAGER_URL unset: the parent offers only I'm on it; an old button's click names the setting."""
    async for bot in start(tmp_path, Settings()):
        assert bot.parent_buttons() == [blocks.ACTION_ACK]
        outcome = await silencing.silence(bot.service.parts, (await bot.incident()).id, user=APPROVER, hours=1)
        assert outcome.refusal is Refusal.FAILED and "AEGIS_ALERTMANAGER_URL" in outcome.detail


async def test_ack_records_the_owner_and_a_handover(bot: Bot) -> None:
    """I'm on it: the owner is on the parent; the same person again changes nothing; someone else takes over."""
    incident = await bot.incident()
    assert (await silencing.acknowledge(bot.service.parts, incident.id, user=STRANGER)).done
    await bot.service.drain()
    assert f"Owner: <@{STRANGER}>" in json.dumps(bot.parent())
    again = await silencing.acknowledge(bot.service.parts, incident.id, user=STRANGER)
    assert again.refusal is Refusal.NOT_NOW and again.detail == "yours"
    assert (await silencing.acknowledge(bot.service.parts, incident.id, user=APPROVER)).done
    await bot.service.drain()
    assert f"Owner: <@{APPROVER}>" in json.dumps(bot.parent())
    assert any(f"<@{APPROVER}> took this over from <@{STRANGER}>" in r for r in bot.replies())


async def test_a_closed_incident_cannot_be_silenced_but_its_silence_can_be_lifted(bot: Bot) -> None:
    """After Reject: Silence and I'm on it are refused as not now; a silence still running can be lifted, and the parent offers it."""
    incident = await bot.incident()
    await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=1)
    rejected = await bot.service.parts.move(incident.id, {incident.state}, IncidentState.REJECTED, APPROVER, "noise")
    assert rejected is not None
    assert (await silencing.silence(bot.service.parts, incident.id, user=APPROVER, hours=4)).refusal is Refusal.NOT_NOW
    assert (await silencing.acknowledge(bot.service.parts, incident.id, user=APPROVER)).refusal is Refusal.NOT_NOW
    assert silencing.offered(rejected, configured=True) == (silencing.Action.UNSILENCE,)
    assert (await silencing.unsilence(bot.service.parts, incident.id, user=APPROVER)).done


async def test_an_analysis_a_person_asked_for_has_nothing_to_silence(tmp_path: Path) -> None:
    """A /aegis analyze incident: no Silence buttons, and a forged click says there is no alert to silence."""
    async for bot in start(tmp_path, SETTINGS, source_alert=False):
        assert bot.parent_buttons() == [blocks.ACTION_ACK]
        outcome = await silencing.silence(bot.service.parts, (await bot.incident()).id, user=APPROVER, hours=1)
        assert outcome.refusal is Refusal.FAILED and "not by an alert" in outcome.detail and bot.am.requests == []


async def test_the_parent_links_are_redacted_like_all_alert_text(bot: Bot) -> None:
    """Runbook, dashboard and the alert's source are links on the parent; a password or token in them is masked."""
    parent = json.dumps(bot.parent(), ensure_ascii=False)
    assert "<https://runbooks.example.com/crashloop|📕 Runbook>" in parent
    assert "prometheus:9090/graph" in parent and "Hunter2-Zq9v" not in parent and "abc123xyz9" not in parent
    incident = await bot.incident()
    labels = [label for label, _ in blocks.alert_links(incident, datetime.now(UTC))]
    assert labels == ["📕 Runbook", "📊 Dashboard", "📈 Alert source"]


async def test_links_a_later_alert_brings_join_the_parent(tmp_path: Path) -> None:
    """The first alert had no runbook (a stuck rollout); the pod alert joining later brings one, and its source: both show."""
    async for bot in start(tmp_path, SETTINGS, source_alert=False):
        first = {"alertname": "KubeDeploymentRolloutStuck", "namespace": "shop", "deployment": "checkout"}
        later = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": POD}
        for n, (labels, notes, source) in enumerate(
            [(first, {}, ""), (later, {"runbook_url": "https://runbooks.example.com/crash"}, "http://prometheus:9090/graph?g0.expr=x")]
        ):
            alert = {"status": "firing", "labels": labels, "fingerprint": f"a{n}", "generatorURL": source}
            payload = {"version": "4", "groupKey": f"g{n}", "status": "firing", "receiver": "aegis", "commonLabels": labels, "commonAnnotations": notes}
            payload["alerts"] = [alert]
            await bot.service.handle_alerts(from_webhook(WebhookPayload.model_validate(payload)))
            await bot.service.drain()
        alert_parents = [m for m in bot.chat.messages(CHANNEL) if m.thread_ts is None and "KubePodCrashLooping" in json.dumps(m.blocks)]
        assert len(alert_parents) == 1
        shown = json.dumps(alert_parents[0].blocks, ensure_ascii=False)
        assert "<https://runbooks.example.com/crash|📕 Runbook>" in shown and "<http://prometheus:9090/graph?g0.expr=x|📈 Alert source>" in shown
