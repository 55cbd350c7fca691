"""app_error_after_rollout: fires only for a plain app crash that began with the rollout, and rolls back only what changed."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import app_error_after_rollout
from aegis.core.analyzers.base import AnalysisPolicy, Context
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import Category, ObjectRef, Risk


def _ctx(
    spec: dict[str, Any],
    *,
    statuses: Sequence[dict[str, Any]] = (),
    init_statuses: Sequence[dict[str, Any]] = (),
    previous: dict[str, Any] | None = None,
    previous_ready: int = 2,
    events: Sequence[dict[str, Any]] = (),
    configmaps: dict[str, list[str]] | None = None,
    secrets: dict[str, list[str]] | None = None,
    logs: dict[tuple[str, bool], str] | None = None,
) -> Context:
    """A Deployment 'app' whose newest revision (2) runs `spec`, one pod of it with these statuses."""

    def rs(rev: int, pod_spec: dict[str, Any], ready: int) -> dict[str, Any]:
        labels = {"app": "app", "pod-template-hash": f"h{rev}"}
        return {
            "kind": "ReplicaSet",
            "metadata": {"name": f"app-h{rev}", "namespace": "ns", "labels": labels, "annotations": {"deployment.kubernetes.io/revision": str(rev)}},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": copy.deepcopy(pod_spec)}},
            "status": {"replicas": 1, "readyReplicas": ready} if ready else {"replicas": 1},
        }

    workload = {
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {"app": "app"}}, "spec": copy.deepcopy(spec)}},
    }
    pod = {
        "kind": "Pod",
        "metadata": {"name": "app-h2-x1", "namespace": "ns", "labels": {"app": "app", "pod-template-hash": "h2"}},
        "spec": copy.deepcopy(spec),
        "status": {"phase": "Running", "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses)},
    }
    replicasets = [rs(2, spec, 0)] + ([rs(1, previous, previous_ready)] if previous is not None else [])
    keyed = [
        {"kind": kind, "metadata": {"name": n, "namespace": "ns"}, "data": {k: "[REDACTED]" for k in keys}}
        for kind, pool in (("ConfigMap", configmaps or {}), ("Secret", secrets or {}))
        for n, keys in pool.items()
    ]
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="app"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        replicasets=replicasets,
        events=list(events),
        configmaps=[o for o in keyed if o["kind"] == "ConfigMap"],
        secrets=[o for o in keyed if o["kind"] == "Secret"],
        logs=[ContainerLogs(pod="app-h2-x1", container=c, previous=p, text=t) for (c, p), t in (logs or {}).items()],
        observed_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


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
    ctx = _ctx(
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
    ctx = _ctx(_spec("app:2.0"), statuses=[_crashed()], previous=_spec("app:1.9"), previous_ready=0)
    assert app_error_after_rollout.analyze(ctx) is None


def test_kills_and_start_failures_belong_to_other_classes() -> None:
    """OOMKilled (137), a probe's SIGTERM (143) and StartError (128) are not application errors."""
    for code, reason in ((137, "OOMKilled"), (143, "Error"), (128, "StartError")):
        ctx = _ctx(_spec("app:2.0"), statuses=[_crashed(code, reason)], previous=_spec("app:1.9"))
        assert app_error_after_rollout.analyze(ctx) is None, reason


def test_restart_only_rollout_is_not_a_cause() -> None:
    """A rollout that changed no container field (e.g. `kubectl rollout restart`) cannot have broken the app."""
    ctx = _ctx(_spec("app:2.0"), statuses=[_crashed()], previous=_spec("app:2.0"))
    assert app_error_after_rollout.analyze(ctx) is None


def test_redacted_values_are_skipped_and_said_so() -> None:
    """An env change whose values are redacted is not rolled back (nor guarded); the image still is, and the risk notes say what was left."""
    new = _spec("app:2.0")
    new["containers"][0]["env"] = [{"name": "API_KEY", "value": "[REDACTED]"}]
    old = _spec("app:1.9")
    old["containers"][0]["env"] = [{"name": "API_KEY", "value": "[REDACTED]"}, {"name": "MODE", "value": "fast"}]
    finding = app_error_after_rollout.analyze(_ctx(new, statuses=[_crashed()], previous=old))
    assert finding is not None and finding.fix is not None
    assert all("REDACTED" not in repr(op.value) for op in finding.fix.ops)
    assert "app env" in finding.fix.risk_notes
