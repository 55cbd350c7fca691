"""unschedulable_constraints: typo'd nodeSelectors corrected, rollout-introduced rules restored, the rest left to people."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import unschedulable_constraints as uc
from aegis.core.analyzers.base import Context
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import AnalysisPolicy, Category, ObjectRef

PRE = " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
SELECTOR = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector." + PRE


def _ctx(
    pod_spec: dict[str, Any],
    message: str,
    previous_spec: dict[str, Any] | None = None,
    node_labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> Context:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}
    workload = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}, "spec": {"template": template}}
    pod = {
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "ns"},
        "spec": pod_spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]},
    }
    replicasets = [
        {"kind": "ReplicaSet", "metadata": {"name": "web-b", "annotations": {"deployment.kubernetes.io/revision": "2"}}, "spec": {"template": template}},
    ]
    if previous_spec is not None:
        replicasets.append(
            {
                "kind": "ReplicaSet",
                "metadata": {"name": "web-a", "annotations": {"deployment.kubernetes.io/revision": "1"}},
                "spec": {"template": {"metadata": template["metadata"], "spec": previous_spec}},
            }
        )
    labels = {"kubernetes.io/os": "linux", "disktype": "ssd", **(node_labels or {})}
    nodes = [
        {"kind": "Node", "metadata": {"name": f"n{i}", "labels": labels}, "spec": {"taints": taints or []}, "status": {"allocatable": {"cpu": "4"}}}
        for i in range(2)
    ]
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="web"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        replicasets=replicasets,
        nodes=nodes,
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def _containers() -> list[dict[str, Any]]:
    return [{"name": "web", "image": "web:1"}]


def test_selector_value_typo_is_corrected_to_the_near_node_label() -> None:
    """disktype=sdd matches no node but nodes carry disktype=ssd: the fix corrects the value, guarded."""
    finding = uc.analyze(_ctx({"nodeSelector": {"disktype": "sdd"}, "containers": _containers()}, SELECTOR))
    assert finding is not None and finding.category is Category.UNSCHEDULABLE_CONSTRAINTS
    assert finding.fix is not None
    assert [op.as_json() for op in finding.fix.ops] == [
        {"op": "test", "path": "/spec/template/spec/nodeSelector/disktype", "value": "sdd"},
        {"op": "replace", "path": "/spec/template/spec/nodeSelector/disktype", "value": "ssd"},
    ]


def test_selector_key_typo_is_corrected() -> None:
    """A misspelled key (kubernetes.io/0s) with the right value is moved to the real key."""
    finding = uc.analyze(_ctx({"nodeSelector": {"kubernetes.io/0s": "linux"}, "containers": _containers()}, SELECTOR))
    assert finding is not None and finding.fix is not None
    ops = [op.as_json() for op in finding.fix.ops]
    assert {"op": "add", "path": "/spec/template/spec/nodeSelector/kubernetes.io~1os", "value": "linux"} in ops
    assert {"op": "remove", "path": "/spec/template/spec/nodeSelector/kubernetes.io~10s"} in ops


def test_far_value_is_not_taken_for_a_typo() -> None:
    """disktype=nvme-raid is nothing like any node label: no guess, manual steps name the selector."""
    finding = uc.analyze(_ctx({"nodeSelector": {"disktype": "nvme-raid"}, "containers": _containers()}, SELECTOR))
    assert finding is not None and finding.fix is None
    assert "disktype=nvme-raid" in finding.manual_steps[0]


def test_rollout_introduced_affinity_is_restored() -> None:
    """Anti-affinity added by the last rollout is removed again, guarded by its current value."""
    term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    message = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules." + PRE
    finding = uc.analyze(_ctx({"affinity": affinity, "containers": _containers()}, message, previous_spec={"containers": _containers()}))
    assert finding is not None and finding.fix is not None
    assert [op.as_json() for op in finding.fix.ops] == [
        {"op": "test", "path": "/spec/template/spec/affinity", "value": affinity},
        {"op": "remove", "path": "/spec/template/spec/affinity"},
    ]


def test_untolerated_taint_gets_a_manual_toleration_step() -> None:
    """A custom taint the workload never tolerated is a human decision; the step spells the toleration."""
    message = "0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}." + PRE
    finding = uc.analyze(_ctx({"containers": _containers()}, message, taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    assert finding is not None and finding.fix is None
    assert any("key: dedicated, operator: Equal, value: gpu, effect: NoSchedule" in s for s in finding.manual_steps)


def test_resource_dominated_message_is_not_constraints() -> None:
    """Only the control-plane taint plus full workers: not a constraint problem."""
    message = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu." + PRE
    assert uc.analyze(_ctx({"containers": _containers()}, message)) is None


def test_typo_distance_counts_swaps_as_one_edit() -> None:
    """linxu→linux is one swap; arm64→amd64 is two edits, so a real architecture is never 'corrected'."""
    assert uc.typo_distance("linxu", "linux") == 1
    assert uc.typo_distance("arm64", "amd64") == 2
