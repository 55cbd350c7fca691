"""unschedulable_resources: scheduler messages parsed, requests weighed against nodes, restores bounded by them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import unschedulable_resources as ur
from aegis.core.analyzers.base import Context
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import AnalysisPolicy, Category, ObjectRef

PRE = " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."


def _template(cpu: str, init_cpu: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "app:1", "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]}
    if init_cpu:
        spec["initContainers"] = [{"name": "warm", "image": "app:1", "resources": {"requests": {"cpu": init_cpu}}}]
    return {"metadata": {"labels": {"app": "api"}}, "spec": spec}


def _rs(name: str, revision: int, template: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "ns", "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"template": template},
        "status": {"availableReplicas": 1 if revision == 1 else 0},
    }


def _ctx(cpu: str, message: str, previous_cpu: str | None = None, node_cpu: str = "4", init_cpu: str | None = None) -> Context:
    template = _template(cpu, init_cpu)
    workload = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "ns"}, "spec": {"template": template}}
    pod = {
        "kind": "Pod",
        "metadata": {"name": "api-new", "namespace": "ns"},
        "spec": template["spec"],
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]},
    }
    replicasets = [_rs("api-new", 2, template)] + ([_rs("api-old", 1, _template(previous_cpu))] if previous_cpu else [])
    nodes = [{"kind": "Node", "metadata": {"name": f"n{i}", "labels": {}}, "status": {"allocatable": {"cpu": node_cpu, "memory": "8Gi"}}} for i in range(2)]
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="api"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        replicasets=replicasets,
        nodes=nodes,
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def test_message_is_split_into_counted_reasons_keeping_taint_braces() -> None:
    """A taint item with a comma-free brace body stays whole; control-plane taints count as background."""
    total, reasons = ur.parse_message(
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu." + PRE
    )
    assert total == 3
    assert reasons == [(1, "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"), (2, "Insufficient cpu")]
    assert [ur.classify(r) for _, r in reasons] == [ur.BACKGROUND, ur.RESOURCES]


def test_post_filter_text_of_kubernetes_1_36_is_not_a_reason() -> None:
    """The 1.36 scheduler appends the DRA plugin's 'no new claims to deallocate,' after the verdict: it is not part of it."""
    message = "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful."
    assert ur.parse_message(message) == (2, [(2, "Insufficient cpu")])
    assert ur.filter_verdict(message) == "0/2 nodes are available: 2 Insufficient cpu."


def test_pod_wide_reasons_count_for_every_node() -> None:
    """'pod has unbound immediate PersistentVolumeClaims' has no count: it rejects all nodes and is a volume reason."""
    _, reasons = ur.parse_message("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims." + PRE)
    assert reasons == [(2, "pod has unbound immediate PersistentVolumeClaims")]
    assert ur.classify(reasons[0][1]) == ur.VOLUME


def test_init_container_request_counts_when_it_is_the_largest() -> None:
    """The scheduler counts max(sum of app containers, largest init container)."""
    spec = _template("500m", init_cpu="3")["spec"]
    assert ur.pod_request(spec, "cpu") == 3.0


def test_restores_previous_request_when_the_rollout_raised_it() -> None:
    """A request raised by the rollout is restored to the previous revision's value, guarded by the current one."""
    finding = ur.analyze(_ctx("5", "0/2 nodes are available: 2 Insufficient cpu." + PRE, previous_cpu="500m"))
    assert finding is not None and finding.category is Category.UNSCHEDULABLE_RESOURCES
    assert finding.fix is not None
    ops = [op.as_json() for op in finding.fix.ops]
    assert {"op": "test", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "5"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "500m"} in ops


def test_no_restore_when_the_previous_request_does_not_fit_either() -> None:
    """Restoring is bounded by the largest node: a previous value above its allocatable gives no patch."""
    finding = ur.analyze(_ctx("8", "0/2 nodes are available: 2 Insufficient cpu." + PRE, previous_cpu="6"))
    assert finding is not None and finding.fix is None
    assert any("6" in step or "8" in step for step in finding.manual_steps)


def test_no_history_means_manual_steps_with_the_numbers() -> None:
    """Without an earlier revision there is no patch; the steps name the request and the node's allocatable."""
    finding = ur.analyze(_ctx("6", "0/2 nodes are available: 2 Insufficient cpu." + PRE))
    assert finding is not None and finding.fix is None
    assert "requests 6 cpu" in finding.manual_steps[0] and "offers 4" in finding.manual_steps[0]


def test_constraint_dominated_message_is_not_resources() -> None:
    """When a selector rejects more nodes than resources do, this analyzer stays quiet."""
    message = "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector." + PRE
    assert ur.analyze(_ctx("1", message)) is None
