"""job/, cronjob/, service/ and pvc/ targets are investigated through the pods they run, route to or are mounted by."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import yaml

from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, ObjectRef
from tests.incidents import EXAMPLES


async def _investigate(directory: Path, kind: str, namespace: str, name: str):  # type: ignore[no-untyped-def]
    investigator = Investigator(SnapshotGateway.open(directory))
    target = ObjectRef(kind=kind, namespace=namespace, name=name)
    bundle, _ = await investigator.collect(target)
    return bundle, await investigator.investigate(target)


async def test_pvc_target_follows_the_claim_to_the_pods_that_mount_it() -> None:
    """pvc/ledger-wal: the pod that mounts it, its Deployment, the claim's StorageClass; diagnosed disk_full with the claim's fix."""
    bundle, diagnosis = await _investigate(EXAMPLES / "ledger-wal-disk-full" / "snapshot", "PersistentVolumeClaim", "ledger", "ledger-wal")
    assert bundle.workload_ref == ObjectRef(kind="Deployment", namespace="ledger", name="orders-ledger")
    assert [p["metadata"]["name"].startswith("orders-ledger-") for p in bundle.pods] == [True]
    assert [sc["metadata"]["name"] for sc in bundle.storageclasses] == ["standard"]
    assert diagnosis.rca.category is Category.DISK_FULL
    assert diagnosis.fix is not None and diagnosis.fix.target.kind == "PersistentVolumeClaim"


async def test_service_target_follows_its_selector_to_the_backing_pods() -> None:
    """svc/checkout: the pods it selects and their Deployment; the diagnosis is theirs."""
    bundle, diagnosis = await _investigate(EXAMPLES / "crashloop-missing-env" / "snapshot", "Service", "shop", "checkout")
    assert bundle.workload_ref == ObjectRef(kind="Deployment", namespace="shop", name="checkout")
    assert bundle.pods
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR


async def test_service_selecting_nothing_is_followed_to_the_pods_it_was_meant_for() -> None:
    """svc/node-exporter selects no pod: the pods sharing part of its selector are investigated, and the mismatch is found."""
    bundle, diagnosis = await _investigate(EXAMPLES / "monitoring-exporter-scrape-gap" / "snapshot", "Service", "monitoring", "node-exporter")
    assert bundle.workload_ref is not None and bundle.workload_ref.kind == "DaemonSet"
    assert diagnosis.rca.category is Category.SERVICE_SELECTOR_MISMATCH


async def test_job_target_and_its_pod_name_the_same_job(tmp_path: Path) -> None:
    """job/invoice-export and pod/<one of its pods> both have the Job as workload and diagnose job_failed."""
    snapshot = EXAMPLES / "invoice-export-job" / "snapshot"
    bundle, diagnosis = await _investigate(snapshot, "Job", "billing", "invoice-export")
    assert bundle.workload_ref == ObjectRef(kind="Job", namespace="billing", name="invoice-export")
    assert [j["metadata"]["name"] for j in bundle.jobs] == ["invoice-export"]
    assert diagnosis.rca.category is Category.JOB_FAILED
    pod = bundle.pods[0]["metadata"]["name"]
    by_pod, diagnosis = await _investigate(snapshot, "Pod", "billing", pod)
    assert by_pod.workload_ref == ObjectRef(kind="Job", namespace="billing", name="invoice-export")
    assert diagnosis.rca.category is Category.JOB_FAILED


async def test_cronjob_target_follows_its_recent_jobs(tmp_path: Path) -> None:
    """cronjob/invoice-export: its Jobs (oldest first) and their pods; the newest Job's failure is the diagnosis."""
    directory = tmp_path / "snap"
    shutil.copytree(EXAMPLES / "invoice-export-job" / "snapshot", directory)
    objs = [o for o in yaml.safe_load_all((directory / "objects.yaml").read_text()) if o]
    job = next(o for o in objs if o["kind"] == "Job")
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "invoice-export", "namespace": "billing", "uid": "c0ffee00-0000-4000-8000-000000000001"},
        "spec": {"schedule": "0 2 1 * *", "jobTemplate": {"spec": copy.deepcopy(job["spec"])}},
        "status": {"lastScheduleTime": "2026-12-04T18:27:50Z"},
    }
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "invoice-export", "uid": cronjob["metadata"]["uid"], "controller": True}
    job["metadata"]["ownerReferences"] = [owner]
    older = copy.deepcopy(job)
    older["metadata"].update(name="invoice-export-29000000", creationTimestamp="2026-11-01T02:00:00Z", uid="0ld")
    older["status"] = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    (directory / "objects.yaml").write_text(yaml.safe_dump_all([*objs, cronjob, older], sort_keys=False))
    bundle, diagnosis = await _investigate(directory, "CronJob", "billing", "invoice-export")
    assert bundle.workload_ref == ObjectRef(kind="CronJob", namespace="billing", name="invoice-export")
    assert [j["metadata"]["name"] for j in bundle.jobs] == ["invoice-export-29000000", "invoice-export"]
    assert bundle.pods
    assert diagnosis.rca.category is Category.JOB_FAILED
    assert any("cronjob/invoice-export" in step for step in diagnosis.manual_steps)
