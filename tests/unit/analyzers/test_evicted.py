"""evicted: whose use caused the eviction, and how much to reserve for it."""

from __future__ import annotations

from aegis.core.analyzers import evicted
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def test_request_covers_the_largest_reported_use_with_headroom() -> None:
    """Two evictions report 5873012Ki and 6291456Ki: request 6144Mi x 1.25 = 7680Mi, limit 2x the use = 12288Mi."""
    finding = evicted.analyze(context_of(await snapshot_bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")))
    assert finding is not None and finding.confidence >= 0.9
    ops = fix_ops(finding)
    assert {"op": "add", "path": "/spec/template/spec/containers/0/resources/requests/ephemeral-storage", "value": "7680Mi"} in ops
    assert {"op": "add", "path": "/spec/template/spec/containers/0/resources/limits/ephemeral-storage", "value": "12288Mi"} in ops


async def test_use_beyond_what_the_node_can_give_proposes_nothing() -> None:
    """When the needed request exceeds the node's allocatable ephemeral storage, no patch is proposed."""
    bundle = await snapshot_bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")
    for node in bundle.nodes:
        node["status"]["allocatable"]["ephemeral-storage"] = "5Gi"
    finding = evicted.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None and finding.manual_steps


async def test_victim_of_node_pressure_gets_manual_steps_only() -> None:
    """A message naming no container over its request means other pods caused the pressure: no patch."""
    bundle = await snapshot_bundle("cart-capacity-drop", "Deployment", "cart", "cart-service")
    finding = evicted.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("kubectl describe node" in step for step in finding.manual_steps)


async def test_stale_evictions_do_not_explain_a_current_crash() -> None:
    """Evictions two days old next to a pod that is OOMKilled now: evicted stays silent."""
    bundle = await snapshot_bundle("stale-evictions-current-oom", "Deployment", "etl", "ingest-worker", near_miss=True)
    assert evicted.analyze(context_of(bundle)) is None


async def test_own_ephemeral_limit_is_raised_by_the_policy_factor() -> None:
    """'exceeded its local ephemeral storage limit' is the pod's own bound: it is doubled (2Gi -> 4096Mi)."""
    bundle = await snapshot_bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")
    assert bundle.workload is not None
    bundle.workload["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = "2Gi"
    for pod in bundle.pods:
        if pod["status"].get("reason") == "Evicted":
            pod["status"]["message"] = (
                "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. "
                'Container renderer exceeded its local ephemeral storage limit "2Gi". '
            )
    finding = evicted.analyze(context_of(bundle))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/ephemeral-storage", "value": "4096Mi"} in fix_ops(finding)
