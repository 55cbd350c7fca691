"""Proposals expire and go stale, over signed HTTP on the real control plane: an expired proposal, and one on a workload
whose pod template changed since the diagnosis, are refused with a Re-analyze button, and the button opens a new analysis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aegis.bot.render import blocks
from aegis.core.models import Incident, IncidentId, IncidentState
from tests.integration.bot.test_slack_http import block_actions, interaction_body, sign
from tests.integration.conftest import Cluster
from tests.integration.remediation.test_fix_lifecycle_slack import APPROVER, Bot, diagnosed, running_bot
from tests.integration.shadow.test_shadow_live import poll

pytestmark = pytest.mark.integration

TTL = 4.0


def reanalyze_button(bot: Bot) -> dict[str, Any]:
    """The Re-analyze button of the approver's latest private reply (a refusal that offers one)."""
    last = [e for e in bot.standin.recorder.ephemerals if e["user"] == APPROVER][-1]
    found = [e for b in last["blocks"] or [] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == blocks.ACTION_REANALYZE]
    assert found, f"no Re-analyze button in {last['text']!r}"
    return found[0]


async def click_reanalyze(bot: Bot, button: dict[str, Any]) -> None:
    body = interaction_body(block_actions(blocks.ACTION_REANALYZE, button["value"], APPROVER, None, trigger_id=f"trig-{uuid.uuid4().hex}"))
    response = await bot.http.post("/slack/events", content=body, headers=sign(body, int(time.time())))
    assert response.status_code == 200, response.text


async def reanalyzed(bot: Bot, old: Incident) -> Incident:
    """Re-analyze opens a new incident about the same workload, asked for by the person who clicked, and analyzes it."""
    await click_reanalyze(bot, reanalyze_button(bot))

    async def opened() -> Incident | None:
        await bot.settle()
        fresh = [i for i in await bot.store.list_open() if i.id != old.id and i.target == old.target]
        return fresh[0] if fresh and fresh[0].state not in (IncidentState.OPEN, IncidentState.INVESTIGATING) else None

    new: Incident = await poll("the new analysis Re-analyze opened", opened, 60)
    assert new.requested_by == APPROVER
    audit = [(a.actor, a.action, a.outcome) for a in await bot.store.audit(old.id)]
    assert (APPROVER, "reanalyze", "ok") in audit, audit
    return new


async def refused(bot: Bot, action_id: str, incident: Incident, fragment: str) -> str:
    """Click `action_id`; it is refused with `fragment` in the private reply, and the incident's state stays."""
    await bot.click(action_id, incident, APPROVER)
    await bot.settle()
    reply = bot.ephemerals_for(APPROVER)[-1]
    assert fragment in reply and "Nothing changed" in reply, reply
    now = await bot.store.get(IncidentId(incident.id))
    assert now is not None and now.state is incident.state
    return reply


async def test_an_expired_proposal_is_refused_with_re_analyze(control_plane: Cluster, tmp_path: Path) -> None:
    """Past AEGIS_PROPOSAL_TTL_SECONDS, Verify and Apply are refused (audited, no shadow, no patch) with a Re-analyze button that
    opens a new analysis of the workload."""
    async with running_bot(control_plane, tmp_path, proposal_ttl_seconds=TTL, require_shadow_pass=False) as bot:
        incident = await diagnosed(bot)
        assert incident.diagnosis is not None
        # The proposal's age is wall-clock time since its diagnosis: wait it out.
        await asyncio.sleep(max(0.0, (incident.diagnosis.analyzed_at + timedelta(seconds=TTL) - datetime.now(UTC)).total_seconds()) + 0.5)
        generation = bot.deployment()["metadata"]["generation"]
        await refused(bot, blocks.ACTION_VERIFY, incident, "too old to act on")
        await refused(bot, blocks.ACTION_APPLY, incident, "too old to act on")
        assert bot.deployment()["metadata"]["generation"] == generation
        audit = [(a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
        assert ("apply", "refused", f"proposal older than {TTL:.0f}s") in audit and ("verify", "started", "r1") not in audit, audit
        await reanalyzed(bot, incident)


async def test_a_proposal_on_a_changed_template_is_refused_and_scaling_is_not_a_change(control_plane: Cluster, tmp_path: Path) -> None:
    """Scaling the workload leaves the proposal standing (Verify runs and passes); a deploy that changes the pod template after
    the verification makes Apply refuse, before any patch, with a Re-analyze button."""
    async with running_bot(control_plane, tmp_path) as bot:
        incident = await diagnosed(bot)
        bot.cluster.patch_deployment(bot.namespace, "quote-api", {"spec": {"replicas": int(bot.deployment()["spec"]["replicas"]) + 1}}, kind="merge")
        await bot.click(blocks.ACTION_VERIFY, incident, APPROVER)
        await bot.settle()
        verified = await bot.store.get(incident.id)
        assert verified is not None and verified.state is IncidentState.VERIFIED, verified.last_error if verified else None

        # A deploy lands after the verification: a new annotation on the pod template (a new rollout).
        deploy = {"spec": {"template": {"metadata": {"annotations": {"deploy.example.com/build": "4711"}}}}}
        bot.cluster.patch_deployment(bot.namespace, "quote-api", deploy, kind="merge")
        edited = bot.deployment()
        reply = await refused(bot, blocks.ACTION_APPLY, verified, "pod template changed since it was diagnosed")
        assert incident.id in reply
        now = bot.deployment()
        assert now["metadata"]["generation"] == edited["metadata"]["generation"], "Apply patched a template it was not made for"
        assert json.dumps(now["spec"]["template"], sort_keys=True) == json.dumps(edited["spec"]["template"], sort_keys=True)
        audit = [(a.actor, a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
        assert any(a[:3] == (APPROVER, "apply", "refused") and "changed since the diagnosis" in a[3] for a in audit), audit
        assert not any(a[1:3] == ("apply", "approved") for a in audit), audit
        await refused(bot, blocks.ACTION_VERIFY, verified, "pod template changed since it was diagnosed")
        await reanalyzed(bot, verified)
