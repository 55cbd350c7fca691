"""job/, cronjob/, service/ and pvc/ targets investigated live, through the AEGIS ServiceAccount, on the real control plane."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Category, Diagnosis, ObjectRef
from tests.cluster.controlplane import resource_path
from tests.incidents import EXAMPLES, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example

pytestmark = pytest.mark.integration

_IMAGE = "registry.internal/billing/invoice-export:2.0.0"


async def _diagnosed(gateway: LiveGateway, target: ObjectRef, category: Category, timeout: float = 90) -> Diagnosis:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await Investigator(gateway).investigate(target)
        if last.rca.category is category:
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(1)
    raise AssertionError(f"{target} not diagnosed as {category.value} in {timeout:.0f}s; last: {last.rca.category.value}: {last.rca.summary}")


async def test_service_and_pvc_targets_reach_the_pods_behind_them(control_plane: Cluster) -> None:
    """svc/ and pvc/ of the full-volume example are followed to its Deployment and diagnosed disk_full, the claim's fix included."""
    incident = next(i for i in load_all(EXAMPLES) if i.name == "ledger-wal-disk-full")
    workload = deploy_example(control_plane, incident)
    ns = workload.namespace
    control_plane.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ledger"},
            "spec": {"selector": {"app": "orders-ledger"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        ns,
    )
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:
        by_claim = await _diagnosed(gateway, ObjectRef(kind="PersistentVolumeClaim", namespace=ns, name="ledger-wal"), Category.DISK_FULL)
        assert by_claim.workload == workload
        assert by_claim.fix is not None and by_claim.fix.target == ObjectRef(kind="PersistentVolumeClaim", namespace=ns, name="ledger-wal")
        by_service = await _diagnosed(gateway, ObjectRef(kind="Service", namespace=ns, name="ledger"), Category.DISK_FULL)
        assert by_service.workload == workload
    finally:
        await gateway.close()


async def test_job_and_cronjob_targets_name_the_failed_job(control_plane: Cluster) -> None:
    """A suspended CronJob's Job (run by hand, as kubectl create job --from does) fails: job/ and cronjob/ both diagnose job_failed."""
    ns = control_plane.create_namespace("targets-batch")
    template = {
        "metadata": {"annotations": {"sim.aegis.dev/crash-when": '{"export": {"image": "' + _IMAGE + '"}}'}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "export", "image": _IMAGE}]},
    }
    cronjob = control_plane.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "invoice-export"},
            "spec": {"schedule": "0 2 1 * *", "suspend": True, "jobTemplate": {"spec": {"backoffLimit": 0, "template": template}}},
        },
        ns,
    )[0]
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "invoice-export", "uid": cronjob["metadata"]["uid"], "controller": True}
    control_plane.api.create(
        resource_path("Job", ns),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "invoice-export-manual-1", "ownerReferences": [owner]},
            "spec": {"backoffLimit": 0, "template": template},
        },
    )
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:
        by_job = await _diagnosed(gateway, ObjectRef(kind="Job", namespace=ns, name="invoice-export-manual-1"), Category.JOB_FAILED)
        assert by_job.workload == ObjectRef(kind="Job", namespace=ns, name="invoice-export-manual-1")
        assert "BackoffLimitExceeded" in by_job.rca.summary and "exit code 1" in by_job.rca.summary
        by_cronjob = await _diagnosed(gateway, ObjectRef(kind="CronJob", namespace=ns, name="invoice-export"), Category.JOB_FAILED)
        assert by_cronjob.workload == ObjectRef(kind="CronJob", namespace=ns, name="invoice-export")
        assert by_cronjob.fix is None and any("--from=cronjob/invoice-export" in step for step in by_cronjob.manual_steps)
    finally:
        await gateway.close()
