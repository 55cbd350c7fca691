"""The watch after Apply on the real control plane: a fix that breaks again inside the window is posted
with its evidence and, with AEGIS_AUTO_ROLLBACK, rolled back by AEGIS on the approver's behalf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.bot.render import blocks
from aegis.core.models import IncidentState
from tests.cluster.controlplane import resource_path
from tests.integration.conftest import Cluster
from tests.integration.remediation.test_fix_lifecycle_slack import APPROVER, CHANNEL, diagnosed, running_bot
from tests.integration.shadow.test_shadow_live import poll

pytestmark = pytest.mark.integration


async def test_a_fix_that_breaks_again_in_the_window_is_rolled_back_by_itself(control_plane: Cluster, tmp_path: Path) -> None:
    """Apply heals the workload; then its new pod starts crash-looping within the watch window: the thread says the
    fix did not hold (with the restarts), AEGIS rolls back on the approver's behalf, the parent never says held."""
    async with running_bot(control_plane, tmp_path, apply_watch_seconds=60, auto_rollback=True, require_shadow_pass=False) as bot:
        incident = await diagnosed(bot)
        before = bot.deployment()
        await bot.click(blocks.ACTION_APPLY, incident, APPROVER)

        async def applied_and_watching() -> bool:
            now = await bot.store.get(incident.id)
            return bool(now and now.state is IncidentState.APPLIED and now.watch and now.watch.startswith("watching"))

        await poll("Apply to land and the watch to start", applied_and_watching, 120)
        # The fixed pods break again (the app crashes on the image it runs), without touching the template:
        # what the watch must catch is the workload's behaviour, not an edit.
        for pod in bot.cluster.current_pods(bot.namespace, "quote-api"):
            image = pod["spec"]["containers"][0]["image"]
            crash = json.dumps({pod["spec"]["containers"][0]["name"]: {"image": image}})
            annotation = {"metadata": {"annotations": {"sim.aegis.dev/crash-when": crash}}}
            bot.cluster.api.patch(resource_path("Pod", bot.namespace, pod["metadata"]["name"]), annotation, kind="merge")

        async def rolled_back() -> bool:
            now = await bot.store.get(incident.id)
            return bool(now and now.state is IncidentState.ROLLED_BACK)

        await poll("AEGIS to roll back by itself", rolled_back, 90)
        final = await bot.store.get(incident.id)
        assert final is not None and final.watch and final.watch.startswith("regressed"), final.watch if final else None
        restored = bot.deployment()
        assert json.dumps(restored["spec"]["template"], sort_keys=True) == json.dumps(before["spec"]["template"], sort_keys=True)
        audit = [(a.actor, a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
        assert any(a[1:3] == ("watch", "regressed") and "restarted" in a[3] for a in audit), audit
        assert any(a[:3] == ("aegis", "rollback", "auto") and f"on behalf of {APPROVER}" in a[3] for a in audit), audit
        texts = [json.dumps(m.updates[-1] if m.updates else {"text": m.text}) for m in bot.standin.recorder.thread(CHANNEL, final.thread_ts or "")]
        assert any("did not hold" in t for t in texts), texts
        parent = bot.standin.recorder.message(CHANNEL, final.thread_ts or "")
        assert not any("held for" in json.dumps(u) for u in parent.updates), "the parent never says the fix held"
