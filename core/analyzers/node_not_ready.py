"""node_not_ready: the workload's pods are lost with their node — NotReady, unreachable or under pressure.

Signal: a node that runs pods of the workload reports Ready=False or Unknown (the kubelet said so,
or the node controller stopped hearing from it: "Kubelet stopped posting node status"), or
MemoryPressure/DiskPressure/PIDPressure=True; and those pods show it: not Ready, phase Unknown,
Terminating without finishing, the node controller's NodeNotReady event, or taint-based eviction
(DisruptionTarget DeletionByTaintManager). The node's taints (node.kubernetes.io/not-ready,
unreachable, …-pressure) are named: they decide when the pods are evicted and where replacements go.
Also pods the scheduler holds off because every node they may use (their nodeSelector) is down:
its verdict names the node.kubernetes.io/not-ready or unreachable taint.

No patch: nothing in the workload's spec brings a node back. The manual steps name the node and its
condition and say how to recover it or move the pods off it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding
from aegis.core.analyzers.unschedulable_resources import scheduling_failure
from aegis.core.models import Category, KubeObject

_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure")
# The scheduler's verdict for a pod held off by a down node's taint: "had untolerated taint {node.kubernetes.io/unreachable: }".
_DOWN_TAINT = re.compile(r"taint \{node\.kubernetes\.io/(?:not-ready|unreachable)")


@dataclass(frozen=True)
class NodeTrouble:
    node: KubeObject
    condition: dict[str, object]  # Ready (not True) or the pressure condition that is True
    pods: list[KubeObject]  # the workload's pods on it that show the loss (or that wait for it)
    verdict: str = ""  # set when the pods are unscheduled: the scheduler's message naming the node's taint
    verdict_key: str = ""
    eligible: int = 1  # how many nodes the unscheduled pods may use (all of them down)

    @property
    def name(self) -> str:
        return objects.name(self.node)

    @property
    def not_ready(self) -> bool:
        return self.condition.get("type") == "Ready"


def analyze(ctx: Context) -> Finding | None:
    trouble = _trouble(ctx)
    if trouble is None:
        return None
    node_key = f"status:node:{trouble.name}"
    cond = trouble.condition
    state = f"{cond.get('type')}={cond.get('status')}" + (f" ({cond.get('reason')})" if cond.get("reason") else "")
    taints = [str(t.get("key")) + ":" + str(t.get("effect")) for t in (trouble.node.get("spec") or {}).get("taints") or []]
    pod_keys = [f"status:pod:{objects.name(p)}" for p in trouble.pods]
    steps = [
        f"Node {trouble.name} reports {state}: '{cond.get('message', '')}' since {cond.get('lastTransitionTime', '?')}{ctx.cite(node_key, 'status:nodes')}",
    ]
    if trouble.verdict:
        selector = objects.pod_spec(trouble.pods[0]).get("nodeSelector") or {}
        steps.append(
            f"{len(trouble.pods)} pod(s) of the workload cannot be scheduled; the scheduler says '{trouble.verdict.strip()[:240]}'"
            + ctx.cite(*dict.fromkeys([trouble.verdict_key, *pod_keys]))
        )
        steps.append(
            (
                f"Node {trouble.name} is the only node "
                if trouble.eligible == 1
                else f"All {trouble.eligible} nodes are down, {trouble.name} among them: the nodes "
            )
            + (f"matching the pods' nodeSelector {', '.join(f'{k}={v}' for k, v in sorted(selector.items()))}" if selector else "in the cluster")
            + f"{', and it is down: the pods wait for it' if trouble.eligible == 1 else ': the pods wait for them'}{ctx.cite(node_key, 'status:nodes')}"
        )
    else:
        steps.append(
            f"{len(trouble.pods)} pod(s) of the workload run on it and are lost with it: "
            + ", ".join(f"{objects.name(p)} ({_pod_state(p)})" for p in trouble.pods[:5])
            + ctx.cite(*pod_keys, "event:NodeNotReady", "event:TaintManagerEviction")
        )
    if taints:
        steps.append(
            f"Node {trouble.name} carries the taints {', '.join(taints)}: no new pod is scheduled there, and pods without a matching "
            f"toleration are evicted once their tolerationSeconds (300 s by default) run out{ctx.cite(node_key, 'status:nodes')}"
        )
    others = _healthy_elsewhere(ctx, trouble)
    if others:
        steps.append(f"{others} other pod(s) of the workload on other nodes are Ready: the loss is the node's, not the app's{ctx.cite('status:workload')}")
    what = "is not Ready" if trouble.not_ready else f"is under {cond.get('type')}"
    lost = (
        f"{len(trouble.pods)} pod(s) of the workload wait for it" if trouble.verdict else f"{len(trouble.pods)} pod(s) of the workload on it are lost with it"
    )
    return Finding(
        category=Category.NODE_NOT_READY,
        confidence=0.93 if trouble.not_ready else 0.8,
        summary=f"Node {trouble.name} {what} ({state}); {lost}.",
        steps=steps,
        evidence_ids=ctx.evidence.ids(
            node_key, "status:nodes", trouble.verdict_key, *pod_keys, "event:NodeNotReady", "event:TaintManagerEviction", "status:workload"
        ),
        manual_steps=_manual(trouble, state),
    )


def _trouble(ctx: Context) -> NodeTrouble | None:
    for node in ctx.bundle.nodes:
        cond = _bad_condition(node)
        if cond is None:
            continue
        pods = [p for p in ctx.bundle.pods if (p.get("spec") or {}).get("nodeName") == objects.name(node) and _lost(ctx, p)]
        if pods:
            return NodeTrouble(node, cond, pods)
    return _waiting_for_node(ctx)


def _waiting_for_node(ctx: Context) -> NodeTrouble | None:
    """Unscheduled pods whose only eligible nodes are down: the scheduler names their not-ready/unreachable taint."""
    failure = scheduling_failure(ctx)
    if failure is None or not _DOWN_TAINT.search(failure.message):
        return None
    selector: dict[str, str] = objects.pod_spec(failure.pod).get("nodeSelector") or {}
    eligible = [n for n in ctx.bundle.nodes if all(objects.labels(n).get(k) == v for k, v in selector.items())]
    down = [(n, c) for n in eligible if (c := _bad_condition(n)) is not None and c.get("type") == "Ready"]
    if not down or len(down) != len(eligible):
        return None  # a Ready node could take the pods: whatever keeps them off it is another class
    pending = [p for p in ctx.bundle.pods if not (p.get("spec") or {}).get("nodeName")]
    node, cond = down[0]
    return NodeTrouble(node, cond, pending, failure.message, failure.event_key or failure.pod_key, len(eligible))


def _bad_condition(node: KubeObject) -> dict[str, object] | None:
    ready = objects.condition(node, "Ready")
    if ready is not None and ready.get("status") != "True":
        return ready
    for kind in _PRESSURE:
        cond = objects.condition(node, kind)
        if cond is not None and cond.get("status") == "True":
            return cond
    return None


def _lost(ctx: Context, pod: KubeObject) -> bool:
    """Whether a pod shows its node's failure (a pod that is Running and Ready is not lost)."""
    status = pod.get("status") or {}
    if status.get("phase") == "Unknown" or status.get("reason") == "NodeLost":
        return True
    if objects.meta(pod).get("deletionTimestamp"):
        return True
    disruption = objects.condition(pod, "DisruptionTarget") or {}
    if disruption.get("status") == "True" and disruption.get("reason") == "DeletionByTaintManager":
        return True
    if any(e.get("reason") in ("NodeNotReady", "TaintManagerEviction") for e in ctx.bundle.events_for("Pod", objects.name(pod))):
        return True
    return (objects.condition(pod, "Ready") or {}).get("status") != "True" and status.get("phase") == "Running"


def _pod_state(pod: KubeObject) -> str:
    status = pod.get("status") or {}
    if objects.meta(pod).get("deletionTimestamp"):
        return "Terminating"
    ready = (objects.condition(pod, "Ready") or {}).get("status", "Unknown")
    return f"{status.get('phase', 'Unknown')}, Ready={ready}"


def _healthy_elsewhere(ctx: Context, trouble: NodeTrouble) -> int:
    return sum(
        1 for p in ctx.bundle.pods if (p.get("spec") or {}).get("nodeName") != trouble.name and (objects.condition(p, "Ready") or {}).get("status") == "True"
    )


def _manual(trouble: NodeTrouble, state: str) -> list[str]:
    node = trouble.name
    if not trouble.not_ready:
        return [
            f"Node {node} is under {trouble.condition.get('type')}: find what consumes it (kubectl describe node {node}; kubectl top pods -A "
            f"--field-selector spec.nodeName={node}) and give those pods limits, or add capacity.",
            f"Move the workload's pods off it meanwhile: kubectl cordon {node}, then delete the affected pods so their controller recreates them elsewhere.",
        ]
    return [
        f"Find why node {node} is {state}: kubectl describe node {node}; on the machine, the kubelet and container runtime logs "
        "(journalctl -u kubelet), and the cloud console for the instance's health.",
        f"Keep new pods off it: kubectl cordon {node}. If it does not come back, kubectl drain {node} --ignore-daemonsets --delete-emptydir-data.",
        "Pods stuck Terminating on an unreachable node are released only when the node is confirmed gone: delete the Node object, or force-delete "
        "the pods (kubectl delete pod NAME --grace-period=0 --force) — for a StatefulSet only once the machine is really off.",
    ]
