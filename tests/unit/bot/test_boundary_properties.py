"""Properties of what stands between untrusted input and Slack: the payload parsers and the Block Kit clipping.

Hypothesis generates the input. The parsers either return a value of the declared shape or refuse
with their own error, whatever they are given. Every rendered message passes both the Slack
stand-in's Block Kit checks and slack_sdk's own validators, whatever the text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from aegis.bot import alertmanager
from aegis.bot.listeners import payloads
from aegis.bot.render import blocks
from aegis.core.errors import UsageError
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState, ObjectRef
from tests.slack_standin.limits import check_message

NOW = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
big_text = st.text(max_size=5000) | st.text(alphabet="<&>*_`~\n🔥é", min_size=2900, max_size=12_000)


def slack_accepts(message: blocks.SlackMessage) -> None:
    """What Slack would refuse, checked two ways: the stand-in's limits and slack_sdk's validators."""
    assert check_message(message.text, message.blocks) is None, check_message(message.text, message.blocks)
    assert message.text.strip() or message.blocks
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.to_dict()  # validates the block and, through their own to_dict, its elements


# ---- button values ----------------------------------------------------------------------------


@PROPERTY
@given(st.text(max_size=300) | json_values.map(json.dumps))
def test_button_value_parser_never_raises(value: str) -> None:
    """Any string: None, or an incident id and a revision that is a non-negative int."""
    parsed = payloads.parse_value(value)
    if parsed is not None:
        incident, revision = parsed
        assert isinstance(incident, str) and incident and type(revision) is int and revision >= 0


@PROPERTY
@given(st.text(min_size=1, max_size=64), st.integers(min_value=0, max_value=2**31))
def test_button_value_round_trips(incident_id: str, revision: int) -> None:
    """What blocks.action_value writes, parse_value reads back exactly."""
    incident = Incident(id=IncidentId(incident_id), source=IncidentSource.SLASH_COMMAND, title="t", created_at=NOW, updated_at=NOW, proposal_revision=revision)
    assert payloads.parse_value(blocks.action_value(incident)) == (incident_id, revision)


@PROPERTY
@given(st.sampled_from(["1e400", "-1e400", "1.5", "-1", "true", "null", '"3"', "1" * 400, "[]", "{}"]))
def test_revisions_that_are_not_small_ints_are_refused(rev: str) -> None:
    """1e400 (an OverflowError once), negatives, floats, strings, huge ints: not a revision AEGIS wrote."""
    assert payloads.parse_value('{"incident":"INC-1","rev":' + rev + "}") is None


# ---- Slack requests ---------------------------------------------------------------------------


def _click(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "channel": {"id": "C1"},
        "actions": [{"action_id": "aegis.verify", "value": '{"incident":"INC-1","rev":0}'}],
    }
    base.update(changes)
    return base


@PROPERTY
@given(st.text(max_size=400))
def test_any_form_body_is_a_request_or_a_reason(body: str) -> None:
    """Whatever text arrives signed: a validated request, the ssl_check ping (None), or InvalidRequestError."""
    try:
        payloads.parse_request(body)
    except payloads.InvalidRequestError as exc:
        assert exc.reason


@PROPERTY
@given(st.dictionaries(st.sampled_from(["type", "user", "channel", "team", "actions", "view", "trigger_id", "message"]), json_values, max_size=8))
def test_any_interactive_payload_is_validated_or_refused(fields: dict[str, Any]) -> None:
    """Any mix of fields and JSON values in `payload`: refused with a reason, or every field the listeners read has its type."""
    try:
        parsed = payloads.parse_request(urlencode({"payload": json.dumps({**_click(), **fields})}))
    except payloads.InvalidRequestError as exc:
        assert exc.reason and "Traceback" not in exc.reason
        return
    assert isinstance(parsed, payloads.BlockActions | payloads.ViewSubmission)
    assert isinstance(parsed.user.id, str) and parsed.user.id
    if isinstance(parsed, payloads.BlockActions):
        assert isinstance(parsed.channel.id, str) and parsed.action.action_id in payloads.ACTIONS
        json.dumps(payloads.as_bolt_body(parsed))


def test_action_ids_are_the_buttons_aegis_renders() -> None:
    """The boundary accepts exactly the buttons the renderer makes."""
    assert set(payloads.ACTIONS) == {
        blocks.ACTION_REJECT, blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_ROLLBACK, blocks.ACTION_REANALYZE,
        blocks.ACTION_ACK, "aegis.silence.1h", "aegis.silence.4h", "aegis.silence.24h", blocks.ACTION_UNSILENCE,
    }  # fmt: skip
    for action_id in payloads.ACTIONS:
        assert isinstance(payloads.parse_request(urlencode({"payload": json.dumps(_click(actions=[{"action_id": action_id}]))})), payloads.BlockActions)


# ---- Alertmanager payloads --------------------------------------------------------------------

labels = st.dictionaries(st.text(min_size=1, max_size=30), st.text(max_size=3000), max_size=6)
alerts = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved"]), "labels": labels, "annotations": labels, "fingerprint": st.text(max_size=20)}
)
webhook_payloads = st.fixed_dictionaries(
    {
        "version": st.just("4"),
        "groupKey": st.text(min_size=1, max_size=200),
        "status": st.sampled_from(["firing", "resolved"]),
        "receiver": st.text(min_size=1, max_size=50),
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": labels,
        "alerts": st.lists(alerts, min_size=1, max_size=4),
    }
)


@PROPERTY
@given(st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_webhook_body_is_a_payload_or_a_usage_error(body: bytes) -> None:
    """Bytes of any kind: a WebhookPayload, or UsageError with a reason (the route's 400), nothing else."""
    try:
        alertmanager.parse(body)
    except UsageError as exc:
        assert str(exc).startswith("invalid Alertmanager payload")


@PROPERTY
@given(webhook_payloads)
def test_any_valid_alert_renders_a_parent_slack_accepts(raw: dict[str, Any]) -> None:
    """Any valid payload, whatever its labels and annotations say or how long they are: parsed, and its parent message fits Slack."""
    payload = alertmanager.parse(json.dumps(raw).encode())
    assert "\x00" not in payload.title + payload.groupKey + "".join(k + v for a in payload.alerts for k, v in a.labels.items())
    target = alertmanager.group_target(payload)
    assert target is None or isinstance(target, ObjectRef)
    incident = Incident(
        id=IncidentId("INC-1"),
        source=IncidentSource.ALERTMANAGER,
        title=payload.title,
        severity=payload.severity,
        target=target,
        labels=payload.commonLabels,
        annotations=payload.commonAnnotations,
        created_at=NOW,
        updated_at=NOW,
        repeat_count=3,
    )
    for state in (IncidentState.OPEN, IncidentState.RESOLVED):
        slack_accepts(blocks.parent(incident.model_copy(update={"state": state})))


# ---- Block Kit clipping -----------------------------------------------------------------------


@PROPERTY
@given(big_text, st.integers(min_value=1, max_value=4000))
def test_clip_stays_within_the_limit(text: str, limit: int) -> None:
    """Never longer than the limit, never empty, unchanged when it already fits, cut with the pointer when there is room for it."""
    clipped = blocks.clip(text, limit)
    assert 1 <= len(clipped) <= max(limit, 1)
    if text and len(text) <= limit:
        assert clipped == text
    elif len(text) > limit > len(blocks.CUT) + 10:
        assert clipped.endswith(blocks.CUT) and text.startswith(clipped[: -len(blocks.CUT) - 1])


@PROPERTY
@given(big_text, big_text, big_text, st.text(max_size=400))
def test_any_block_text_is_clipped_to_what_slack_accepts(section: str, context: str, header: str, button: str) -> None:
    """Blocks built anywhere with any text (SlackMessage clips on construction): Slack accepts the message."""
    raw = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "text": {"type": "mrkdwn", "text": section}, "fields": [{"type": "mrkdwn", "text": context}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        {
            "type": "actions",
            "block_id": "b" * 400,
            "elements": [
                {
                    "type": "button",
                    "action_id": "aegis.verify",
                    "text": {"type": "plain_text", "text": button},
                    "value": "v",
                    "confirm": {
                        "title": {"type": "plain_text", "text": button},
                        "text": {"type": "plain_text", "text": section},
                        "confirm": {"type": "plain_text", "text": button},
                        "deny": {"type": "plain_text", "text": button},
                    },
                }
            ],
        },
    ]
    slack_accepts(blocks.SlackMessage(text=section * 20, blocks=raw))
    slack_accepts(blocks.fit(section, raw * 20))
