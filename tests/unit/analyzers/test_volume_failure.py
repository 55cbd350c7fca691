"""volume_failure: claim problems recognised from scheduler and kubelet messages; ConfigMap mounts left to their class."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import volume_failure as vf
from aegis.core.analyzers.base import Context
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import AnalysisPolicy, Category, ObjectRef

PRE = " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."


def _spec(claim: str) -> dict[str, Any]:
    return {
        "containers": [{"name": "app", "image": "app:1", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}, {"name": "cfg", "configMap": {"name": "app-cfg"}}],
    }


def _ctx(pod: dict[str, Any], events: list[dict[str, Any]] | None = None, pvcs: list[dict[str, Any]] | None = None) -> Context:
    workload = {"kind": "Deployment", "metadata": {"name": "app", "namespace": "ns"}, "spec": {"template": {"metadata": {}, "spec": pod["spec"]}}}
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="app"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        events=events or [],
        pvcs=pvcs or [],
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def _creating_pod(claim: str = "data-app") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": "app-1", "namespace": "ns"},
        "spec": {**_spec(claim), "nodeName": "n1"},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]},
    }


def _event(reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Event", "type": "Warning", "reason": reason, "message": message, "involvedObject": {"kind": "Pod", "name": "app-1"}}


def test_missing_claim_from_the_scheduler_gives_manual_steps_naming_it() -> None:
    """'persistentvolumeclaim "x" not found' without a rollout that renamed it: no patch, the claim is named."""
    pod = {
        "kind": "Pod",
        "metadata": {"name": "app-1", "namespace": "ns"},
        "spec": _spec("orders-data"),
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": '0/2 nodes are available: persistentvolumeclaim "orders-data" not found.' + PRE,
                }
            ],
        },
    }
    finding = vf.analyze(_ctx(pod))
    assert finding is not None and finding.category is Category.VOLUME_FAILURE and finding.fix is None
    assert "orders-data" in finding.summary and "orders-data" in finding.manual_steps[0]


def test_failed_mount_of_a_persistent_volume_is_recognised() -> None:
    """A kubelet MountVolume.SetUp failure on a claim-backed volume is a volume failure."""
    message = 'MountVolume.SetUp failed for volume "data" : rpc error: code = Internal desc = mount failed: exit status 32'
    finding = vf.analyze(_ctx(_creating_pod(), [_event("FailedMount", message)]))
    assert finding is not None and finding.category is Category.VOLUME_FAILURE
    assert "data" in finding.summary


def test_multi_attach_error_maps_the_pv_name_to_its_claim() -> None:
    """FailedAttachVolume names the PV (pvc-…); the claim bound to it is the one reported."""
    pvc = {"kind": "PersistentVolumeClaim", "metadata": {"name": "data-app"}, "spec": {"volumeName": "pvc-8f1c"}, "status": {"phase": "Bound"}}
    message = 'Multi-Attach error for volume "pvc-8f1c" Volume is already exclusively attached to one node and can\'t be attached to another'
    finding = vf.analyze(_ctx(_creating_pod(), [_event("FailedAttachVolume", message)], [pvc]))
    assert finding is not None and finding.fix is None
    assert any("Multi-Attach" in step for step in finding.manual_steps)


def test_configmap_mount_failure_is_not_a_volume_failure() -> None:
    """FailedMount because a ConfigMap is missing belongs to missing_config_reference."""
    message = 'MountVolume.SetUp failed for volume "cfg" : configmap "app-cfg" not found'
    assert vf.analyze(_ctx(_creating_pod(), [_event("FailedMount", message)])) is None


def test_running_pod_with_an_old_mount_event_is_ignored() -> None:
    """A FailedMount that has since resolved (the pod runs) is history, not the cause."""
    pod = _creating_pod()
    pod["status"] = {"phase": "Running", "containerStatuses": [{"name": "app", "state": {"running": {}}, "ready": True}]}
    message = 'MountVolume.SetUp failed for volume "data" : rpc error: code = DeadlineExceeded desc = context deadline exceeded'
    assert vf.analyze(_ctx(pod, [_event("FailedMount", message)])) is None
