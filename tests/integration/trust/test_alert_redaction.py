"""Secrets seeded into an Alertmanager notification never reach Slack: labels, annotations and the title
are masked at the webhook, before the incident is stored, posted or logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.bot.test_slack_http import alert_payload, post_alert, start
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration

PASSWORD = "Hunter2-Zq9vXk"
SLACK_TOKEN = "xoxb-2718281828-3141592653-QwErTyUiOpAsDfGh"
LABEL_SECRET = "lbl-5ecret-7a1ue-99"


async def test_a_seeded_secret_in_an_alert_never_reaches_the_slack_stand_in(tmp_path: Path) -> None:
    """The thread is opened and names the alert, but no request to Slack carries the seeded values."""
    payload = alert_payload()
    payload["commonAnnotations"] = {
        "summary": f"orders DB refused: postgres://app:{PASSWORD}@db.shop:5432/orders",
        "description": f"notifier posts with token {SLACK_TOKEN}",
    }
    payload["commonLabels"] = {**payload["commonLabels"], "db_password": LABEL_SECRET}
    for alert in payload["alerts"]:
        alert["annotations"] = dict(payload["commonAnnotations"])
        alert["labels"] = {**alert["labels"], "db_password": LABEL_SECRET}
        alert["generatorURL"] = f"http://prometheus/graph?g0.expr=up&password={PASSWORD}"
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        async for running in start(tmp_path, standin, tmp_path / "aegis.db"):
            assert (await post_alert(running, payload)).status_code in (200, 202)
            await running.settle()
            parents = [m for m in standin.recorder.messages("C0INCIDENTS") if m.thread_ts is None]
            assert len(parents) == 1 and "orders DB refused" in json.dumps(parents[0].blocks), "the thread exists and names the alert"
            sent = json.dumps([r.body for r in standin.recorder.requests], ensure_ascii=False)
            for secret in (PASSWORD, SLACK_TOKEN, LABEL_SECRET):
                assert secret not in sent, f"{secret} reached Slack"
            stored = (await running.store.list_open())[0]
            assert PASSWORD not in stored.model_dump_json() and LABEL_SECRET not in stored.model_dump_json()
