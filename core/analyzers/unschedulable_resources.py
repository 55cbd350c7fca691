"""unschedulable_resources: a pod stays Pending because no node has room for its requests.

Signal: a Pending pod with PodScheduled=False (Unschedulable) whose scheduler message
('0/3 nodes are available: 3 Insufficient cpu. preemption: ...') rejects most nodes for
`Insufficient <resource>` / `Too many pods` rather than for a constraint or a volume. The pod's
effective requests are compared with the largest schedulable node's allocatable. Fix: when the
last rollout raised a request and the previous revision's value fits that node, restore it
(guarded); otherwise no patch — a human adds capacity or lowers the request, with the numbers.

The scheduler-message parsing here is shared with unschedulable_constraints and volume_failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, EvidenceId, KubeObject, PatchOperation, Risk
from aegis.core.objects import quantity

RESOURCES, CONSTRAINTS, VOLUME, BACKGROUND, OTHER = "resources", "constraints", "volume", "background", "other"

_AVAILABLE = re.compile(r"(\d+)/(\d+) nodes are available:?\s*(.*)", re.S)
_COUNTED = re.compile(r"^(\d+)\s+(.*)$", re.S)
_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]+)")
# 'had untolerated taint {k: v}' (1.25+) and the older 'had taint {k: v}, that the pod didn't tolerate'.
_TAINT = re.compile(r"(?:untolerated taint\(?s?\)?|had taints?)\s*\{([^:}]+):\s*([^}]*)\}")
# Taints every cluster has on nodes a workload is not meant for: they explain nothing.
_BACKGROUND_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


@dataclass(frozen=True)
class SchedulingFailure:
    """The scheduler's latest verdict on one pending pod, split into (node count, reason) items."""

    pod: KubeObject
    message: str
    total: int
    reasons: list[tuple[int, str]]
    event_key: str | None  # 'event:FailedScheduling' when such an event was collected

    @property
    def pod_name(self) -> str:
        return objects.name(self.pod)

    @property
    def pod_key(self) -> str:
        return f"status:pod:{self.pod_name}"

    def nodes(self, kind: str) -> int:
        return sum(count for count, reason in self.reasons if classify(reason) == kind)

    def items(self, kind: str) -> list[tuple[int, str]]:
        return [(count, reason) for count, reason in self.reasons if classify(reason) == kind]

    @property
    def dominant(self) -> str:
        """The class rejecting the most nodes; ties go to volume, then constraints (they filter first)."""
        ranked = [(self.nodes(kind), -order, kind) for order, kind in enumerate((VOLUME, CONSTRAINTS, RESOURCES))]
        count, _, kind = max(ranked)
        return kind if count > 0 else OTHER

    @property
    def mixed(self) -> bool:
        return sum(1 for kind in (VOLUME, CONSTRAINTS, RESOURCES) if self.nodes(kind)) > 1

    def headline(self) -> str:
        """The filter verdict alone, without what post-filter plugins and preemption appended."""
        return filter_verdict(self.message)


def classify(reason: str) -> str:
    """Which failure class a scheduler reason belongs to."""
    low = reason.lower()
    if (
        "persistentvolumeclaim" in low
        or "volume node affinity" in low
        or "volume zone" in low
        or "max volume count" in low
        or "available persistent volumes" in low
    ):
        return VOLUME
    if low.startswith("insufficient ") or "too many pods" in low:
        return RESOURCES
    taint = _TAINT.search(reason)
    if taint:
        key = taint.group(1).strip()
        if key in _BACKGROUND_TAINTS:
            return BACKGROUND
        if key.startswith("node.kubernetes.io/"):
            return OTHER  # not-ready, unreachable, cordoned: the node's health, not the workload
        return CONSTRAINTS
    # 'didn't match node selector' is the pre-1.22 wording of 'didn't match Pod's node affinity/selector'.
    # A hostPort every node already has taken ("didn't have free ports for the requested pod ports") excludes nodes the same way.
    if any(p in low for p in ("node affinity/selector", "anti-affinity", "pod affinity", "topology spread", "node affinity", "node selector", "free ports")):
        return CONSTRAINTS
    return OTHER


def filter_verdict(message: str) -> str:
    """The message up to the end of its first sentence ('0/3 nodes are available: … cpu.').

    The scheduler appends what post-filter plugins say after that sentence: 'preemption: …' and,
    since dynamic resource allocation, 'no new claims to deallocate, preemption: …'. A period
    inside braces (a taint's key) or a resource name ('nvidia.com/gpu') ends nothing.
    """
    depth = 0
    for i, char in enumerate(message):
        depth += char == "{"
        depth -= char == "}"
        if char == "." and depth == 0 and message[i + 1 : i + 2] in (" ", ""):
            return message[: i + 1].strip()
    return message.split(" preemption:", maxsplit=1)[0].strip()


def parse_message(message: str) -> tuple[int, list[tuple[int, str]]]:
    """(node total, [(count, reason)]) of a '0/3 nodes are available: ...' message."""
    match = _AVAILABLE.search(filter_verdict(message))
    if not match:
        return 0, []
    total = int(match.group(2))
    body = match.group(3).strip().rstrip(".")
    reasons: list[tuple[int, str]] = []
    for item in _split_outside_braces(body):
        counted = _COUNTED.match(item)
        if counted:
            reasons.append((int(counted.group(1)), counted.group(2).strip()))
        elif item:
            reasons.append((total, item))  # pod-wide reasons ('pod has unbound immediate PersistentVolumeClaims')
    return total, reasons


def _split_outside_braces(text: str) -> list[str]:
    items, depth, current = [], 0, ""
    for i, char in enumerate(text):
        depth += char == "{"
        depth -= char == "}"
        # Before 1.25 a taint read 'had taint {k: v}, that the pod didn't tolerate': one reason, not two.
        if char == "," and depth == 0 and text[i + 1 : i + 2] == " " and not text[i + 2 :].startswith("that the pod"):
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return [i for i in items if i]


def scheduling_failure(ctx: Context) -> SchedulingFailure | None:
    """The current scheduling failure of the focus pod (or the first unscheduled pod of the target)."""
    for pod in ctx.bundle.pods:
        if (pod.get("spec") or {}).get("nodeName") or (pod.get("status") or {}).get("phase") not in (None, "Pending"):
            continue
        cond = objects.condition(pod, "PodScheduled") or {}
        events = [e for e in ctx.bundle.events_for("Pod", objects.name(pod)) if e.get("reason") == "FailedScheduling"]
        # The condition is the scheduler's latest word; events may be stale (an old PVC wait, say).
        message = str(cond.get("message") or "") if cond.get("status") == "False" else ""
        if not message and events:
            message = str(events[-1].get("message") or "")
        if not message:
            continue
        total, reasons = parse_message(message)
        if not reasons and "persistentvolumeclaim" in message.lower():
            # Schedulers before 1.22 said it without the node count ('persistentvolumeclaim "x" not found',
            # 'error while running "VolumeBinding" prefilter plugin …'): a pod-wide reason, counted once.
            reasons = [(max(total, 1), message)]
        key = "event:FailedScheduling" if ctx.evidence.id("event:FailedScheduling") else None
        return SchedulingFailure(pod, message, total, reasons, key)
    return None


# --- quantities and node capacity -----------------------------------------------------------------


def container_request(container: dict[str, Any], resource: str) -> float:
    resources = container.get("resources") or {}
    value = (resources.get("requests") or {}).get(resource, (resources.get("limits") or {}).get(resource))
    return quantity.parse(value) or 0.0


def pod_request(spec: dict[str, Any], resource: str) -> float:
    """What the scheduler counts: max(sum of app containers, largest init container)."""
    app = sum(container_request(c, resource) for c in objects.containers(spec))
    init = max((container_request(c, resource) for c in objects.containers(spec, init=True)), default=0.0)
    return max(app, init)


def tolerates(spec: dict[str, Any], taint: dict[str, Any]) -> bool:
    for tol in spec.get("tolerations") or []:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol.get("key") == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and str(tol.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def eligible_nodes(ctx: Context, spec: dict[str, Any]) -> list[KubeObject]:
    """Nodes the pod could land on apart from resources: schedulable, taints tolerated."""
    found = []
    for node in ctx.bundle.nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        if all(tolerates(spec, t) for t in taints):
            found.append(node)
    return found


def largest_allocatable(ctx: Context, spec: dict[str, Any], resource: str) -> tuple[float, str] | None:
    """(amount, node name) of the schedulable node with the most allocatable `resource`."""
    best: tuple[float, str] | None = None
    for node in eligible_nodes(ctx, spec):
        amount = quantity.parse(((node.get("status") or {}).get("allocatable") or {}).get(resource))
        if amount is not None and (best is None or amount > best[0]):
            best = (amount, objects.name(node))
    return best


# --- the analyzer ----------------------------------------------------------------------------------


def analyze(ctx: Context) -> Finding | None:
    failure = scheduling_failure(ctx)
    if failure is None or failure.dominant != RESOURCES:
        return None
    short = []
    for _, reason in failure.items(RESOURCES):
        match = _INSUFFICIENT.search(reason)
        name = match.group(1) if match else "pods"
        if name not in short:
            short.append(name)
    spec = objects.pod_spec(failure.pod)
    steps = [
        f"Pod {failure.pod_name} is Pending: the scheduler could not place it (PodScheduled=False, Unschedulable){ctx.cite(failure.pod_key)}",
        f"The scheduler says: {failure.headline()}{ctx.cite(failure.event_key or failure.pod_key)}",
    ]
    if "preemption:" in failure.message:
        steps.append(f"Preemption cannot free room either: {failure.message.split('preemption:')[1].strip()}{ctx.cite(failure.event_key or failure.pod_key)}")
    too_big: list[str] = []
    numbers: list[str] = []
    for resource in short:
        requested = pod_request(spec, resource)
        largest = largest_allocatable(ctx, spec, resource)
        if not requested:
            continue
        line = f"the pod requests {quantity.show(resource, requested)} {resource}"
        if largest:
            line += f"; the largest schedulable node ({largest[1]}) has {quantity.show(resource, largest[0])} allocatable"
            if requested > largest[0]:
                too_big.append(resource)
                line += " — the pod can never fit, whatever else runs"
            else:
                line += " — it would fit an empty node, so the nodes are full"
        numbers.append(line)
    if numbers:
        steps.append(f"Requests against capacity: {'; '.join(numbers)}{ctx.cite(failure.pod_key)}")
    raised = _raised_requests(ctx, short)
    if raised:
        changes = ", ".join(f"{c} {r} {old} → {new}" for c, r, old, new, _ in raised)
        steps.append(f"The last rollout raised requests: {changes}{ctx.cite('change:rollout')}")
    draft, manual = _fix(ctx, spec, short, raised, too_big)
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout' if raised else failure.pod_key, failure.pod_key)}")
    what = " and ".join(short)
    cause = "requests more than any node can offer" if too_big else "requests more than the nodes have free"
    summary = f"Pod {failure.pod_name} cannot be scheduled: it {cause} ({what})" + ("; the last rollout raised the request." if raised else ".")
    keys = [failure.pod_key, *([failure.event_key] if failure.event_key else []), "status:workload", "change:rollout" if raised else ""]
    return Finding(
        category=Category.UNSCHEDULABLE_RESOURCES,
        confidence=0.75 if failure.mixed else 0.9,
        summary=summary,
        steps=steps,
        evidence_ids=_ids(ctx, *keys),
        fix=draft,
        manual_steps=manual,
    )


def _ids(ctx: Context, *keys: str) -> list[EvidenceId]:
    return ctx.evidence.ids(*[k for k in keys if k])


def _raised_requests(ctx: Context, resources: list[str]) -> list[tuple[str, str, str, str, bool]]:
    """(container, resource, previous value, current value, init) where the last rollout raised a request."""
    current, previous = template_pair(ctx.bundle)
    workload = ctx.workload
    if current is None or previous is None or workload is None:
        return []
    raised = []
    now_spec, prev_spec = objects.pod_spec(workload), previous.get("spec") or {}
    for init in (False, True):
        for container in objects.containers(now_spec, init=init):
            found = objects.find_container(prev_spec, str(container.get("name")))
            if not found or found[1] != init:
                continue
            for resource in resources:
                new = ((container.get("resources") or {}).get("requests") or {}).get(resource)
                old = ((found[0].get("resources") or {}).get("requests") or {}).get(resource)
                if new is not None and old is not None and (quantity.parse(new) or 0) > (quantity.parse(old) or 0):
                    raised.append((str(container.get("name")), resource, str(old), str(new), init))
    return raised


def _fix(
    ctx: Context, spec: dict[str, Any], resources: list[str], raised: list[tuple[str, str, str, str, bool]], too_big: list[str]
) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    manual = _manual_steps(ctx, spec, resources, too_big)
    if workload is None or not raised:
        return None, manual
    # The restored requests must fit the largest node, or the pod stays Pending.
    restored = objects.pod_spec(workload)
    ops: list[PatchOperation] = []
    for container, resource, old, new, init in raised:
        index = signals.workload_container_index(ctx, container, init=init)
        if index is None:
            return None, manual
        base = patching.container_path(workload, index, init=init)
        ops.append(patching.test(f"{base}/name", container))
        ops += patching.replace(f"{base}/resources/requests/{patching.escape(resource)}", new, old)
    for resource in {r for _, r, _, _, _ in raised}:
        after = _request_after(restored, raised, resource)
        largest = largest_allocatable(ctx, restored, resource)
        if largest and after > largest[0]:
            return None, manual
    restored_text = ", ".join(f"{c} {r} {new} → {old}" for c, r, old, new, _ in raised)
    return FixDraft(
        ops=ops,
        summary=f"restore the previous revision's requests: {restored_text}",
        rationale=(
            "The pod was schedulable with the previous revision's requests and the last rollout raised them beyond what the "
            "nodes can offer. Restoring exactly the previous values is the smallest change back to a placement that worked; "
            "limits are left as they are."
        ),
        risk=Risk.LOW,
        risk_notes=(
            "Rolling restart of the workload. The container is guaranteed less than the new request asked for; if the raise was "
            "deliberate (heavier load), add node capacity instead and re-apply it."
        ),
        alternatives_rejected=[
            "Adding nodes: it may be right if the raise was deliberate, but it is a capacity decision for a human, not a patch.",
            "Rolling back the whole workload: reverts unrelated changes too; restoring the requests is narrower.",
            "Deleting the pending pod: the scheduler would reject its replacement for the same reason.",
        ],
    ), []


def _request_after(spec: dict[str, Any], raised: list[tuple[str, str, str, str, bool]], resource: str) -> float:
    """The pod's effective request for `resource` once the raised container requests are restored."""
    lowered = {(c, init): quantity.parse(old) or 0.0 for c, r, old, _, init in raised if r == resource}

    def request(container: dict[str, Any], init: bool) -> float:
        return lowered.get((str(container.get("name")), init), container_request(container, resource))

    app = sum(request(c, False) for c in objects.containers(spec))
    init = max((request(c, True) for c in objects.containers(spec, init=True)), default=0.0)
    return max(app, init)


def _manual_steps(ctx: Context, spec: dict[str, Any], resources: list[str], too_big: list[str]) -> list[str]:
    steps = []
    for resource in resources:
        requested = pod_request(spec, resource)
        largest = largest_allocatable(ctx, spec, resource)
        per_container = ", ".join(
            f"{c.get('name')}: {quantity.show(resource, container_request(c, resource))}" for c in objects.containers(spec) if container_request(c, resource)
        )
        if resource in too_big and largest:
            steps.append(
                f"The pod requests {quantity.show(resource, requested)} {resource} ({per_container}) but the largest node offers "
                f"{quantity.show(resource, largest[0])}: lower the {resource} requests to at most {quantity.show(resource, largest[0])} in total "
                f"(less what daemons on the node use), or add nodes with at least {quantity.show(resource, requested)} allocatable {resource}."
            )
        elif requested and largest:
            steps.append(
                f"The pod's {quantity.show(resource, requested)} {resource} ({per_container}) fits a node ({quantity.show(resource, largest[0])} allocatable) "
                f"but every node's {resource} is already requested by other pods: add capacity (scale the node pool or let the "
                "cluster autoscaler do it), free it by scaling down other workloads, or lower this pod's requests."
            )
        else:
            steps.append(f"No node has free {resource} for this pod: add capacity or lower its {resource} request.")
    steps.append(
        f"Check what holds the capacity: `kubectl describe nodes | grep -A8 'Allocated resources'` and "
        f"`kubectl top pods -n {ctx.bundle.namespace}`, then re-run the analysis."
    )
    return steps
