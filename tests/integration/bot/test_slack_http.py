"""The bot over real HTTP both ways: signed Slack requests in, the Slack Web API stand-in out.

The aiohttp server runs on loopback exactly as `aegis serve --http` builds it; requests are signed
as Slack signs them (v0:timestamp:body, HMAC-SHA256); the investigation reads an example snapshot;
the store is SQLite on disk, so a restart is a new app on the same file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot import messages
from aegis.bot.app import BotApp
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config
from aegis.core.incidents.view import Refusal
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import IncidentId, IncidentState
from aegis.core.store import open_store
from aegis.core.store.base import IncidentStore
from tests.incidents import EXAMPLES
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALERT_TOKEN = "am-webhook-token-123"
CHANNEL = "C0INCIDENTS"
APPROVER = "U0APPROVER"
SNAPSHOT = EXAMPLES / "crashloop-missing-env" / "snapshot"


@dataclass
class Running:
    bot: BotApp
    url: str
    standin: SlackStandIn
    store: IncidentStore
    http: httpx.AsyncClient

    async def settle(self) -> None:
        await self.bot.service.drain()


def latest(message: Any) -> dict[str, Any]:
    """A message as it reads now: its last edit, or as posted."""
    return dict(message.updates[-1]) if message.updates else {"text": message.text, "blocks": message.blocks}


def sign(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_body(text: str, user: str = "U0ALICE") -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": CHANNEL,
            "channel_name": "incidents",
            "user_id": user,
            "user_name": "alice",
            "command": "/aegis",
            "text": text,
            "api_app_id": "A1",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "trig-1",
        }
    ).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def block_actions(action_id: str, value: str, user: str, message_ts: str | None, trigger_id: str | None = None, thread_ts: str | None = None) -> dict[str, Any]:
    """A button click's payload as Slack sends it (HTTP: form-encoded by interaction_body; Socket Mode: as is).

    A click on a thread reply carries the reply's ts and its thread's (the parent's) ts."""
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "trigger_id": trigger_id or f"trig-{user}",
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL},
        "message": {"ts": message_ts, **({"thread_ts": thread_ts} if thread_ts else {})},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": value}],
    }


async def start(tmp_path: Path, standin: SlackStandIn, store_file: Path, pacing: float = 0.0) -> AsyncIterator[Running]:
    settings = config.load(
        slack_bot_token=standin.token,
        slack_signing_secret=SECRET,
        slack_api_url=standin.url,
        slack_channel=CHANNEL,
        alertmanager_token=ALERT_TOKEN,
        approvers=[APPROVER],
        store_url=str(store_file),
    )
    store = await open_store(settings.store_url)
    chat = SlackChatClient(standin.token, standin.url, per_channel_interval=pacing)
    bot = app_factory.build(settings, chat=chat, store=store, investigator=Investigator(SnapshotGateway.open(SNAPSHOT)))
    runner = web.AppRunner(bot.web)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        yield Running(bot, f"http://127.0.0.1:{port}", standin, store, http)
    await bot.service.drain()
    await runner.cleanup()
    await chat.aclose()
    await store.close()


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        async for r in start(tmp_path, standin, tmp_path / "aegis.db"):
            yield r


async def slash(r: Running, text: str, *, user: str = "U0ALICE", timestamp: int | None = None) -> httpx.Response:
    body = slash_body(text, user)
    return await r.http.post("/slack/events", content=body, headers=sign(body, timestamp or int(time.time())))


async def test_slash_analyze_posts_a_diagnosed_thread(running: Running) -> None:
    """/aegis analyze acks at once, then one parent (edited to DIAGNOSED) and one diagnosis reply appear in the channel."""
    started = time.perf_counter()
    response = await slash(running, "analyze deploy/checkout -n shop")
    ack_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    assert "Analyzing deployment/checkout -n shop" in response.json()["text"]
    assert ack_ms < 3000
    await running.settle()
    messages = running.standin.recorder.messages(CHANNEL)
    parents = [m for m in messages if m.thread_ts is None]
    assert len(parents) == 1
    replies = running.standin.recorder.thread(CHANNEL, parents[0].ts)
    assert len(replies) == 1, [m.text for m in replies]
    final_reply = latest(replies[0])
    assert "missing_env_var" in final_reply["text"] and "DATABASE_URL" in json.dumps(final_reply)
    assert "DIAGNOSED" in parents[0].updates[-1]["text"]
    incident = (await running.store.list_open())[0]
    assert incident.state is IncidentState.DIAGNOSED and incident.requested_by == "U0ALICE"


@pytest.mark.parametrize(
    ("text", "fragment"), [("analyze", "No target given"), ("analyze ingress/x", "unknown kind"), ("launch rockets", "don't know `launch`")]
)
async def test_bad_slash_input_gets_an_ephemeral_explanation(running: Running, text: str, fragment: str) -> None:
    """Bad input is answered privately with what was wrong, and nothing is posted to the channel."""
    response = await slash(running, text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral" and fragment in body["text"]
    await running.settle()
    assert running.standin.recorder.messages(CHANNEL) == []


async def test_help_and_status(running: Running) -> None:
    """`help` shows examples; `status` lists the open incident after an analysis."""
    assert "/aegis analyze deploy/checkout -n shop" in (await slash(running, "help")).json()["text"]
    await slash(running, "analyze deploy/checkout -n shop")
    await running.settle()
    status = (await slash(running, "status")).json()["text"]
    assert "INC-1" in status and "DIAGNOSED" in status


async def test_forged_expired_and_replayed_requests_are_refused(running: Running) -> None:
    """A wrong signature, a timestamp older than 5 minutes and a replay of a valid request all get 401 and do nothing."""
    body = slash_body("analyze deploy/checkout -n shop")
    forged = sign(body, int(time.time()), secret="not-the-secret")
    assert (await running.http.post("/slack/events", content=body, headers=forged)).status_code == 401
    old = int(time.time()) - 6 * 60
    assert (await running.http.post("/slack/events", content=body, headers=sign(body, old))).status_code == 401
    tampered = sign(body, int(time.time()))
    assert (await running.http.post("/slack/events", content=body + b"&x=1", headers=tampered)).status_code == 401
    valid = sign(body, int(time.time()))
    assert (await running.http.post("/slack/events", content=body, headers=valid)).status_code == 200
    assert (await running.http.post("/slack/events", content=body, headers=valid)).status_code == 401
    await running.settle()
    assert len([m for m in running.standin.recorder.messages(CHANNEL) if m.thread_ts is None]) == 1


def alert_payload(status: str = "firing", fingerprints: tuple[str, ...] = ("f1",), group: str = '{}:{alertname="KubePodCrashLooping"}') -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": group,
        "status": status,
        "receiver": "aegis",
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "severity": "critical"},
        "commonAnnotations": {"summary": "Pod is crash looping."},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                # Each further alert is another replica of the same Deployment: one workload, one incident.
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": f"checkout-7d9f8b6c5d-{_REPLICAS[n % len(_REPLICAS)]}"},
                "annotations": {},
                "startsAt": "2026-11-25T09:15:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fp,
            }
            for n, fp in enumerate(fingerprints)
        ],
    }


_REPLICAS = ("x2x9k", "b7v4q", "m8z5w", "q4t6r")


async def post_alert(r: Running, payload: dict[str, Any] | bytes, auth: str | None = f"Bearer {ALERT_TOKEN}") -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {})}
    return await r.http.post("/alertmanager/webhook", content=content, headers=headers)


async def test_alert_group_lifecycle(running: Running) -> None:
    """One thread per group: first alert posts and diagnoses, a repeat only edits, a new alert replies, resolved edits the parent."""
    assert (await post_alert(running, alert_payload())).status_code in (200, 202)
    await running.settle()
    parents = [m for m in running.standin.recorder.messages(CHANNEL) if m.thread_ts is None]
    assert len(parents) == 1
    parent = parents[0]
    replies_after_first = len(running.standin.recorder.thread(CHANNEL, parent.ts))
    assert "missing_env_var" in json.dumps(latest(running.standin.recorder.thread(CHANNEL, parent.ts)[0]))

    posts_before = len(running.standin.recorder.of("chat.postMessage"))
    assert (await post_alert(running, alert_payload())).status_code in (200, 202)
    await running.settle()
    assert len(running.standin.recorder.of("chat.postMessage")) == posts_before, "a repeat notification must not post"
    assert "fired 2×" in json.dumps(running.standin.recorder.message(CHANNEL, parent.ts).updates[-1], ensure_ascii=False)

    await post_alert(running, alert_payload(fingerprints=("f1", "f2")))
    await running.settle()
    replies = running.standin.recorder.thread(CHANNEL, parent.ts)
    assert len(replies) == replies_after_first + 1 and "1 new alert firing" in replies[-1].text

    await post_alert(running, alert_payload(status="resolved", fingerprints=("f1", "f2")))
    await running.settle()
    assert "RESOLVED" in running.standin.recorder.message(CHANNEL, parent.ts).updates[-1]["text"]
    assert len([m for m in running.standin.recorder.messages(CHANNEL) if m.thread_ts is None]) == 1


async def test_alert_on_an_aegis_shadow_namespace_opens_no_thread(running: Running) -> None:
    """AEGIS's own shadow clone crash-looping (a wrong fix, by design) is answered 200 "ignored" with the reason, and posts nothing."""
    payload = alert_payload(group='{}:{alertname="KubePodCrashLooping", namespace="aegis-shadow-inc-3-k2x9"}')
    payload["commonLabels"]["namespace"] = "aegis-shadow-inc-3-k2x9"
    for alert in payload["alerts"]:
        alert["labels"]["namespace"] = "aegis-shadow-inc-3-k2x9"
    response = await post_alert(running, payload)
    await running.settle()
    assert response.status_code == 200 and response.json()["status"] == "ignored" and "aegis-shadow" in response.json()["reason"]
    assert running.standin.recorder.messages(CHANNEL) == [] and await running.store.list_open() == []


async def test_alert_without_kubernetes_target_still_gets_a_thread(running: Running) -> None:
    """An alert naming no workload gets a parent message with its labels, and no analysis."""
    payload = alert_payload(group='{}:{alertname="DiskFull"}')
    payload["commonLabels"] = {"alertname": "DiskFull", "instance": "db-1"}
    for alert in payload["alerts"]:
        alert["labels"] = {"alertname": "DiskFull", "instance": "db-1"}
    await post_alert(running, payload)
    await running.settle()
    (parent,) = running.standin.recorder.messages(CHANNEL)
    assert "DiskFull" in json.dumps(parent.blocks) and "nothing to analyze" in json.dumps(parent.blocks)


@pytest.mark.parametrize(
    ("auth", "body", "status"),
    [
        (None, b"{}", 401),
        ("Bearer wrong", b"{}", 401),
        (f"Bearer {ALERT_TOKEN}", b"{not json", 400),
        (f"Bearer {ALERT_TOKEN}", json.dumps({"version": "4"}).encode(), 400),
    ],
)
async def test_webhook_refuses_bad_requests(running: Running, auth: str | None, body: bytes, status: int) -> None:
    """Unauthenticated requests are 401; malformed payloads are 400 with a reason; nothing is posted."""
    response = await post_alert(running, body, auth=auth)
    assert response.status_code == status
    assert response.json()["error"]
    assert running.standin.recorder.messages(CHANNEL) == []


async def reject_flow(r: Running, user: str, reason: str = "not now") -> None:
    incident = (await r.store.list_open())[0]
    value = json.dumps({"incident": incident.id, "rev": incident.proposal_revision})
    body = interaction_body(block_actions("aegis.reject", value, user, incident.diagnosis_ts))
    assert (await r.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))).status_code == 200
    await r.settle()
    view = r.standin.recorder.views[-1]
    submit = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}},
        },
    }
    body = interaction_body(submit)
    assert (await r.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))).status_code == 200
    await r.settle()


async def test_reject_authorized_once_unauthorized_never(running: Running) -> None:
    """An outsider's Reject is refused privately; the approver's closes the incident; a second Reject is a no-op."""
    await slash(running, "analyze deploy/checkout -n shop")
    await running.settle()
    await reject_flow(running, "U0OUTSIDER")
    assert "not allowed to reject" in running.standin.recorder.ephemerals[-1]["text"]
    assert (await running.store.list_open())[0].state is IncidentState.DIAGNOSED

    await reject_flow(running, APPROVER, reason="known issue, fix in flight")
    incident = await running.store.get(IncidentId("INC-1"))
    assert incident is not None and incident.state is IncidentState.REJECTED
    parent = running.standin.recorder.message(CHANNEL, incident.thread_ts or "")
    assert "REJECTED" in parent.updates[-1]["text"]
    assert any("known issue, fix in flight" in m.text for m in running.standin.recorder.thread(CHANNEL, parent.ts))
    diagnosis_reply = running.standin.recorder.message(CHANNEL, incident.diagnosis_ts or "")
    assert not [b for b in latest(diagnosis_reply)["blocks"] if b["type"] == "actions"], "buttons go away after a decision"

    await running.bot.service.reject(incident.id, revision=incident.proposal_revision, user=APPROVER, reason="again")
    outcome = await running.bot.service.reject(incident.id, revision=incident.proposal_revision, user=APPROVER, reason="again")
    assert not outcome.done and outcome.refusal is Refusal.NOT_NOW and outcome.detail == "rejected"
    assert "is rejected: AEGIS cannot reject it now, and nothing changed" in messages.outcome(outcome.action.value, outcome.refusal.value, outcome.detail)
    actions = [(a.actor, a.action, a.outcome) for a in await running.store.audit(incident.id)]
    assert ("U0OUTSIDER", "reject", "refused") in actions and (APPROVER, "reject", "ok") in actions and (APPROVER, "reject", "noop") in actions


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    """After a restart on the same store, a repeat alert finds its thread and a Reject in the old thread still works."""
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        async for first in start(tmp_path, standin, tmp_path / "aegis.db"):
            await post_alert(first, alert_payload())
            await first.settle()
        async for second in start(tmp_path, standin, tmp_path / "aegis.db"):
            posts = len(standin.recorder.of("chat.postMessage"))
            await post_alert(second, alert_payload())
            await second.settle()
            assert len(standin.recorder.of("chat.postMessage")) == posts
            await reject_flow(second, APPROVER)
            rejected = await second.store.get(IncidentId("INC-1"))
            assert rejected is not None and rejected.state is IncidentState.REJECTED


async def test_repeat_storm_coalesces_parent_edits(tmp_path: Path) -> None:
    """Twenty repeat notifications within a second, with Slack's real pacing, edit the parent a few times, never post."""
    async with SlackStandIn().serve() as standin:
        async for r in start(tmp_path, standin, tmp_path / "aegis.db", pacing=1.0):
            await post_alert(r, alert_payload())
            await r.settle()
            (parent,) = [m for m in standin.recorder.messages(CHANNEL) if m.thread_ts is None]
            posts, edits = len(standin.recorder.of("chat.postMessage")), len(parent.updates)
            for _ in range(20):
                assert (await post_alert(r, alert_payload())).status_code in (200, 202)
            await r.settle()
            assert len(standin.recorder.of("chat.postMessage")) == posts
            assert 1 <= len(parent.updates) - edits <= 3, f"{len(parent.updates) - edits} edits for 20 repeats"
            assert "fired 21×" in json.dumps(parent.updates[-1], ensure_ascii=False)
            assert not [r for r in standin.recorder.requests if r.status == 429], "the client stays under Slack's pace"
