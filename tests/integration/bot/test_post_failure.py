"""No stored incident stays without a thread: a parent whose post failed is posted by the next notification."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.bot.test_slack_http import CHANNEL, alert_payload, post_alert, start
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration


async def test_a_parent_that_failed_to_post_is_posted_by_the_resend(tmp_path: Path) -> None:
    """Slack answers 500 through every retry: the incident is stored with the failure; Alertmanager's resend posts its thread."""
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        async for running in start(tmp_path, standin, tmp_path / "aegis.db"):
            standin.fail_next("chat.postMessage", times=10, kind="500")
            assert (await post_alert(running, alert_payload())).status_code in (200, 202)
            await running.settle()
            (stored,) = await running.store.list_open()
            assert stored.thread_ts is None
            assert ("post", "failed") in [(a.action, a.outcome) for a in await running.store.audit(stored.id)], "the failed post is audited"
            assert not [m for m in standin.recorder.messages(CHANNEL) if m.thread_ts is None]
            standin.clear_faults()
            assert (await post_alert(running, alert_payload())).status_code in (200, 202)
            await running.settle()
            parents = [m for m in standin.recorder.messages(CHANNEL) if m.thread_ts is None]
            assert len(parents) == 1, "the resend shows the incident, once"
            shown = await running.store.get(stored.id)
            assert shown is not None and shown.thread_ts == parents[0].ts
