"""The verdict and apply replies render within Slack's limits and carry their evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from aegis.bot.render import lifecycle
from aegis.core.models import (
    HealthSample,
    Incident,
    IncidentId,
    IncidentSource,
    IncidentState,
    ObjectRef,
    PhaseTiming,
    ProbeResult,
    VerificationResult,
)
from tests.slack_standin.limits import check_message

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = ObjectRef(kind="Deployment", namespace="shop", name="checkout")
INCIDENT = Incident(id=IncidentId("INC-1"), source=IncidentSource.CLI, state=IncidentState.VERIFIED, title="t", target=TARGET, created_at=NOW, updated_at=NOW)


def result(passed: bool, warnings: int = 0) -> VerificationResult:
    return VerificationResult(
        incident_id=IncidentId("INC-1"),
        target=TARGET,
        namespace="aegis-shadow-inc-1-abc",
        passed=passed,
        outcome="passed" if passed else "failed",
        score=1.0 if passed else 0.0,
        reason="1/1 Ready" if passed else "Warning event: BackOff",
        phases=[PhaseTiming(name=n, duration_ms=120.0, detail="x" * 400) for n in ("namespace", "clone", "patch", "verify", "probe", "cleanup")],
        timeline=[HealthSample(at_seconds=i, ready=i % 2, desired=1, restarts=0, warnings=0, score=0.5) for i in range(30)],
        warning_events=[f"BackOff on pod/p-{i}: " + "m" * 500 for i in range(warnings)],
        probe=ProbeResult(status="unavailable", requests=3, errors=3, error_rate=1.0, reason="no request reached the app"),
        representative=False,
        representativeness_notes=["Secrets db were not copied"],
        started_at=NOW,
    )


def test_verdict_fits_slack_and_shows_its_evidence() -> None:
    """A failed verdict with many long warnings stays within Slack's limits and names the probe and the representativeness gap."""
    message = lifecycle.verdict(INCIDENT, result(False, warnings=40))
    assert check_message(message.text, message.blocks) is None
    text = str(message.blocks)
    assert "Shadow verification failed" in text and "unavailable" in text and "Not fully representative" in text and "verify" in text


def test_passed_verdict_and_action_result_render() -> None:
    """A passed verdict and an apply result render as valid Block Kit with the phases listed."""
    ok = lifecycle.verdict(INCIDENT, result(True))
    assert check_message(ok.text, ok.blocks) is None and "passed" in ok.text
    applied = lifecycle.action_result(INCIDENT, "Apply fix", "U1", True, "rolled out: 3/3", [PhaseTiming(name="rollout", duration_ms=3400.0)])
    assert check_message(applied.text, applied.blocks) is None and "rollout · 3.4s" in str(applied.blocks)
