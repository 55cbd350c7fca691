"""quota_exceeded: the quota, the resource, used/hard and what the rollout needs, from the API server's own refusal."""

from __future__ import annotations

from aegis.core.analyzers import quota_exceeded
from aegis.core.evidence.bundle import ObjectBundle
from tests.unit.analyzers.contexts import context_of, snapshot_bundle


async def _bundle() -> ObjectBundle:
    return await snapshot_bundle("reports-api-scale-out", "Deployment", "analytics", "reports-api")


def _refusals(bundle: ObjectBundle, message: str) -> None:
    for event in bundle.events:
        if event.get("reason") == "FailedCreate":
            event["message"] = message
    assert bundle.workload is not None
    for cond in bundle.workload["status"]["conditions"]:
        if cond["type"] == "ReplicaFailure":
            cond["message"] = message.removeprefix("Error creating: ")


async def test_names_quota_resource_usage_and_what_the_rollout_needs() -> None:
    """'exceeded quota: compute, requested: limits.memory=512Mi, used: …=1536Mi, limited: …=1536Mi' with 1 pod missing: 2Gi in all."""
    finding = quota_exceeded.analyze(context_of(await _bundle()))
    assert finding is not None and finding.fix is None
    text = " ".join([finding.summary, *finding.steps])
    for fact in ("ResourceQuota compute", "limits.memory", "1536Mi used of 1536Mi", "512Mi", "2Gi in all"):
        assert fact in text, fact
    assert any("resourcequota compute" in step and "at least 2Gi" in step for step in finding.manual_steps)
    assert all("[E" in step for step in finding.steps), finding.steps


async def test_must_specify_variant_names_the_resource_and_the_containers() -> None:
    """'failed quota: compute: must specify limits.cpu for: api; limits.memory for: api' names both resources and container api."""
    bundle = await _bundle()
    _refusals(
        bundle, 'Error creating: pods "reports-api-794569bc85-x" is forbidden: failed quota: compute: must specify limits.cpu for: api; limits.memory for: api'
    )
    finding = quota_exceeded.analyze(context_of(bundle))
    assert finding is not None
    assert "limits.cpu" in finding.summary and "container(s) api" in finding.summary
    assert any("LimitRange" in step for step in finding.manual_steps)


async def test_older_must_specify_wording_is_read_too() -> None:
    """Older API servers wrote 'must specify limits.cpu,limits.memory' without container names."""
    bundle = await _bundle()
    _refusals(bundle, 'Error creating: pods "reports-api-794569bc85-x" is forbidden: failed quota: compute: must specify limits.cpu,limits.memory')
    finding = quota_exceeded.analyze(context_of(bundle))
    assert finding is not None and "limits.cpu, limits.memory" in finding.summary


async def test_refusal_is_history_once_every_pod_exists() -> None:
    """The ReplicaSet has all the pods it wants (the quota was raised since): no quota_exceeded."""
    bundle = await _bundle()
    for rs in bundle.replicasets:
        rs["status"]["replicas"] = rs["spec"]["replicas"]
    assert bundle.workload is not None
    bundle.workload["status"]["conditions"] = [c for c in bundle.workload["status"]["conditions"] if c["type"] != "ReplicaFailure"]
    assert quota_exceeded.analyze(context_of(bundle)) is None


async def test_other_admission_refusals_are_not_quota() -> None:
    """A PodSecurity refusal in FailedCreate is not a quota (a LimitRange one is, read by limit_range_exceeded)."""
    bundle = await _bundle()
    _refusals(
        bundle, 'Error creating: pods "reports-api-794569bc85-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
    )
    assert quota_exceeded.analyze(context_of(bundle)) is None
