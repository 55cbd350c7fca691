"""The health judge: Ready plus a settle window passes; a fatal Warning or a restart fails; the score follows."""

from __future__ import annotations

from typing import Any

from aegis.core.shadow.health import HealthTracker


def pod(ready: bool, restarts: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}], "containerStatuses": [{"name": "app", "restartCount": restarts}]},
    }


def test_ready_for_the_settle_window_passes() -> None:
    """All pods Ready and restarts flat for the settle window: passed, score 1."""
    tracker = HealthTracker(desired=1, settle_seconds=3, started=0)
    tracker.pod_event("ADDED", pod(False))
    assert not tracker.evaluate(1).done
    tracker.pod_event("MODIFIED", pod(True))
    assert not tracker.evaluate(2).done
    verdict = tracker.evaluate(5.1)
    assert verdict.passed and tracker.score() == 1.0


def test_a_fatal_warning_fails_at_once() -> None:
    """A BackOff Warning ends the run as failed without waiting for the timeout."""
    tracker = HealthTracker(desired=1, settle_seconds=30, started=0)
    tracker.event({"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "involvedObject": {"kind": "Pod", "name": "p"}}, 1)
    verdict = tracker.evaluate(1)
    assert verdict.done and not verdict.passed and "BackOff" in verdict.reason


def test_a_restart_during_the_settle_window_fails() -> None:
    """Ready, then a container restarts before the window ends: failed."""
    tracker = HealthTracker(desired=1, settle_seconds=10, started=0)
    tracker.pod_event("ADDED", pod(True))
    tracker.evaluate(1)
    tracker.pod_event("MODIFIED", pod(True, restarts=1))
    verdict = tracker.evaluate(2)
    assert verdict.done and not verdict.passed and "restarted" in verdict.reason


def test_not_ready_a_grace_after_a_warning_fails() -> None:
    """A non-fatal Warning (a failing readiness probe) and still not Ready a settle window later: failed."""
    tracker = HealthTracker(desired=1, settle_seconds=5, started=0)
    tracker.pod_event("ADDED", pod(False))
    tracker.event({"type": "Warning", "reason": "Unhealthy", "message": "Readiness probe failed", "involvedObject": {"kind": "Pod", "name": "p"}}, 1)
    assert not tracker.evaluate(3).done
    assert tracker.next_deadline(3) == 6
    verdict = tracker.evaluate(6.5)
    assert verdict.done and not verdict.passed and "Unhealthy" in verdict.reason
