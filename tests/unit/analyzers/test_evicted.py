"""evicted: whose use caused the eviction, and how much to reserve for it."""

from __future__ import annotations

from aegis.core.analyzers import evicted
from aegis.core.analyzers.base import Context, Finding
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import AnalysisPolicy, ObjectRef
from tests.incidents import EXAMPLES, NEAR_MISSES


async def _bundle(directory: str, kind: str, namespace: str, name: str, *, near_miss: bool = False) -> ObjectBundle:
    root = NEAR_MISSES if near_miss else EXAMPLES
    bundle, _ = await Investigator(SnapshotGateway.open(root / directory / "snapshot")).collect(ObjectRef(kind=kind, namespace=namespace, name=name))
    return bundle.model_copy(deep=True)


def _ctx(bundle: ObjectBundle) -> Context:
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def _ops(finding: Finding) -> list[dict[str, object]]:
    assert finding.fix is not None
    return [op.as_json() for op in finding.fix.ops]


async def test_request_covers_the_largest_reported_use_with_headroom() -> None:
    """Two evictions report 5873012Ki and 6291456Ki: request 6144Mi x 1.25 = 7680Mi, limit 2x the use = 12288Mi."""
    finding = evicted.analyze(_ctx(await _bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")))
    assert finding is not None and finding.confidence >= 0.9
    ops = _ops(finding)
    assert {"op": "add", "path": "/spec/template/spec/containers/0/resources/requests/ephemeral-storage", "value": "7680Mi"} in ops
    assert {"op": "add", "path": "/spec/template/spec/containers/0/resources/limits/ephemeral-storage", "value": "12288Mi"} in ops


async def test_use_beyond_what_the_node_can_give_proposes_nothing() -> None:
    """When the needed request exceeds the node's allocatable ephemeral storage, no patch is proposed."""
    bundle = await _bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")
    for node in bundle.nodes:
        node["status"]["allocatable"]["ephemeral-storage"] = "5Gi"
    finding = evicted.analyze(_ctx(bundle))
    assert finding is not None and finding.fix is None and finding.manual_steps


async def test_victim_of_node_pressure_gets_manual_steps_only() -> None:
    """A message naming no container over its request means other pods caused the pressure: no patch."""
    bundle = await _bundle("cart-capacity-drop", "Deployment", "cart", "cart-service")
    finding = evicted.analyze(_ctx(bundle))
    assert finding is not None and finding.fix is None
    assert any("kubectl describe node" in step for step in finding.manual_steps)


async def test_stale_evictions_do_not_explain_a_current_crash() -> None:
    """Evictions two days old next to a pod that is OOMKilled now: evicted stays silent."""
    bundle = await _bundle("stale-evictions-current-oom", "Deployment", "etl", "ingest-worker", near_miss=True)
    assert evicted.analyze(_ctx(bundle)) is None


async def test_own_ephemeral_limit_is_raised_by_the_policy_factor() -> None:
    """'exceeded its local ephemeral storage limit' is the pod's own bound: it is doubled (2Gi -> 4096Mi)."""
    bundle = await _bundle("nightly-reports-missing", "Deployment", "analytics", "report-renderer")
    assert bundle.workload is not None
    bundle.workload["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = "2Gi"
    for pod in bundle.pods:
        if pod["status"].get("reason") == "Evicted":
            pod["status"]["message"] = (
                "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. "
                'Container renderer exceeded its local ephemeral storage limit "2Gi". '
            )
    finding = evicted.analyze(_ctx(bundle))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/ephemeral-storage", "value": "4096Mi"} in _ops(finding)
