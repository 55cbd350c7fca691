"""Roll back of a StatefulSet whose applied fix failed: the pods stuck on the fix's revision are evicted.

catalog-search-indexer: search-indexer-2 crash-loops on 0.22.0. A wrong fix (RUST_LOG=debug, image
still 0.22.0) is applied: Apply evicts search-indexer-2, its replacement on the fix's revision
crash-loops too, the rollout fails. Roll back restores the template; the StatefulSet controller
would wait forever for the not-Ready pod on the fix's revision (Kubernetes' forced-rollback rule),
so Roll back evicts it as well, and the pod comes back on the revision that was there before Apply.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aegis.core.kube.live import LiveGateway
from aegis.core.models import FixProposal, ObjectRef, PatchOperation, Risk
from aegis.core.remediation.remediator import Remediator
from tests.cluster.controlplane import resource_path
from tests.incidents import EXAMPLES, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example
from tests.integration.observability.prometheus import poll

pytestmark = pytest.mark.integration

EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "catalog-search-indexer")
BROKEN_IMAGE = "ghcr.io/acme-catalog/search-indexer:0.22.0"
STUCK = "search-indexer-2"


def _revision_of(cluster: Cluster, ns: str, pod: str) -> str | None:
    found = [p for p in cluster.pods(ns) if p["metadata"]["name"] == pod]
    return found[0]["metadata"]["labels"].get("controller-revision-hash") if found else None


def _crash_looping(cluster: Cluster, ns: str, pod: str) -> bool:
    found = [p for p in cluster.pods(ns) if p["metadata"]["name"] == pod]
    statuses = (found[0].get("status") or {}).get("containerStatuses") or [] if found else []
    return any(((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" for s in statuses)


async def test_rollback_after_a_failed_fix_evicts_the_pod_stuck_on_the_fix_revision(control_plane: Cluster) -> None:
    target = await asyncio.to_thread(deploy_example, control_plane, EXAMPLE)
    ns = target.namespace
    sts_path = resource_path("StatefulSet", ns, target.name)

    async def broken() -> bool:
        return await asyncio.to_thread(_crash_looping, control_plane, ns, STUCK)

    await poll(f"{STUCK} to crash-loop on {BROKEN_IMAGE}", broken, timeout=90, interval=0.5)
    before = control_plane.api.get(sts_path)
    broken_revision = before["status"]["updateRevision"]
    assert _revision_of(control_plane, ns, STUCK) == broken_revision
    env = before["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "RUST_LOG"

    wrong = FixProposal(
        target=ObjectRef(kind="StatefulSet", namespace=ns, name=target.name),
        patch=[
            PatchOperation(op="test", path="/spec/template/spec/containers/0/image", value=BROKEN_IMAGE),
            PatchOperation(op="test", path="/spec/template/spec/containers/0/env/0/name", value="RUST_LOG"),
            PatchOperation(op="replace", path="/spec/template/spec/containers/0/env/0/value", value="debug"),
        ],
        summary="more logging (a fix that fixes nothing)",
        decision_rationale="test",
        risk=Risk.LOW,
    )
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:
        remediator = Remediator(gateway, rollout_timeout=20)
        applied = await remediator.apply(wrong)
        assert not applied.ok and applied.outcome == "rollout_failed" and applied.record is not None, applied
        fix_revision = control_plane.api.get(sts_path)["status"]["updateRevision"]
        assert fix_revision != broken_revision

        async def stuck_on_fix_revision() -> bool:
            return _revision_of(control_plane, ns, STUCK) == fix_revision and await broken()

        await poll(f"{STUCK} to crash-loop on the fix's revision", stuck_on_fix_revision, timeout=60, interval=0.5)

        rolled = await remediator.rollback(applied.record)
        assert rolled.ok and rolled.outcome == "rolled_back", rolled
        after = control_plane.api.get(sts_path)
        assert after["spec"]["template"] == before["spec"]["template"]
        assert after["status"]["updateRevision"] == broken_revision  # the controller reuses the old ControllerRevision

        async def back_on_the_previous_revision() -> Any:
            return _revision_of(control_plane, ns, STUCK) == broken_revision

        await poll(f"{STUCK} recreated on the revision before Apply\n{control_plane.dump(ns)}", back_on_the_previous_revision, timeout=60, interval=0.5)
        unblock = next(p for p in rolled.phases if p.name == "unblock")
        assert unblock.ok and STUCK in unblock.detail, unblock
        # The healthy pods were never touched.
        assert {_revision_of(control_plane, ns, p) for p in ("search-indexer-0", "search-indexer-1")} == {before["status"]["currentRevision"]}
    finally:
        await gateway.close()
