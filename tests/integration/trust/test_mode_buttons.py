"""The trust ladder over real HTTP: each mode's buttons, and the refusal of a click the mode forbids.

The bot runs as `aegis serve --http` builds it (tests/integration/remediation's harness: AEGIS's
ServiceAccount on the real control plane, the Slack stand-in, Slack-signed requests). A forbidden click
is what an old message's button or a forged payload sends: the mode in force refuses it, the reply
names the mode and namespace, the audit records it, and the cluster is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aegis.bot.render import blocks
from aegis.core.models import IncidentState
from tests.integration.bot.test_slack_http import latest
from tests.integration.conftest import Cluster
from tests.integration.remediation.test_fix_lifecycle_slack import APPROVER, CHANNEL, Bot, diagnosed, running_bot

pytestmark = pytest.mark.integration

V, A, R, RB = blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_REJECT, blocks.ACTION_ROLLBACK


async def buttons(bot: Bot) -> list[str]:
    incident = await bot.incident()
    reply = latest(bot.standin.recorder.message(CHANNEL, incident.diagnosis_ts or ""))
    return [e["action_id"] for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def refused_by_mode(bot: Bot, action_id: str, mode: str) -> None:
    """A click on `action_id` (not shown: forged) is refused naming the mode, audited, and changes nothing."""
    incident = await bot.incident()
    generation = bot.deployment()["metadata"]["generation"]
    await bot.click(action_id, incident, APPROVER)
    await bot.settle()
    reply = bot.ephemerals_for(APPROVER)[-1]
    assert f"*{mode}* mode in namespace {bot.namespace}" in reply and "Nothing changed" in reply, reply
    after = await bot.store.get(incident.id)
    assert after is not None and after.state is incident.state
    assert bot.deployment()["metadata"]["generation"] == generation
    action = {V: "verify", A: "apply", RB: "rollback"}[action_id]
    audit = [(a.actor, a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
    assert (APPROVER, action, "refused", f"mode {mode} in namespace {bot.namespace}") in audit, audit


@pytest.mark.parametrize("mode", ["read-only", "suggest"])
async def test_read_only_and_suggest_offer_only_reject_and_refuse_every_fix_click(control_plane: Cluster, tmp_path: Path, mode: str) -> None:
    """The diagnosis shows the fix with Reject only; forged Verify, Apply and Roll back clicks are refused naming the mode."""
    async with running_bot(control_plane, tmp_path, mode=mode, require_shadow_pass=False) as bot:
        incident = await diagnosed(bot)
        assert await buttons(bot) == [R]
        reply = json.dumps(latest(bot.standin.recorder.message(CHANNEL, incident.diagnosis_ts or "")))
        assert "readinessProbe" in reply, "the fix is still shown"
        for action_id in (V, A, RB):
            await refused_by_mode(bot, action_id, mode)
        audit = [(a.action, a.outcome) for a in await bot.store.audit(incident.id)]
        assert ("verify", "started") not in audit and ("apply", "approved") not in audit, audit


async def test_verify_mode_verifies_but_refuses_apply(control_plane: Cluster, tmp_path: Path) -> None:
    """verify: Verify and Reject are offered; Verify runs the shadow to a pass; Apply, never offered, is refused naming the mode."""
    async with running_bot(control_plane, tmp_path, mode="verify") as bot:
        incident = await diagnosed(bot)
        assert await buttons(bot) == [V, R]
        await bot.click(V, incident, APPROVER)
        await bot.settle()
        verified = await bot.incident()
        assert verified.state is IncidentState.VERIFIED, verified.last_error
        assert A not in await buttons(bot)
        await refused_by_mode(bot, A, "verify")


async def test_a_namespace_glob_overrides_the_default_first_match_wins(control_plane: Cluster, tmp_path: Path) -> None:
    """AEGIS_MODE=read-only, but quote-api-* (the example's namespace) is apply: the first matching glob wins over a later
    quote-* = verify, all buttons are offered, and Apply patches the workload."""
    modes = "prod-*=suggest,quote-api-*=apply,quote-*=verify"
    async with running_bot(control_plane, tmp_path, mode="read-only", namespace_modes=modes, require_shadow_pass=False) as bot:
        incident = await diagnosed(bot)
        assert await buttons(bot) == [V, A, R]
        generation = bot.deployment()["metadata"]["generation"]
        await bot.click(A, incident, APPROVER)
        await bot.settle()
        applied = await bot.store.get(incident.id)
        assert applied is not None and applied.state is IncidentState.APPLIED, applied.last_error if applied else None
        assert bot.deployment()["metadata"]["generation"] == generation + 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AEGIS_MODE", "yolo"), ("AEGIS_NAMESPACE_MODES", "prod-*=act"), ("AEGIS_NAMESPACE_MODES", "prod-*")],
)
def test_an_invalid_mode_stops_start_up_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    """`aegis serve` exits non-zero before starting anything, with one line on stderr naming the variable and the bad value once."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AEGIS_", "SLACK_"))}
    env.update({variable: value, "SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s" * 32, "AEGIS_STORE_URL": str(tmp_path / "a.db")})
    aegis = Path(sys.executable).parent / "aegis"
    done = subprocess.run([str(aegis), "serve", "--http"], check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert variable in lines[0] and value in lines[0] and lines[0].count("(got ") == 1 and "Traceback" not in done.stderr, lines[0]
