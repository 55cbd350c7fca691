"""oom_killed: which container the kernel killed, and how far its memory limit may be raised."""

from __future__ import annotations

from aegis.core import objects
from aegis.core.analyzers import liveness_probe_failure, oom_killed
from aegis.core.models import AnalysisPolicy, Category
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def test_sidecar_victim_gets_the_raise_and_the_app_container_is_untouched() -> None:
    """In an app + sidecar pod, only the OOMKilled sidecar's limit changes, to 2x (64Mi -> 128Mi)."""
    finding = oom_killed.analyze(context_of(await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")))
    assert finding is not None and finding.category is Category.OOM_KILLED
    ops = fix_ops(finding)
    assert {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "log-shipper"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/1/resources/limits/memory", "value": "128Mi"} in ops
    assert not any("/containers/0/" in str(op["path"]) for op in ops)
    assert "sidecar" in finding.summary


async def test_new_limit_is_capped_at_the_policy_ceiling() -> None:
    """The factor is applied, then bounded by memory_limit_max_mib (64Mi x 3 = 192Mi, capped at 150Mi)."""
    bundle = await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")
    finding = oom_killed.analyze(context_of(bundle, AnalysisPolicy(memory_limit_factor=3.0, memory_limit_max_mib=150)))
    assert finding is not None and finding.fix is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/1/resources/limits/memory", "value": "150Mi"} in fix_ops(finding)
    assert "150Mi policy ceiling" in finding.fix.rationale


async def test_limit_already_at_the_ceiling_gives_no_patch() -> None:
    """An 8Gi limit with the default 8192Mi ceiling: no fix, and manual steps that say why."""
    finding = oom_killed.analyze(context_of(await snapshot_bundle("fraud-scorer-backlog", "Deployment", "risk", "fraud-scorer")))
    assert finding is not None and finding.fix is None
    assert any("8192Mi" in step for step in finding.manual_steps)


async def test_missing_request_is_pinned_to_the_old_limit() -> None:
    """Without a memory request (which defaults to the limit), the patch adds one equal to the old limit."""
    bundle = (await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")).model_copy(deep=True)
    assert bundle.workload is not None
    sidecar = objects.pod_spec(bundle.workload)["containers"][1]
    sidecar["resources"] = {"limits": {"memory": "64Mi"}}
    finding = oom_killed.analyze(context_of(bundle))
    assert finding is not None
    assert {"op": "add", "path": "/spec/template/spec/containers/1/resources/requests", "value": {"memory": "64Mi"}} in fix_ops(finding)


async def test_liveness_kills_around_an_oom_kill_are_left_to_oom_killed() -> None:
    """A StatefulSet pod with liveness failures and an OOMKilled last state: liveness steps aside, OOM explains the probe."""
    ctx = context_of(await snapshot_bundle("search-indexer-flapping", "Pod", "catalog", "search-indexer-1"))
    assert liveness_probe_failure.analyze(ctx) is None
    finding = oom_killed.analyze(ctx)
    assert finding is not None
    assert any("symptom of the OOM kills" in step for step in finding.steps)


async def test_exit_137_without_oomkilled_is_not_oom() -> None:
    """SIGKILL after liveness timeouts (exit 137, reason Error) and a log that mentions OOM in passing is not an OOM kill."""
    bundle = await snapshot_bundle("sigkill-after-probe-timeouts", "Deployment", "geo", "tile-server", near_miss=True)
    assert oom_killed.analyze(context_of(bundle)) is None


async def test_no_raise_when_an_earlier_raise_did_not_stop_the_kills() -> None:
    """Revision 11 ran log-shipper at 32Mi, revision 12 raised it to 64Mi and it is still OOMKilled: unbounded growth, manual steps."""
    bundle = (await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")).model_copy(deep=True)
    older = min(bundle.replicasets, key=objects.revision)
    objects.pod_spec(older)["containers"][1]["resources"]["limits"]["memory"] = "32Mi"
    finding = oom_killed.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("Do not raise" in step for step in finding.manual_steps)
    assert any("already raised its limit from 32Mi to 64Mi" in step for step in finding.steps)


async def test_no_raise_when_the_limit_is_hit_within_seconds_of_start() -> None:
    """Killed 3 s after each start: doubling the limit buys seconds, so no patch."""
    bundle = (await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")).model_copy(deep=True)
    for pod in bundle.pods:
        for status in objects.container_statuses(pod):
            terminated = (status.get("lastState") or {}).get("terminated")
            if terminated and terminated.get("reason") == "OOMKilled":
                terminated.update({"startedAt": "2026-11-26T03:13:54Z", "finishedAt": "2026-11-26T03:13:57Z"})
    finding = oom_killed.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("3 s after it started" in step for step in finding.steps)


async def test_a_slow_climb_still_gets_its_raise() -> None:
    """Killed after five minutes of work (the snapshot as recorded): the limit is raised as before."""
    finding = oom_killed.analyze(context_of(await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")))
    assert finding is not None and finding.fix is not None


async def test_bare_pod_gets_manual_steps_instead_of_a_resources_patch() -> None:
    """A Pod no controller owns cannot have its resources patched: the raise becomes a recreate-by-hand step naming the Pod."""
    from aegis.core.analyzers.engine import diagnose
    from aegis.core.models import ObjectRef

    bundle = (await snapshot_bundle("ledger-api-degraded", "Deployment", "payments", "ledger-api")).model_copy(deep=True)
    pod = bundle.pods[0]
    pod["metadata"].pop("ownerReferences", None)
    bundle.workload, bundle.pods, bundle.replicasets = pod, [pod], []
    bundle.target = ObjectRef(kind="Pod", namespace="payments", name=objects.name(pod))
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.OOM_KILLED
    assert diagnosis.fix is None
    assert f"Pod {objects.name(pod)} has no controller" in diagnosis.manual_steps[0]
    assert "limits" in diagnosis.manual_steps[0] or "memory" in diagnosis.manual_steps[0]
    assert not any(step.startswith("Fix: ") for step in diagnosis.rca.analysis_steps)
