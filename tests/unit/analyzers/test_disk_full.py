"""disk_full: from the ENOSPC line to the mount, the volume, the claim and its StorageClass; expand only when the class allows it."""

from __future__ import annotations

from aegis.core.analyzers import disk_full
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def _bundle() -> ObjectBundle:
    return await snapshot_bundle("ledger-wal-disk-full", "Deployment", "ledger", "orders-ledger")


def _log(bundle: ObjectBundle, text: str) -> None:
    bundle.logs = [ContainerLogs(pod=entry.pod, container=entry.container, previous=entry.previous, text=text) for entry in bundle.logs]


async def test_full_claim_is_expanded_with_guards() -> None:
    """The path /var/lib/ledger/wal/… lies on claim ledger-wal (1Gi, class standard, expandable): 1Gi -> 2Gi, guarded."""
    finding = disk_full.analyze(context_of(await _bundle()))
    assert finding is not None and finding.fix is not None and finding.fix.target is not None
    assert finding.fix.target["kind"] == "PersistentVolumeClaim"
    ops = fix_ops(finding)
    assert {"op": "test", "path": "/spec/resources/requests/storage", "value": "1Gi"} in ops
    assert {"op": "test", "path": "/spec/storageClassName", "value": "standard"} in ops
    assert {"op": "replace", "path": "/spec/resources/requests/storage", "value": "2Gi"} in ops
    text = " ".join([finding.summary, *finding.steps])
    for fact in ("ledger-wal", "/var/lib/ledger", "volume wal", "1Gi", "StorageClass standard"):
        assert fact in text, fact


async def test_class_without_expansion_gets_manual_steps() -> None:
    """allowVolumeExpansion false: no patch (the API server would refuse it); the steps name the claim and the class."""
    bundle = await _bundle()
    for sc in bundle.storageclasses:
        sc["allowVolumeExpansion"] = False
    finding = disk_full.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert "does not allow expansion" in finding.manual_steps[0] and "ledger-wal" in finding.manual_steps[0]


async def test_full_emptydir_is_not_a_claim_problem() -> None:
    """ENOSPC under /tmp (an emptyDir): disk_full, no claim patch, the steps speak of the emptyDir."""
    bundle = await _bundle()
    _log(bundle, "INFO starting\nERROR open /tmp/spill/batch-0042.tmp: no space left on device\n")
    finding = disk_full.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert "emptyDir" in finding.manual_steps[0]


async def test_python_errno_28_is_recognized() -> None:
    """Python's "OSError: [Errno 28] No space left on device: '/var/lib/ledger/x'" is the same failure."""
    bundle = await _bundle()
    _log(bundle, "Traceback (most recent call last):\nOSError: [Errno 28] No space left on device: '/var/lib/ledger/wal/seg-9'\n")
    finding = disk_full.analyze(context_of(bundle))
    assert finding is not None and finding.fix is not None


async def test_healthy_container_with_an_old_enospc_line_is_not_disk_full() -> None:
    """A Running, Ready container that once logged ENOSPC (and recovered) is not failing because of it."""
    bundle = await _bundle()
    for pod in bundle.pods:
        pod["status"]["containerStatuses"] = [
            {"name": "ledger", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": "2026-12-04T18:30:00Z"}}, "image": "x"}
        ]
    assert disk_full.analyze(context_of(bundle)) is None


async def test_words_about_free_space_are_not_enospc() -> None:
    """A log that talks about disk space without the ENOSPC error does not match."""
    bundle = await _bundle()
    _log(bundle, "WARN disk usage 91% on /var/lib/ledger, compaction scheduled\nFATAL config: unknown field 'walDir'\n")
    assert disk_full.analyze(context_of(bundle)) is None


async def test_inotify_watch_limit_is_not_a_full_disk() -> None:
    """Node.js's 'ENOSPC: System limit for number of file watchers reached' is the inotify table, not a disk."""
    bundle = await _bundle()
    _log(bundle, "Error: ENOSPC: System limit for number of file watchers reached, watch '/var/lib/ledger/wal'\n")
    assert disk_full.analyze(context_of(bundle)) is None


async def test_relative_path_falls_back_to_the_only_claim() -> None:
    """MySQL's "Disk is full writing './binlog.000003' (OS errno 28 - No space left on device)": no absolute path, so the one claim mount is named."""
    bundle = await _bundle()
    _log(
        bundle,
        "[ERROR] [MY-000035] [Server] Disk is full writing './binlog.000003' (OS errno 28 - No space left on device). Waiting for someone to free space...\n",
    )
    finding = disk_full.analyze(context_of(bundle))
    assert finding is not None and finding.fix is not None
    assert any("only writable claim is mounted at /var/lib/ledger" in step for step in finding.steps)


def test_scope_lets_a_disk_full_fix_change_only_a_claims_size() -> None:
    """The model and the Apply gate may change a PVC's requested storage for disk_full, nothing else and no other kind."""
    from aegis.core.fixes import scope
    from aegis.core.models import Category

    assert scope.target_kinds(Category.DISK_FULL) == frozenset({"PersistentVolumeClaim"})
    assert scope.allows(Category.DISK_FULL, "PersistentVolumeClaim", "/spec/resources/requests/storage")
    assert not scope.allows(Category.DISK_FULL, "PersistentVolumeClaim", "/spec/storageClassName")
    assert not scope.allows(Category.DISK_FULL, "PersistentVolumeClaim", "/spec/volumeName")
