"""rollout_stuck: fires only when nothing more specific explains the stall; rolls back guarded, never past a quota."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from aegis.core.analyzers import rollout_stuck as rs
from aegis.core.analyzers.base import Context
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import AnalysisPolicy, Category, ObjectRef
from tests.unit.analyzers.contexts import context_of, snapshot_bundle


def _template(sa: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "w"}}, "spec": {"serviceAccountName": sa, "containers": [{"name": "w", "image": image}]}}


def _replicaset(name: str, revision: int, template: dict[str, Any], available: int) -> dict[str, Any]:
    labelled = copy.deepcopy(template)
    labelled["metadata"]["labels"]["pod-template-hash"] = name
    return {
        "kind": "ReplicaSet",
        "metadata": {"name": name, "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"replicas": 1, "template": labelled},
        "status": {"availableReplicas": available},
    }


def _ctx(create_error: str | None = None, new_pod: dict[str, Any] | None = None, workload_image: str = "w:2") -> Context:
    new, old = _template("w-sa", "w:2"), _template("w", "w:1")
    workload_template = copy.deepcopy(new)
    workload_template["spec"]["containers"][0]["image"] = workload_image
    workload = {
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"template": workload_template},
        "status": {
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": 'ReplicaSet "w-b" has timed out progressing.'},
            ]
        },
    }
    events = []
    if create_error:
        events.append(
            {
                "kind": "Event",
                "type": "Warning",
                "reason": "FailedCreate",
                "message": "Error creating: " + create_error,
                "involvedObject": {"kind": "ReplicaSet", "name": "w-b"},
                "lastTimestamp": "2026-12-01T10:00:00Z",
            }
        )
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="w"),
        namespace="ns",
        workload=workload,
        pods=[new_pod] if new_pod else [],
        replicasets=[_replicaset("w-b", 2, new, 0), _replicaset("w-a", 1, old, 1)],
        events=events,
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


SA_ERROR = 'pods "w-b-" is forbidden: error looking up service account ns/w-sa: serviceaccount "w-sa" not found'


def test_admission_rejection_rolls_back_the_changed_fields_only() -> None:
    """A missing ServiceAccount stalls the rollout; the fix restores exactly the fields revision 1 had, each guarded."""
    finding = rs.analyze(_ctx(SA_ERROR))
    assert finding is not None and finding.category is Category.ROLLOUT_STUCK and finding.fix is not None
    ops = [op.as_json() for op in finding.fix.ops]
    assert {"op": "test", "path": "/spec/template/spec/serviceAccountName", "value": "w-sa"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/serviceAccountName", "value": "w"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "w:1"} in ops
    assert not any("pod-template-hash" in str(op) for op in ops)


def test_quota_stall_proposes_no_patch_and_names_the_quota() -> None:
    """Exceeded quota is outside the workload: no rollback, the steps name the quota and its numbers."""
    message = 'pods "w-b-x1" is forbidden: exceeded quota: team-quota, requested: requests.cpu=500m, used: requests.cpu=2, limited: requests.cpu=2'
    finding = rs.analyze(_ctx(message))
    assert finding is not None and finding.fix is None
    assert "team-quota" in finding.manual_steps[0] and "requests.cpu=2" in finding.manual_steps[0]


def test_crashing_new_pod_defers_to_the_specific_class() -> None:
    """A new pod in CrashLoopBackOff is the crash's class, not a stuck rollout."""
    pod = {
        "kind": "Pod",
        "metadata": {"name": "w-b-1", "ownerReferences": [{"kind": "ReplicaSet", "name": "w-b", "controller": True}]},
        "spec": {"containers": [{"name": "w"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "w", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]},
    }
    assert rs.analyze(_ctx(new_pod=pod)) is None


def test_workload_edited_since_the_rollout_gets_no_rollback() -> None:
    """When the workload's template no longer equals the newest ReplicaSet's, the guarded rollback is refused."""
    finding = rs.analyze(_ctx(SA_ERROR, workload_image="w:3"))
    assert finding is not None and finding.fix is None
    assert "rollout undo" in finding.manual_steps[0]


def test_redacted_values_are_never_restored() -> None:
    """A previous template carrying a redacted value cannot be written back: no ops."""
    workload = {"kind": "Deployment", "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "w", "env": [{"name": "K", "value": "a"}]}]}}}}
    current = {"metadata": {}, "spec": {"containers": [{"name": "w", "env": [{"name": "K", "value": "a"}]}]}}
    previous = {"metadata": {}, "spec": {"containers": [{"name": "w", "env": [{"name": "K", "value": "[REDACTED]"}]}]}}
    assert rs.rollback_ops(workload, current, previous) == []


_VERDICTS = [
    (SA_ERROR, "(ServiceAccount w-sa does not exist)"),
    (
        'pods "w-b-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "w" must set '
        'securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "w" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "w" must set securityContext.runAsNonRoot=true)',
        '(violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true)',
    ),
    (
        'admission webhook "validate.kyverno.svc-fail" denied the request: policy Deployment/ns/w for resource violation: '
        "require-requests-limits: validate-resources: validation error: CPU and memory resource requests and limits are required",
        "(admission webhook validate.kyverno.svc-fail denied them: policy Deployment/ns/w for resource violation",
    ),
]


@pytest.mark.parametrize(("message", "named"), _VERDICTS, ids=["service-account", "pod-security", "webhook"])
def test_an_admission_refusal_names_what_refused_and_why(message: str, named: str) -> None:
    """The summary names the decisive fact: the missing ServiceAccount, the PodSecurity level and checks, the webhook and its reason."""
    finding = rs.analyze(_ctx(message))
    assert finding is not None
    assert named in finding.summary, finding.summary


_CONTROLLERS = [("StatefulSet", "alerts-notifier", "alerts", "notifier"), ("DaemonSet", "log-agent-gaps", "observability", "log-agent")]


async def _refused_controller(kind: str, example: str, ns: str, name: str, message: str) -> ObjectBundle:
    """The example's controller, short of pods, with every creation refused by the API server."""
    bundle = await snapshot_bundle(example, kind, ns, name)
    bundle.pods, bundle.logs = [], []
    assert bundle.workload is not None
    bundle.workload["status"] = {"replicas": 0, "readyReplicas": 0, "desiredNumberScheduled": 2, "currentNumberScheduled": 0, "numberReady": 0}
    involved = {"kind": kind, "name": name, "namespace": ns}
    bundle.events = [
        {
            "kind": "Event",
            "metadata": {"name": "e1", "namespace": ns},
            "involvedObject": involved,
            "reason": "FailedCreate",
            "type": "Warning",
            "count": 12,
            "message": message,
        }
    ]
    return bundle


@pytest.mark.parametrize(("kind", "example", "ns", "name"), _CONTROLLERS, ids=["statefulset", "daemonset"])
async def test_a_statefulset_or_daemonset_whose_pods_are_refused_names_the_refusal(kind: str, example: str, ns: str, name: str) -> None:
    """No Progressing condition on these controllers: their FailedCreate while short of pods is the signal."""
    message = (
        f'create Pod {name}-0 in {kind} {name} failed error: pods "{name}-0" is forbidden: '
        f'error looking up service account {ns}/{name}-sa: serviceaccount "{name}-sa" not found'
    )
    diagnosis = diagnose(await _refused_controller(kind, example, ns, name, message))
    assert diagnosis.rca.category is Category.ROLLOUT_STUCK, diagnosis.rca.summary
    assert diagnosis.rca.summary == f"{kind} {name} cannot create its pods: the API server rejects them (ServiceAccount {name}-sa does not exist)."
    assert diagnosis.fix is not None and "back to revision" in diagnosis.fix.summary


async def test_a_controller_with_all_its_pods_is_not_stuck() -> None:
    """An old refusal on a StatefulSet that has all its replicas now is history."""
    message = 'create Pod notifier-0 in StatefulSet notifier failed error: pods "notifier-0" is forbidden: violates PodSecurity "baseline:latest": privileged'
    bundle = await _refused_controller("StatefulSet", "alerts-notifier", "alerts", "notifier", message)
    assert bundle.workload is not None
    bundle.workload["status"] = {"replicas": bundle.workload["spec"].get("replicas", 1), "readyReplicas": 1}
    assert rs.analyze(context_of(bundle)) is None
