"""Verify → Apply → Roll back from the Slack thread, over real HTTP, against the real control plane.

The bot runs as `aegis serve --http` builds it, with the AEGIS ServiceAccount on the control
plane, the Slack Web API stand-in, SQLite on disk, and signed block_actions requests. The example
`quote-api-launch` (a readiness probe on the wrong port) breaks in a fresh namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpointer
import pytest
import pytest_asyncio
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.app import BotApp
from aegis.bot.render import blocks
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config
from aegis.core.incidents import records
from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Incident, IncidentState
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy
from aegis.core.store import open_store
from aegis.core.store.base import IncidentStore
from tests.incidents import EXAMPLES, load_all
from tests.integration.bot.test_slack_http import CHANNEL, SECRET, block_actions, interaction_body, sign, slash_body
from tests.integration.conftest import Cluster
from tests.integration.shadow.test_shadow_live import deploy_example, poll
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration

APPROVER = "U0APPROVER"
OUTSIDER = "U0OUTSIDER"
EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "quote-api-launch")
PROBE_PORT = "/spec/template/spec/containers/0/readinessProbe/httpGet/port"


@dataclass
class Bot:
    app: BotApp
    http: httpx.AsyncClient
    standin: SlackStandIn
    store: IncidentStore
    cluster: Cluster
    namespace: str

    async def settle(self) -> None:
        await self.app.service.drain(timeout=120)

    async def slash(self, text: str, user: str = APPROVER) -> None:
        body = slash_body(text, user)
        response = await self.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))
        assert response.status_code == 200, response.text

    async def click(self, action_id: str, incident: Incident, user: str) -> None:
        value = json.dumps({"incident": incident.id, "rev": incident.proposal_revision}, separators=(",", ":"))
        # A fresh trigger id: every click is its own signed request.
        payload = block_actions(action_id, value, user, incident.diagnosis_ts, trigger_id=f"trig-{uuid.uuid4().hex}", thread_ts=incident.thread_ts)
        body = interaction_body(payload)
        response = await self.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))
        assert response.status_code == 200, response.text

    async def incident(self) -> Incident:
        found = await self.store.list_open()
        assert found, "no open incident"
        return found[0]

    def deployment(self) -> dict[str, Any]:
        return self.cluster.deployment(self.namespace, "quote-api")

    def ephemerals_for(self, user: str) -> list[str]:
        return [e["text"] for e in self.standin.recorder.ephemerals if e["user"] == user]

    def ephemeral_threads(self, user: str) -> list[str | None]:
        return [e["thread_ts"] for e in self.standin.recorder.ephemerals if e["user"] == user]


@pytest_asyncio.fixture
async def bot(control_plane: Cluster, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(control_plane, tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def running_bot(control_plane: Cluster, tmp_path: Path, **overrides: Any) -> AsyncIterator[Bot]:
    """The bot as `aegis serve --http` builds it, on the example broken in a fresh namespace; `overrides` are settings."""
    target = deploy_example(control_plane, EXAMPLE)
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    shadow = ShadowManager(gateway, ShadowPolicy(settle_seconds=2.0, timeout_seconds=60.0, cleanup_wait_seconds=0.0))
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        defaults: dict[str, Any] = {"approvers": [APPROVER], "rollout_timeout_seconds": 90, "apply_watch_seconds": 0}
        settings = config.load(
            slack_bot_token=standin.token,
            slack_signing_secret=SECRET,
            slack_api_url=standin.url,
            slack_channel=CHANNEL,
            store_url=str(tmp_path / "aegis.db"),
            **{**defaults, **overrides},
        )
        store = await open_store(settings.store_url)
        chat = SlackChatClient(standin.token, standin.url)
        app = app_factory.build(
            settings, chat=chat, store=store, investigator=Investigator(gateway), shadow=shadow, remediator=Remediator(gateway, rollout_timeout=90)
        )
        runner = web.AppRunner(app.web)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                yield Bot(app, http, standin, store, control_plane, target.namespace)
        finally:
            await app.service.drain()
            await shadow.aclose()
            await runner.cleanup()
            await chat.aclose()
            await store.close()
            await gateway.close()
            control_plane.api.delete(f"/api/v1/namespaces/{target.namespace}")


async def diagnosed(bot: Bot) -> Incident:
    """Analyze until the thread shows a diagnosis with a fix (the example needs a moment to break)."""

    async def attempt() -> Incident | None:
        await bot.slash(f"analyze deploy/quote-api -n {bot.namespace}")
        await bot.settle()
        for incident in await bot.store.list_open():
            if incident.state is IncidentState.DIAGNOSED and incident.diagnosis and incident.diagnosis.fix:
                return incident
            await bot.store.transition(incident.id, allowed_from={incident.state}, to=IncidentState.REJECTED, actor="test", reason="retry")
        return None

    result: Incident = await poll("a diagnosis with a fix", attempt, 60, interval=1.0)
    return result


async def test_verify_apply_roll_back_over_http(bot: Bot) -> None:
    """Apply is refused before a pass and for outsiders; Verify passes; a double Apply applies once and heals; Roll back restores the spec exactly."""
    incident = await diagnosed(bot)
    reply = bot.standin.recorder.message(CHANNEL, incident.diagnosis_ts or "").updates[-1]
    buttons = [e["action_id"] for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_REJECT]
    before = bot.deployment()

    await bot.click(blocks.ACTION_APPLY, incident, APPROVER)  # no shadow pass yet
    await bot.settle()
    assert "Verify in shadow first" in bot.ephemerals_for(APPROVER)[-1]
    await bot.click(blocks.ACTION_VERIFY, incident, OUTSIDER)
    await bot.settle()
    assert "not allowed to verify" in bot.ephemerals_for(OUTSIDER)[-1]
    assert bot.ephemeral_threads(OUTSIDER)[-1] == incident.thread_ts, "the refusal is shown in the thread where the click was made"

    await bot.click(blocks.ACTION_VERIFY, incident, APPROVER)
    await bot.settle()
    incident = await bot.incident()
    assert incident.state is IncidentState.VERIFIED, incident.last_error
    thread = bot.standin.recorder.thread(CHANNEL, incident.thread_ts or "")
    verdict = [m for m in thread if "Shadow verification passed" in json.dumps(m.updates[-1] if m.updates else m.blocks)]
    assert verdict, "no verdict in the thread"

    await bot.click(blocks.ACTION_APPLY, incident, OUTSIDER)
    await bot.settle()
    assert "not allowed to apply" in bot.ephemerals_for(OUTSIDER)[-1]
    assert bot.deployment()["metadata"]["generation"] == before["metadata"]["generation"], "an unauthorized Apply changed the workload"

    await asyncio.gather(bot.click(blocks.ACTION_APPLY, incident, APPROVER), bot.click(blocks.ACTION_APPLY, incident, APPROVER))
    await bot.settle()
    incident = await bot.incident()
    assert incident.state is IncidentState.APPLIED, incident.last_error
    after = bot.deployment()
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1, "the double click applied the patch twice"
    assert bot.cluster.rolled_out(bot.namespace, "quote-api")
    applies = [a for a in await bot.store.audit(incident.id) if a.action == "apply" and a.outcome == "ok"]
    assert len(applies) == 1
    assert any("apply now" in t or "cannot apply" in t for t in bot.ephemerals_for(APPROVER)), bot.ephemerals_for(APPROVER)

    await bot.click(blocks.ACTION_ROLLBACK, incident, APPROVER)
    await bot.settle()
    incident = (await bot.store.get(incident.id)) or incident
    assert incident.state is IncidentState.ROLLED_BACK, incident.last_error
    restored = bot.deployment()
    assert jsonpointer.resolve_pointer(restored, PROBE_PORT) == jsonpointer.resolve_pointer(before, PROBE_PORT)
    assert json.dumps(restored["spec"]["template"], sort_keys=True) == json.dumps(before["spec"]["template"], sort_keys=True)
    record = await records.applied_record(bot.app.service.parts.store, incident.id)
    assert record is not None and record.previous["/spec/template"] == before["spec"]["template"]


async def test_apply_after_an_edit_is_refused_by_the_guard(bot: Bot) -> None:
    """The workload's probe port is edited after the verification: Apply is refused by the test guard and nothing changes."""
    incident = await diagnosed(bot)
    await bot.click(blocks.ACTION_VERIFY, incident, APPROVER)
    await bot.settle()
    incident = await bot.incident()
    assert incident.state is IncidentState.VERIFIED, incident.last_error
    bot.cluster.patch_deployment(bot.namespace, "quote-api", [{"op": "replace", "path": PROBE_PORT, "value": 8081}], kind="json")
    edited = bot.deployment()

    await bot.click(blocks.ACTION_APPLY, incident, APPROVER)
    await bot.settle()
    incident = (await bot.store.get(incident.id)) or incident
    assert incident.state is IncidentState.VERIFIED
    assert "changed since it was diagnosed" in bot.ephemerals_for(APPROVER)[-1]
    now = bot.deployment()
    assert now["metadata"]["generation"] == edited["metadata"]["generation"] and jsonpointer.resolve_pointer(now, PROBE_PORT) == 8081
