"""Rendering respects Slack's limits by cutting with a pointer, and always has a real fallback sentence."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aegis.bot.render import blocks
from aegis.core.models import (
    Category,
    Diagnosis,
    Evidence,
    EvidenceId,
    EvidenceKind,
    Incident,
    IncidentId,
    IncidentSource,
    IncidentState,
    ObjectRef,
    RCAResult,
)

NOW = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)
TARGET = ObjectRef(kind="Deployment", namespace="shop", name="checkout")


def _diagnosis(steps: int = 3, evidence: int = 3, size: int = 100) -> Diagnosis:
    items = [Evidence(id=EvidenceId(f"E{i}"), kind=EvidenceKind.LOG, summary="x" * size, excerpt="line\n" * 50) for i in range(1, evidence + 1)]
    return Diagnosis(
        target=TARGET,
        workload=TARGET,
        evidence=items,
        fix=None,
        manual_steps=["do <this> & that"],
        analyzed_at=NOW,
        rca=RCAResult(
            category=Category.UNKNOWN,
            summary="s" * size,
            confidence=0.5,
            analysis_steps=[f"step {i} " + "y" * size for i in range(steps)],
            evidence_summary=[],
            evidence_ids=[e.id for e in items],
        ),
    )


def _incident(**fields: object) -> Incident:
    base: dict[str, object] = dict(
        id=IncidentId("INC-7"),
        source=IncidentSource.SLASH_COMMAND,
        title="deployment/checkout",
        target=TARGET,
        state=IncidentState.DIAGNOSED,
        created_at=NOW,
        updated_at=NOW,
        requested_by="U1",
    )
    base.update(fields)
    return Incident.model_validate(base)


def test_huge_diagnosis_fits_slack_limits() -> None:
    """Thousands of characters of steps and evidence still render within 50 blocks, 3000 per section and ~12k in all."""
    message = blocks.diagnosis_reply(_incident(), _diagnosis(steps=40, evidence=60, size=2000))
    assert len(message.blocks) <= blocks.MAX_BLOCKS
    for block in message.blocks:
        text = block.get("text", {}).get("text", "") if isinstance(block.get("text"), dict) else ""
        assert len(text) <= blocks.MAX_SECTION
    assert len(json.dumps(message.blocks)) <= blocks.MAX_TOTAL + 2000
    assert "cut" in json.dumps(message.blocks)


def test_fallback_text_is_a_sentence() -> None:
    """The fallback names status, severity, target and incident id, for notifications and screen readers."""
    text = blocks.parent(_incident(diagnosis=_diagnosis())).text
    assert text == "🟠 DIAGNOSED · warning · unknown deployment/checkout -n shop (INC-7)"


def test_user_text_is_escaped() -> None:
    """Slack control characters in evidence and steps cannot form links or mentions."""
    message = blocks.diagnosis_reply(_incident(), _diagnosis())
    dumped = json.dumps(message.blocks)
    assert "do &lt;this&gt; &amp; that" in dumped


def test_buttons_carry_the_proposal_revision() -> None:
    """Reject's value names the incident and proposal revision; no buttons render when none are allowed."""
    message = blocks.diagnosis_reply(_incident(proposal_revision=3), _diagnosis())
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert json.loads(actions[0]["elements"][0]["value"]) == {"incident": "INC-7", "rev": 3}
    assert not [b for b in blocks.diagnosis_reply(_incident(), _diagnosis(), actions=()).blocks if b["type"] == "actions"]


def test_alert_without_target_shows_labels() -> None:
    """An alert with no Kubernetes target still shows its labels and annotations and says why nothing is analyzed."""
    incident = _incident(
        target=None,
        source=IncidentSource.ALERTMANAGER,
        labels={"alertname": "DiskFull", "instance": "db1"},
        annotations={"summary": "disk 95%"},
        state=IncidentState.OPEN,
    )
    dumped = json.dumps(blocks.parent(incident).blocks)
    assert "DiskFull" in dumped and "disk 95%" in dumped and "nothing to analyze" in dumped


def test_parent_mentions_the_requester_and_escapes_alert_labels() -> None:
    """The requester is a real mention; an alert's label text cannot form one."""
    requested = blocks.parent(_incident(requested_by="U0SRE"))
    context = next(b for b in requested.blocks if b["type"] == "context")["elements"][0]["text"]
    assert "via <@U0SRE> /aegis" in context
    alert = _incident(source=IncidentSource.ALERTMANAGER, labels={"alertname": "<!channel> Disk"}, requested_by=None)
    context = next(b for b in blocks.parent(alert).blocks if b["type"] == "context")["elements"][0]["text"]
    assert "alert &lt;!channel&gt; Disk" in context and "<!channel>" not in context


def test_rollback_confirm_says_a_statefulset_rollback_evicts() -> None:
    """Roll back's confirm dialog names the eviction it performs on a StatefulSet, and nothing of the kind elsewhere."""

    def confirm_text(target: ObjectRef) -> str:
        message = blocks.diagnosis_reply(_incident(target=target), _diagnosis().model_copy(update={"target": target}), actions=(blocks.ACTION_ROLLBACK,))
        (button,) = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
        return str(button["confirm"]["text"]["text"])

    assert "evicted" in confirm_text(ObjectRef(kind="StatefulSet", namespace="search", name="indexer"))
    assert "evicted" not in confirm_text(TARGET)
