"""The engine against the real control plane: each example incident breaks, is diagnosed, and heals only with the right fix.

For every example whose expected.json does not set "live": false, in a fresh namespace:
the manifest is applied and reaches its broken state; the evidence collected through the AEGIS
ServiceAccount diagnoses as the expected category with a fix; a snapshot of that evidence diagnoses
the same; a wrong fix (a plain restart) does not heal it; the engine's JSON patch, server-side
applied by the Remediator (dry-run, guarded patch, a StatefulSet's stuck pods evicted), makes the
workload roll out Ready; the same patch again is refused by its test guards.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from aegis.core.analyzers.engine import diagnose
from aegis.core.errors import ConflictError
from aegis.core.evidence import snapshot_writer
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import AnalysisPolicy, Diagnosis
from aegis.core.remediation.remediator import Remediator
from tests.cluster.controlplane import resource_path
from tests.incidents import EXAMPLES, Incident, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example, healthy, remove_cluster_scoped

pytestmark = pytest.mark.integration

LIVE = [i for i in load_all(EXAMPLES) if i.expected.get("live", True)]


async def _poll(what: str, probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@pytest.mark.parametrize("incident", LIVE, ids=[i.name for i in LIVE])
async def test_example_breaks_is_diagnosed_and_heals(control_plane: Cluster, incident: Incident, tmp_path: Path) -> None:
    """The live incident is diagnosed as expected (also from its snapshot), survives a restart, and heals with the engine's patch."""
    started = time.monotonic()
    target = deploy_example(control_plane, incident)
    ns = target.namespace
    expected = incident.expected["category"]

    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:

        async def diagnosed_as_expected() -> tuple[ObjectBundle, Diagnosis] | None:
            # One collection per try, diagnosed and (below) written as the snapshot: comparing two collections
            # would race the cluster (an init container's log that appears between them changes the best fix).
            bundle, notes = await Investigator(gateway).collect(target)
            d = diagnose(bundle, AnalysisPolicy(), notes)
            return (bundle, d) if d.rca.category.value == expected and (d.fix is not None) == incident.expected["fix"] else None

        bundle, diagnosis = await _poll(f"{target} diagnosed as {expected}\n{control_plane.dump(ns)}", diagnosed_as_expected, timeout=75)

        # The snapshot of that live state diagnoses the same, with the same patch.
        snapshot_writer.write(bundle, tmp_path / "snap")
        offline = await Investigator(SnapshotGateway.open(tmp_path / "snap")).investigate(target)
        assert offline.rca.category == diagnosis.rca.category
        assert (offline.fix.patch_json() if offline.fix else None) == (diagnosis.fix.patch_json() if diagnosis.fix else None)

        if diagnosis.fix is None:
            return

        fix = diagnosis.fix
        service_fix = fix.target.kind == "Service"
        # A wrong fix — delete the pods, as a hurried on-call would — does not heal the workload; deleting
        # (unlike a template change) keeps the rollout history the diagnosis rests on.
        if not service_fix and target.kind != "Pod":
            for pod in control_plane.pods(ns):
                control_plane.api.delete(resource_path("Pod", ns, pod["metadata"]["name"]))
            await asyncio.sleep(8)
            assert not healthy(control_plane, target), f"deleting the pods healed {target}: the simulation does not follow the spec\n{control_plane.dump(ns)}"

        # Applied as Apply does it: dry-run, guarded patch, a StatefulSet's stuck pods evicted, rollout watched.
        applied = await Remediator(gateway, rollout_timeout=120).apply(fix)
        assert applied.ok, f"{applied.outcome}: {applied.reason}\n{applied.phases}\n{control_plane.dump(ns)}"

        async def healed() -> bool:
            if service_fix:  # the Service now routes to the workload's ready pods
                endpoints = control_plane.api.get(resource_path("Endpoints", ns, fix.target.name))
                return any(subset.get("addresses") for subset in endpoints.get("subsets") or [])
            return healthy(control_plane, target)

        await _poll(f"{target} healthy after the fix\n{control_plane.dump(ns)}", healed, timeout=120)

        # The guards: the object changed, so the same patch no longer applies.
        if any(op["op"] == "test" for op in fix.patch_json()) and any(op["op"] == "replace" for op in fix.patch_json()):
            with pytest.raises(ConflictError):
                await gateway.patch_json(fix.target.kind, fix.target.namespace, fix.target.name, fix.patch_json(), dry_run=True)
    finally:
        await gateway.close()
        remove_cluster_scoped(control_plane, incident)
        print(f"\n[{incident.name}] {time.monotonic() - started:.1f}s")
