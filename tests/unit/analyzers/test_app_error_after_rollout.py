"""app_error_after_rollout: fires only for a plain app crash that began with the rollout, and rolls back only what changed."""

from __future__ import annotations

from typing import Any

from aegis.core.analyzers import app_error_after_rollout
from aegis.core.models import Category, Risk
from tests.unit.analyzers.contexts import deployment_context


def _crashed(code: int = 1, reason: str = "Error") -> dict[str, Any]:
    return {
        "name": "app",
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": code, "reason": reason}},
    }


def _spec(image: str, **extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": image, "env": [{"name": "MODE", "value": "fast"}], **extra}]}


def test_crash_after_image_change_rolls_back_the_image_only() -> None:
    """A new image that crashes (exit 1) while the previous revision was ready: the image goes back, guarded, and nothing else moves."""
    ctx = deployment_context(
        _spec("app:2.0"),
        statuses=[_crashed()],
        previous=_spec("app:1.9"),
        logs={("app", True): "panic: runtime error: invalid memory address or nil pointer dereference\n"},
    )
    finding = app_error_after_rollout.analyze(ctx)
    assert finding is not None and finding.category is Category.APP_ERROR_AFTER_ROLLOUT
    assert finding.fix is not None and finding.fix.risk is Risk.MEDIUM
    assert [op.as_json() for op in finding.fix.ops] == [
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "app:2.0"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:1.9"},
    ]
    assert any("nil pointer dereference" in step for step in finding.steps)


def test_crash_that_the_previous_revision_shares_is_not_blamed_on_the_rollout() -> None:
    """When the previous revision has no ready pods either, the crash did not begin with the rollout."""
    ctx = deployment_context(_spec("app:2.0"), statuses=[_crashed()], previous=_spec("app:1.9"), previous_ready=0)
    assert app_error_after_rollout.analyze(ctx) is None


def test_kills_and_start_failures_belong_to_other_classes() -> None:
    """OOMKilled (137), a probe's SIGTERM (143) and StartError (128) are not application errors."""
    for code, reason in ((137, "OOMKilled"), (143, "Error"), (128, "StartError")):
        ctx = deployment_context(_spec("app:2.0"), statuses=[_crashed(code, reason)], previous=_spec("app:1.9"))
        assert app_error_after_rollout.analyze(ctx) is None, reason


def test_restart_only_rollout_is_not_a_cause() -> None:
    """A rollout that changed no container field (e.g. `kubectl rollout restart`) cannot have broken the app."""
    ctx = deployment_context(_spec("app:2.0"), statuses=[_crashed()], previous=_spec("app:2.0"))
    assert app_error_after_rollout.analyze(ctx) is None


def test_redacted_values_are_skipped_and_said_so() -> None:
    """An env change whose values are redacted is not rolled back (nor guarded); the image still is, and the risk notes say what was left."""
    new = _spec("app:2.0")
    new["containers"][0]["env"] = [{"name": "API_KEY", "value": "[REDACTED]"}]
    old = _spec("app:1.9")
    old["containers"][0]["env"] = [{"name": "API_KEY", "value": "[REDACTED]"}, {"name": "MODE", "value": "fast"}]
    finding = app_error_after_rollout.analyze(deployment_context(new, statuses=[_crashed()], previous=old))
    assert finding is not None and finding.fix is not None
    assert all("REDACTED" not in repr(op.value) for op in finding.fix.ops)
    assert "app env" in finding.fix.risk_notes
