"""The parent's owner, silence, links and buttons: what it shows, in a shape Slack accepts, with nothing that can forge a link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aegis.bot import thread
from aegis.bot.render import blocks
from aegis.core.models import Incident, IncidentAlert, IncidentId, IncidentSource, IncidentState, ObjectRef, Silence
from tests.unit.bot.test_boundary_properties import PROPERTY, slack_accepts

NOW = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)


def alert_incident(**fields: object) -> Incident:
    base: dict[str, object] = dict(
        id=IncidentId("INC-9"),
        source=IncidentSource.ALERTMANAGER,
        title="KubePodCrashLooping: Pod is crash looping.",
        target=ObjectRef(kind="Deployment", namespace="shop", name="checkout"),
        state=IncidentState.DIAGNOSED,
        alerts=[IncidentAlert(fingerprint="f1", alertname="KubePodCrashLooping", pod="checkout-7d9f8b6c5d-x2x9k")],
        created_at=NOW,
        updated_at=NOW,
    )
    base.update(fields)
    return Incident.model_validate(base)


def texts(message: blocks.SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def action_ids(message: blocks.SlackMessage) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def test_an_open_alert_incident_offers_im_on_it_and_three_silences() -> None:
    """Alertmanager configured, nothing silenced: I'm on it, Silence 1 h / 4 h / 24 h with the action ids Slack sends back."""
    incident = alert_incident()
    message = blocks.parent(incident, thread.parent_buttons(incident, silencing_configured=True), now=NOW)
    assert action_ids(message) == ["aegis.ack", "aegis.silence.1h", "aegis.silence.4h", "aegis.silence.24h"]
    assert [e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]] == [
        "I'm on it",
        "Silence 1 h",
        "Silence 4 h",
        "Silence 24 h",
    ]
    slack_accepts(message)


def test_a_silenced_incident_says_until_when_and_by_whom_and_offers_unsilence() -> None:
    """A running silence: "Silenced until <date>" by the person, the silence's link, and Unsilence (with a confirm) instead of Silence."""
    now = datetime.now(UTC)
    silence = Silence(id="5e1f", until=now + timedelta(hours=4), by="U0ALICE", url="https://am.example.com/#/silences/5e1f")
    incident = alert_incident(silence=silence, owner="U0BOB")
    message = blocks.parent(incident, thread.parent_buttons(incident, silencing_configured=True), now=now)
    shown = texts(message)
    assert f"Silenced until {blocks.date_token(silence.until)} by <@U0ALICE>" in shown
    assert "Owner: <@U0BOB>" in shown and "<https://am.example.com/#/silences/5e1f|🔕 Silence in Alertmanager>" in shown
    assert action_ids(message) == ["aegis.ack", "aegis.unsilence"]
    slack_accepts(message)


def test_an_ended_silence_is_no_longer_shown() -> None:
    """Past its end the silence is neither stated nor linked, and Silence is offered again."""
    silence = Silence(id="5e1f", until=NOW - timedelta(minutes=1), by="U0ALICE", url="https://am.example.com/#/silences/5e1f")
    incident = alert_incident(silence=silence)
    message = blocks.parent(incident, ("aegis.ack", *blocks.ACTION_SILENCE.values()), now=NOW)
    assert "Silenced" not in texts(message) and "silences/5e1f" not in texts(message)
    assert thread.parent_buttons(incident, silencing_configured=True)[1:] == tuple(blocks.ACTION_SILENCE.values())


@pytest.mark.parametrize("state", [IncidentState.RESOLVED, IncidentState.REJECTED, IncidentState.ROLLED_BACK])
def test_a_closed_incident_offers_only_lifting_a_running_silence(state: IncidentState) -> None:
    """Closed: no I'm on it, no Silence; Unsilence while a silence still runs."""
    assert thread.parent_buttons(alert_incident(state=state), silencing_configured=True) == ()
    running = alert_incident(state=state, silence=Silence(id="x", until=datetime.now(UTC) + timedelta(hours=1), by="U1"))
    assert thread.parent_buttons(running, silencing_configured=True) == ("aegis.unsilence",)


def test_annotation_links_and_the_alert_source_are_links() -> None:
    """runbook_url, a dashboard annotation and the generatorURL become links; a value that is no http(s) URL stays text only."""
    incident = alert_incident(
        annotations={"runbook_url": "https://runbooks.example.com/crashloop", "grafana_url": "https://grafana.example.com/d/abc", "summary": "x"},
        generator_url="http://prometheus:9090/graph?g0.expr=up&g0.tab=1",
    )
    assert blocks.alert_links(incident, NOW) == [
        ("📕 Runbook", "https://runbooks.example.com/crashloop"),
        ("📊 Dashboard", "https://grafana.example.com/d/abc"),
        ("📈 Alert source", "http://prometheus:9090/graph?g0.expr=up&g0.tab=1"),
    ]
    assert blocks.alert_links(alert_incident(annotations={"runbook_url": "javascript:alert(1)", "dashboard_url": "see wiki"}), NOW) == []


def test_a_link_cannot_break_out_of_its_brackets() -> None:
    """<, >, | and whitespace in an annotation's URL are percent-encoded: no second link, no mention, no label of the sender's choosing."""
    url = blocks.link_url("https://x.example.com/a|<!channel> b>c\nd")
    assert url == "https://x.example.com/a%7C%3C!channel%3E%20b%3Ec%0Ad"


@PROPERTY
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_annotation_renders_a_parent_slack_accepts(runbook: str, dashboard: str) -> None:
    """Whatever text the alert's link annotations hold, the parent is one Slack accepts, and every link is well-formed."""
    incident = alert_incident(annotations={"runbook_url": "https://r.example.com/" + runbook, "dashboard_url": dashboard}, owner="U1")
    message = blocks.parent(incident, ("aegis.ack", *blocks.ACTION_SILENCE.values()), now=NOW)
    slack_accepts(message)
    for _, url in blocks.alert_links(incident, NOW):
        assert not any(c in url for c in "<>| \n")
