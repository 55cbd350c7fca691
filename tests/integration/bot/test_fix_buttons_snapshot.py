"""On a read-only snapshot source the fix buttons answer privately that they need a live cluster, and nothing changes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from aegis.bot.render import blocks
from aegis.core.models import IncidentState
from tests.integration.bot.test_slack_http import APPROVER, CHANNEL, Running, block_actions, interaction_body, sign, slash, start
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        async for r in start(tmp_path, standin, tmp_path / "aegis.db"):
            yield r


@pytest.mark.parametrize(
    ("action_id", "verb"), [(blocks.ACTION_VERIFY, "Verify in shadow"), (blocks.ACTION_APPLY, "Apply fix"), (blocks.ACTION_ROLLBACK, "Roll back")]
)
async def test_fix_buttons_need_a_live_cluster(running: Running, action_id: str, verb: str) -> None:
    """Verify, Apply and Roll back on a snapshot-backed bot: an ephemeral 'needs a live cluster', the state unchanged."""
    await slash(running, "analyze deploy/checkout -n shop")
    await running.settle()
    incident = (await running.store.list_open())[0]
    assert incident.state is IncidentState.DIAGNOSED
    reply = running.standin.recorder.message(CHANNEL, incident.diagnosis_ts or "")
    shown = [
        e["action_id"]
        for b in (reply.updates[-1] if reply.updates else {"blocks": reply.blocks})["blocks"] or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert shown == [blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_REJECT]
    value = json.dumps({"incident": incident.id, "rev": incident.proposal_revision})
    body = interaction_body(block_actions(action_id, value, APPROVER, incident.diagnosis_ts))
    assert (await running.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))).status_code == 200
    await running.settle()
    assert f"{verb} needs a live cluster" in running.standin.recorder.ephemerals[-1]["text"]
    after = await running.store.get(incident.id)
    assert after is not None and after.state is IncidentState.DIAGNOSED
