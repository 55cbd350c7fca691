"""Block Kit as the terminal shows it (aegis demo --live): what a reader of the thread would see."""

from __future__ import annotations

from datetime import UTC, datetime

from aegis.bot.render import blocks
from aegis.bot.render.plaintext import message_lines, mrkdwn
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState, ObjectRef


def test_mrkdwn_tokens_read_as_slack_shows_them() -> None:
    text = "via <@U0SRE> · <https://grafana.example.com/d/x|Grafana dashboard> · <!date^1700000000^{date_short}|Nov 14> · a &lt;b&gt; &amp; c"
    assert mrkdwn(text) == "via @U0SRE · Grafana dashboard · Nov 14 · a <b> & c"


def test_a_parent_message_reads_as_lines() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    incident = Incident(
        id=IncidentId("INC-3"),
        source=IncidentSource.SLASH_COMMAND,
        title="deployment/checkout",
        target=ObjectRef(kind="Deployment", namespace="shop", name="checkout"),
        state=IncidentState.INVESTIGATING,
        created_at=now,
        updated_at=now,
        requested_by="U0SRE",
    )
    message = blocks.parent(incident)
    lines = message_lines(message.text, message.blocks)
    assert any("INC-3" in line and "deployment/checkout" in line for line in lines)
    assert any("via @U0SRE /aegis" in line and "namespace shop" in line for line in lines)
    assert not any("<@" in line or "&lt;" in line for line in lines)


def test_buttons_unknown_blocks_and_plain_text() -> None:
    message = [
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Apply fix…"}, "style": "danger"}]},
        {"type": "video", "title": "x"},
    ]
    assert message_lines("", message) == ["  [ Apply fix… ](danger)", "  [video block]"]
    assert message_lines("⏳ Verifying <@U1>", None) == ["⏳ Verifying @U1"]
