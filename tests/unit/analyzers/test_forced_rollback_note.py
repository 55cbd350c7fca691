"""A StatefulSet fix tells the approver, before Apply, that Apply evicts the pods stuck on the broken revision."""

from __future__ import annotations

from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from tests.incidents import EXAMPLES, load_all

BY_NAME = {i.name: i for i in load_all(EXAMPLES)}


async def test_statefulset_rollback_names_the_eviction() -> None:
    """catalog-search-indexer's rollback of a StatefulSet template says its stuck pods will be evicted."""
    incident = BY_NAME["catalog-search-indexer"]
    diagnosis = await Investigator(SnapshotGateway.open(incident.snapshot)).investigate(incident.target)
    assert diagnosis.fix is not None and diagnosis.fix.target.kind == "StatefulSet"
    assert "evicts the pods that are not Ready on the broken revision" in diagnosis.fix.risk_notes


async def test_deployment_fix_says_nothing_of_evictions() -> None:
    """A Deployment replaces its broken pods itself: no eviction note."""
    incident = BY_NAME["finance-ledger"]
    diagnosis = await Investigator(SnapshotGateway.open(incident.snapshot)).investigate(incident.target)
    assert diagnosis.fix is not None and "evict" not in diagnosis.fix.risk_notes
