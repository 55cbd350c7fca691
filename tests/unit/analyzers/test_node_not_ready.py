"""node_not_ready: the node, its condition and taints, and the workload's pods lost with it."""

from __future__ import annotations

import copy

from aegis.core.analyzers import node_not_ready
from aegis.core.evidence.bundle import ObjectBundle
from tests.unit.analyzers.contexts import context_of, snapshot_bundle


async def _bundle() -> ObjectBundle:
    return await snapshot_bundle("ingest-node-not-ready", "Deployment", "observability", "log-ingest")


async def test_unknown_node_names_node_condition_and_taints() -> None:
    """Ready=Unknown 'Kubelet stopped posting node status.', unreachable taints, 2 pods not Ready: named, no patch."""
    finding = node_not_ready.analyze(context_of(await _bundle()))
    assert finding is not None and finding.fix is None and finding.confidence >= 0.9
    text = " ".join([finding.summary, *finding.steps])
    for fact in ("ip-10-0-7-41.ec2.internal", "Ready=Unknown", "Kubelet stopped posting node status.", "node.kubernetes.io/unreachable"):
        assert fact in text, fact
    assert any("kubectl cordon ip-10-0-7-41.ec2.internal" in step for step in finding.manual_steps)
    assert all("[E" in step for step in finding.steps), finding.steps


async def test_memory_pressure_is_named_with_lower_confidence() -> None:
    """Ready=True but MemoryPressure=True with the pods not Ready: node_not_ready names MemoryPressure at 0.8."""
    bundle = await _bundle()
    for cond in bundle.nodes[0]["status"]["conditions"]:
        cond["status"] = {"Ready": "True", "MemoryPressure": "True"}.get(cond["type"], "False")
    finding = node_not_ready.analyze(context_of(bundle))
    assert finding is not None and finding.confidence == 0.8 and "MemoryPressure" in finding.summary


async def test_pods_on_another_node_are_not_lost() -> None:
    """The NotReady node runs none of the workload's pods: nothing to say."""
    bundle = await _bundle()
    for pod in bundle.pods:
        pod["spec"]["nodeName"] = "kwok-node-0"
    assert node_not_ready.analyze(context_of(bundle)) is None


async def test_ready_pods_on_a_flapping_node_are_not_lost() -> None:
    """The node is NotReady but its pods are still Running and Ready with no NodeNotReady event: not (yet) this class."""
    bundle = await _bundle()
    bundle.events = [e for e in bundle.events if e.get("reason") != "NodeNotReady"]
    for pod in bundle.pods:
        for cond in pod["status"]["conditions"]:
            cond["status"] = "True"
    assert node_not_ready.analyze(context_of(bundle)) is None


def _unscheduled(bundle: ObjectBundle, message: str) -> None:
    for pod in bundle.pods:
        pod["spec"].pop("nodeName", None)
        pod["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]}
    bundle.events = [e for e in bundle.events if e.get("reason") != "NodeNotReady"]


_VERDICT = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 node(s) didn't match Pod's node "
    "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
)


async def test_pods_waiting_for_the_only_node_of_their_pool_name_that_node() -> None:
    """Pending pods whose nodeSelector matches only the unreachable node: node_not_ready names it, not a placement rule."""
    bundle = await _bundle()
    _unscheduled(bundle, _VERDICT)
    finding = node_not_ready.analyze(context_of(bundle))
    assert finding is not None and finding.confidence > 0.9
    assert "ip-10-0-7-41.ec2.internal" in finding.summary and "wait for it" in finding.summary
    assert any("workload-pool=ingest" in step for step in finding.steps)
    assert all("[E" in step for step in finding.steps), finding.steps


async def test_pods_that_a_ready_node_could_take_are_not_waiting_for_the_down_one() -> None:
    """A Ready node also matches the pods' nodeSelector: whatever keeps them off it is another class."""
    bundle = await _bundle()
    _unscheduled(bundle, _VERDICT)
    ready = copy.deepcopy(bundle.nodes[0])
    ready["metadata"]["name"] = "ip-10-0-7-42.ec2.internal"
    ready["spec"].pop("taints", None)
    for cond in ready["status"]["conditions"]:
        cond["status"] = "True" if cond["type"] == "Ready" else "False"
    bundle.nodes.append(ready)
    assert node_not_ready.analyze(context_of(bundle)) is None
