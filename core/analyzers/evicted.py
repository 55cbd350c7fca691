"""evicted: the kubelet evicted the workload's pods to relieve memory or disk pressure on their node.

Signal: pods with phase Failed and status.reason Evicted, with the kubelet's message ("The node
was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 3Gi. Container x was
using 6Gi, request is 0, has larger consumption of ephemeral-storage.") and `Evicted` events.
The kubelet evicts pods that use more than they requested first, so the message tells whose
fault it was. Fix: when a container of this workload used more than its request, set that
resource's request to cover the use it reported (with 25% headroom) and a limit above it, both
bounded (memory by the analysis policy, ephemeral storage by a fixed ceiling and the node's
allocatable); when it exceeded its own ephemeral-storage limit, raise that limit by the policy
factor. When the pod used no more than it asked for, it was the victim of other pods' pressure:
no patch, and the steps say what to look at on the node. Stale evictions (over an hour old, with
the current pods fine or failing for another reason) do not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk
from aegis.core.objects import quantity

EPHEMERAL_MAX_MIB = 50 * 1024  # no policy bound for disk yet: never propose more than 50Gi
HEADROOM = 1.25
STALE_AFTER = timedelta(hours=1)
_LOW = re.compile(r"The node was low on resource: ([\w-]+)(?:\.|$|\s)")
# Admission under pressure: "The node had condition: [DiskPressure]." names the condition, not the resource.
_CONDITION = re.compile(r"The node had condition: \[(MemoryPressure|DiskPressure|PIDPressure)")
_CONDITION_RESOURCE = {"MemoryPressure": "memory", "DiskPressure": "ephemeral-storage", "PIDPressure": "pids"}
_POD_OVER = re.compile(r"Pod ephemeral local storage usage exceeds the total limit of containers (\S+?)\.?(?:\s|$)")
_THRESHOLD = re.compile(r"Threshold quantity: ([^,]+), available: ([^.\s]+(?:\.\d+)?[A-Za-z]*)")
_USING = re.compile(r"Container (\S+) was using (\S+), request is (\S+), has larger consumption of ([\w-]+)")
_OVER_LIMIT = re.compile(r"Container (\S+) exceeded its local ephemeral storage limit \"?([^\".\s]+)\"?")
_EMPTYDIR = re.compile(r"Usage of EmptyDir volume \"?([^\"\s]+)\"? exceeds the limit \"?([^\"\s]+)\"?")


@dataclass(frozen=True)
class Usage:
    container: str
    used: str
    request: str
    resource: str


@dataclass(frozen=True)
class Eviction:
    pod: KubeObject
    message: str

    @property
    def resource(self) -> str | None:
        match = _LOW.search(self.message)
        if match:
            return match.group(1)
        condition = _CONDITION.search(self.message)
        return _CONDITION_RESOURCE[condition.group(1)] if condition else None

    @property
    def threshold(self) -> tuple[str, str] | None:
        match = _THRESHOLD.search(self.message)
        return (match.group(1).strip(), match.group(2).strip()) if match else None

    @property
    def usages(self) -> list[Usage]:
        return [Usage(*m.groups()) for m in _USING.finditer(self.message)]

    @property
    def over_limit(self) -> tuple[str, str] | None:
        match = _OVER_LIMIT.search(self.message)
        return (match.group(1), match.group(2)) if match else None

    @property
    def breach(self) -> str | None:
        """The local-storage limit the kubelet enforced, in words, when the eviction is about one (not node pressure)."""
        if self.over_limit:
            return f"container {self.over_limit[0]} exceeded its ephemeral-storage limit {self.over_limit[1]}"
        if match := _POD_OVER.search(self.message):
            return f"the pod's local storage use exceeded its containers' total ephemeral-storage limit {match.group(1)}"
        if match := _EMPTYDIR.search(self.message):
            return f"emptyDir volume {match.group(1)} exceeded its sizeLimit {match.group(2)}"
        return None

    @property
    def name(self) -> str:
        return objects.name(self.pod)


def evictions(ctx: Context) -> list[Eviction]:
    found = []
    for pod in ctx.bundle.pods:
        status = pod.get("status") or {}
        if status.get("reason") == "Evicted":
            found.append(Eviction(pod, str(status.get("message", ""))))
    return found


def _when(ctx: Context, eviction: Eviction) -> Any:
    times = [
        objects.parse_time(str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        for e in ctx.bundle.events_for("Pod", eviction.name)
        if e.get("reason") == "Evicted"
    ]
    stamps = [t for t in times if t is not None]
    if not stamps:
        start = objects.parse_time(str((eviction.pod.get("status") or {}).get("startTime") or ""))
        stamps = [start] if start else []
    return max(stamps) if stamps else None


def analyze(ctx: Context) -> Finding | None:
    found = evictions(ctx)
    if not found:
        return None
    focus = ctx.pod
    focus_evicted = focus is not None and (focus.get("status") or {}).get("reason") == "Evicted"
    recent = [e for e in found if (when := _when(ctx, e)) is None or ctx.bundle.observed_at - when <= STALE_AFTER]
    if not focus_evicted and not recent:
        return None  # old evictions; whatever ails the pods now is another class
    others_failing = focus is not None and not focus_evicted and any(s.crashing for s in signals.container_states(ctx))
    eviction = next((e for e in found if e in recent), found[0])
    return _finding(ctx, eviction, found, 0.5 if others_failing else 0.9 if eviction.resource or eviction.breach else 0.7)


def _finding(ctx: Context, eviction: Eviction, found: list[Eviction], confidence: float) -> Finding:
    node = str((eviction.pod.get("spec") or {}).get("nodeName", "")) or "(unknown node)"
    resource = eviction.resource or ("ephemeral-storage" if eviction.over_limit else "an unknown resource")
    pod_key = f"status:pod:{eviction.name}"
    steps = [
        f"{len(found)} pod(s) of the workload were evicted (phase Failed, reason Evicted), e.g. {eviction.name} on node {node}"
        f"{ctx.cite(pod_key, 'event:Evicted')}",
        f"The kubelet's message: '{eviction.message.strip()[:240]}'{ctx.cite(pod_key, 'event:Evicted')}",
    ]
    pressure = _node_pressure(ctx, node)
    if pressure:
        steps.append(f"Node {node} reports {pressure}{ctx.cite(f'status:node:{node}', pod_key)}")
    if ctx.evidence.id("status:workload"):
        steps.append(f"The controller replaced the evicted pods; the replacements can be evicted again the same way{ctx.cite('status:workload')}")
    draft, manual, verdict = _fix(ctx, eviction, node, found)
    # The verdict (whose use caused it, and the fix or why none) reads the kubelet's eviction message.
    steps += [f"{step}{ctx.cite(pod_key, 'event:Evicted')}" for step in verdict]
    return Finding(
        category=Category.EVICTED,
        confidence=confidence,
        summary=(
            f"Pods of the workload were evicted from node {node}: {eviction.breach}."
            if eviction.breach and not eviction.resource
            else f"Pods of the workload were evicted from node {node} because it ran low on {resource}"
            + (f"; container {verdict_container(eviction)} used more than it requested." if verdict_container(eviction) else ".")
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(pod_key, "event:Evicted", "event:Killing", "status:workload", f"status:node:{node}"),
        fix=draft,
        manual_steps=manual,
    )


def verdict_container(eviction: Eviction) -> str | None:
    """The container the eviction blames: over its own limit, or using more than its request."""
    if eviction.over_limit:
        return eviction.over_limit[0]
    for usage in eviction.usages:
        used, request = quantity.parse(usage.used), quantity.parse(usage.request)
        if used is not None and request is not None and used > request:
            return usage.container
    return None


def _node_pressure(ctx: Context, node: str) -> str:
    found = ctx.bundle.find("Node", node)
    if not found:
        return ""
    conditions = [
        f"{c.get('type')}={c.get('status')}"
        for c in (found.get("status") or {}).get("conditions") or []
        if c.get("type") in ("MemoryPressure", "DiskPressure", "PIDPressure") and c.get("status") == "True"
    ]
    return ", ".join(conditions)


def _allocatable_mib(ctx: Context, node: str, resource: str) -> int | None:
    found = ctx.bundle.find("Node", node)
    value = ((found or {}).get("status") or {}).get("allocatable", {}).get(resource)
    size = quantity.parse(value)
    return quantity.mib_ceil(size) if size is not None else None


def _fix(ctx: Context, eviction: Eviction, node: str, found: list[Eviction]) -> tuple[FixDraft | None, list[str], list[str]]:
    """(draft, manual steps, closing analysis steps); sized for the largest use any eviction reported."""
    workload = ctx.workload
    victim_steps = [
        f"Find what fills node {node}: kubectl describe node {node} (Allocated resources, conditions) and "
        f"kubectl top pods -A --sort-by={'memory' if eviction.resource == 'memory' else 'cpu'} for the pods on it.",
        "Give the pods that use more than they request proper requests and limits, or move them; add node capacity "
        "or clean images and logs if the node's disk is simply too small.",
    ]
    if eviction.over_limit:
        container, limit = eviction.over_limit
        return _raise_own_limit(ctx, workload, container, limit)
    blamed = verdict_container(eviction)
    if blamed is None:
        return (
            None,
            [
                f"Pod {eviction.name} used no more {eviction.resource or 'resources'} than it requested: it was evicted because "
                f"other pods pushed node {node} over its eviction threshold.",
                *victim_steps,
            ],
            [
                "No container of this workload used more than it requested: it is a victim of node pressure from others",
                "No fix — changing this workload would not relieve the node",
            ],
        )
    usages = [u for e in found for u in e.usages if u.container == blamed and u.resource == eviction.resource]
    usage = max(usages or [next(u for u in eviction.usages if u.container == blamed)], key=lambda u: quantity.parse(u.used) or 0.0)
    index = signals.workload_container_index(ctx, blamed, init=False)
    if workload is None or index is None:
        return None, [f"Set {usage.resource} requests and limits on container {blamed} to cover its use of {usage.used}."], []
    used_b = quantity.parse(usage.used) or 0.0
    ceiling = ctx.policy.memory_limit_max_mib if usage.resource == "memory" else EPHEMERAL_MAX_MIB
    allocatable = _allocatable_mib(ctx, node, usage.resource)
    if allocatable:
        ceiling = min(ceiling, allocatable)
    request_mib = quantity.mib_ceil(used_b * HEADROOM)
    step = (
        f"Container {blamed} was using up to {usage.used} of {usage.resource} with a request of {usage.request}: the kubelet evicts "
        "pods over their requests first, so this workload caused its own eviction"
    )
    if request_mib > ceiling:
        return (
            None,
            [
                f"Container {blamed} used {usage.used} of {usage.resource}; covering it needs a request of {request_mib}Mi, above "
                f"the {ceiling}Mi AEGIS may propose (policy or node allocatable).",
                "Reduce what the container writes or holds (log rotation, temp-file cleanup, a PVC instead of node disk), "
                "then set requests and limits by hand.",
            ],
            [step, f"No fix — the use is above the {ceiling}Mi bound"],
        )
    container_spec = objects.containers(objects.pod_spec(workload), init=False)[index]
    resources = container_spec.get("resources") or {}
    old_request = (resources.get("requests") or {}).get(usage.resource)
    old_limit = (resources.get("limits") or {}).get(usage.resource)
    limit_mib = min(max(quantity.mib_ceil(used_b * ctx.policy.memory_limit_factor), request_mib), ceiling)
    old_limit_b = quantity.parse(old_limit)
    keep_limit = old_limit_b is not None and old_limit_b >= request_mib * quantity.MIB
    base = patching.container_path(workload, index)
    ops: list[PatchOperation] = [patching.test(f"{base}/name", blamed)]
    ops += _set_resource(base, resources, "requests", usage.resource, old_request, f"{request_mib}Mi")
    if not keep_limit:
        ops += _set_resource(base, resources, "limits", usage.resource, old_limit, f"{limit_mib}Mi")
    limit_text = f"keeps its {old_limit} limit" if keep_limit else f"limit {old_limit or 'none'} → {limit_mib}Mi"
    summary = f"set {usage.resource} of container {blamed}: request {old_request or 'none'} → {request_mib}Mi, {limit_text}"
    rationale = (
        f"Container {blamed} used {usage.used} of {usage.resource} while requesting {usage.request}, so the scheduler placed it "
        f"on a node without reserving that space and the kubelet evicted it first when node {node} ran low. A request of "
        f"{request_mib}Mi (the {usage.used} it used plus 25% headroom, rounded up to whole Mi) makes the scheduler reserve it; "
        + (
            f"the existing {old_limit} limit already covers that."
            if keep_limit
            else f"the {limit_mib}Mi limit ({ctx.policy.memory_limit_factor:g}× the use, bounded at {ceiling}Mi) contains a runaway "
            "container to its own pod instead of the node."
        )
    )
    return (
        FixDraft(
            ops=ops,
            summary=summary,
            rationale=rationale,
            risk=Risk.MEDIUM,
            risk_notes=(
                f"Each pod now reserves {request_mib}Mi of {usage.resource}: pods may stay Pending if no node has that much free. "
                + (
                    "Exceeding the new limit evicts the pod instead of the node's other tenants."
                    if usage.resource == "ephemeral-storage"
                    else "Exceeding the new limit OOM-kills the container instead of pressuring the node."
                )
            ),
            alternatives_rejected=[
                "Deleting the evicted pods: they are already replaced; the replacements would be evicted the same way.",
                "Adding node capacity: treats the symptom for every tenant instead of the one that overran its request.",
            ],
        ),
        [],
        [step, f"Fix: {summary}"],
    )


def _set_resource(base: str, resources: dict[str, Any], section: str, resource: str, old: Any, new: str) -> list[PatchOperation]:
    if resources.get(section):
        return patching.set_field(f"{base}/resources/{section}/{patching.escape(resource)}", old, new)
    if resources:
        return [PatchOperation(op="add", path=f"{base}/resources/{section}", value={resource: new})]
    return [PatchOperation(op="add", path=f"{base}/resources", value={section: {resource: new}})]


def _raise_own_limit(ctx: Context, workload: KubeObject | None, container: str, limit: str) -> tuple[FixDraft | None, list[str], list[str]]:
    index = signals.workload_container_index(ctx, container, init=False)
    step = f"Container {container} exceeded its own ephemeral-storage limit of {limit}: the eviction enforces that limit"
    limit_b = quantity.parse(limit)
    if workload is None or index is None or limit_b is None:
        return None, [f"Raise the ephemeral-storage limit of container {container} or make it write less to local disk."], [step]
    container_spec = objects.containers(objects.pod_spec(workload), init=False)[index]
    resources = container_spec.get("resources") or {}
    current = (resources.get("limits") or {}).get("ephemeral-storage")
    if current is None:
        return None, [f"Raise the ephemeral-storage limit of container {container} (the workload no longer sets one)."], [step]
    wanted = quantity.mib_ceil((quantity.parse(current) or limit_b) * ctx.policy.memory_limit_factor)
    new_mib = min(wanted, EPHEMERAL_MAX_MIB)
    if new_mib <= quantity.mib_ceil(quantity.parse(current) or limit_b):
        return (
            None,
            [
                f"Container {container} is already at the {EPHEMERAL_MAX_MIB}Mi ceiling for ephemeral storage: make it write less "
                "(rotate logs, clean temp files) or give it a PersistentVolumeClaim."
            ],
            [step, "No fix — already at the ephemeral-storage ceiling"],
        )
    base = patching.container_path(workload, index)
    summary = f"raise the ephemeral-storage limit of container {container} from {current} to {new_mib}Mi"
    return (
        FixDraft(
            ops=[patching.test(f"{base}/name", container), *patching.replace(f"{base}/resources/limits/ephemeral-storage", current, f"{new_mib}Mi")],
            summary=summary,
            rationale=(
                f"The kubelet evicts the pod whenever {container} writes more than {limit} to local disk. {new_mib}Mi is "
                f"{ctx.policy.memory_limit_factor:g}× the current limit (at most {EPHEMERAL_MAX_MIB}Mi), enough if the growth is "
                "legitimate and still bounded if it is not."
            ),
            risk=Risk.MEDIUM,
            risk_notes="The pod may fill more of its node's disk before it is stopped.",
            alternatives_rejected=["Removing the limit: one container could then fill the node's disk and get every pod on it evicted."],
        ),
        [],
        [step, f"Fix: {summary}"],
    )
