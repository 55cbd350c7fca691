"""quota_exceeded: the API server refuses the workload's pods because a ResourceQuota is full.

Signal: the controller's FailedCreate (ReplicaSet, Job, StatefulSet, DaemonSet) or a Deployment's
ReplicaFailure condition quoting the quota admission's verdict, as kube-apiserver writes it:
`pods "x" is forbidden: exceeded quota: NAME, requested: R=Q[,…], used: R=Q[,…], limited: R=Q[,…]`, or
`failed quota: NAME: must specify limits.cpu for: app; limits.memory for: app` when a quota
tracks a resource a container does not declare. A verdict counts only while the workload is short
of the pods it wants (an old refusal next to a complete rollout is history).

No patch: the quota is the namespace owner's budget, and shrinking the pods' resources to fit
changes how the app runs. The manual steps name the quota, the resource, how much the rollout still
needs and the two ways out (raise the quota's hard value to the figure given, or lower the pods').
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding
from aegis.core.models import Category, KubeObject
from aegis.core.objects import quantity

_EXCEEDED = re.compile(r"exceeded quota: ([\w.-]+), requested: (\S+), used: (\S+), limited: (\S+)")
_MUST_SPECIFY = re.compile(r"failed quota: ([\w.-]+): must specify (.+)$")
REFUSED_POD = re.compile(r'pods? "([^"]+)" is forbidden')
_OWNERS = ("ReplicaSet", "Job", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class Refusal:
    quota: str
    message: str
    owner: KubeObject | None  # the controller that could not create the pod
    key: str  # evidence key of the event or condition quoting it
    requested: dict[str, str]
    used: dict[str, str]
    limited: dict[str, str]
    unspecified: dict[str, str]  # resource -> containers that do not declare it

    @property
    def over(self) -> list[str]:
        """The resources whose use plus request exceeds the hard limit (all requested when unparsable)."""
        found = []
        for res, req in self.requested.items():
            r, u, h = quantity.parse(req), quantity.parse(self.used.get(res)), quantity.parse(self.limited.get(res))
            if r is None or u is None or h is None or u + r > h:
                found.append(res)
        return found or list(self.requested)


def analyze(ctx: Context) -> Finding | None:
    refusal = _refusal(ctx)
    if refusal is None or not _short_of_pods(ctx, refusal):
        return None
    ns = ctx.bundle.namespace
    what = workload_name(ctx)
    quota_obj = ctx.bundle.find("ResourceQuota", refusal.quota)
    quota_key = f"config:ResourceQuota/{refusal.quota}"
    owner_text = f"{str(refusal.owner.get('kind')).lower()}/{objects.name(refusal.owner)}" if refusal.owner else what
    pod = REFUSED_POD.search(refusal.message)
    steps = [
        f"{owner_text} cannot create its pods: the API server refused "
        + (f"pod {pod.group(1)}" if pod else "them")
        + f" with '{verdict(refusal.message)}'{ctx.cite(refusal.key, 'status:workload')}",
    ]
    if refusal.unspecified:
        missing = "; ".join(f"{res} for container(s) {names}" for res, names in refusal.unspecified.items())
        steps.append(
            f"ResourceQuota {refusal.quota} tracks {', '.join(refusal.unspecified)}, so every container must declare it; the pod template does not set "
            f"{missing}{ctx.cite(quota_key, refusal.key)}"
        )
        summary = (
            f"{what} cannot create pods: ResourceQuota {refusal.quota} in namespace {ns} tracks {', '.join(refusal.unspecified)} and the pod template "
            f"does not set it ({missing})."
        )
        manual = [
            f"Set {', '.join(refusal.unspecified)} in the resources of the named container(s) of {what} (the quota {refusal.quota} "
            "refuses every pod that leaves one out), then let the controller retry.",
            f"Or give namespace {ns} a LimitRange with default {', '.join(refusal.unspecified)} values, so pods that omit them get one.",
        ]
    else:
        need = _needs(ctx, refusal)
        for res in refusal.over:
            steps.append(
                f"ResourceQuota {refusal.quota} allows {refusal.limited.get(res, '?')} of {res}; {refusal.used.get(res, '?')} is already used "
                f"and one more pod requests {refusal.requested.get(res, '?')}{ctx.cite(quota_key, refusal.key)}"
            )
        if need:
            steps.append(need[0] + ctx.cite(quota_key, "status:workload"))
        res = refusal.over[0]
        summary = (
            f"{what} cannot create pods: ResourceQuota {refusal.quota} in namespace {ns} is full for {res} "
            f"({refusal.used.get(res, '?')} used of {refusal.limited.get(res, '?')}; each new pod requests {refusal.requested.get(res, '?')})."
        )
        hard_line = f" to at least {need[1]}" if need and need[1] else ""
        section, dot, family = res.partition(".")
        shrink = f"lower the {family} {section} of {what}'s containers" if dot else f"run fewer {res} in namespace {ns}"
        manual = [
            f"Raise {res} in ResourceQuota {refusal.quota} (namespace {ns}){hard_line} if the namespace may grow: "
            f"kubectl -n {ns} edit resourcequota {refusal.quota} (the quota's owner decides).",
            f"Or {shrink} so its pods fit in {refusal.limited.get(res, 'the quota')}, or free quota by scaling down other workloads of the namespace.",
        ]
        if quota_obj is None:
            steps.append(f"ResourceQuota {refusal.quota} itself was not collected; the figures above are the API server's own{ctx.cite(refusal.key)}")
    manual.append("AEGIS proposes no patch: the quota is the namespace's budget, and shrinking the pods' resources changes how the app runs.")
    return Finding(
        category=Category.QUOTA_EXCEEDED,
        confidence=0.95,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(refusal.key, quota_key, "status:workload"),
        manual_steps=manual,
    )


def _refusal(ctx: Context) -> Refusal | None:
    """The newest quota refusal on the workload or its controllers."""
    for message, owner, key in refusing_messages(ctx):
        found = _parse(message, owner, key)
        if found:
            return found
    return None


def refusing_messages(ctx: Context) -> Iterator[tuple[str, KubeObject | None, str]]:
    """(message, controller, evidence key) of each pod-creation refusal, newest revision and newest event first.

    The controllers' FailedCreate events, then the Deployment's ReplicaFailure condition. Shared with
    limit_range_exceeded: both read the admission verdicts that stop a controller from creating pods.
    """
    owners = [o for o in [*ctx.bundle.replicasets, *ctx.bundle.jobs, *([ctx.workload] if ctx.workload else [])] if o.get("kind") in _OWNERS]
    if ctx.bundle.replicasets:  # a Deployment: the newest revision's ReplicaSet first, the rest are history
        current = ctx.bundle.current_replicaset()
        history = [o for o in owners if o.get("kind") == "ReplicaSet" and o is not current]
        owners = [o for o in owners if o.get("kind") != "ReplicaSet" or o is current] + history
    for owner in owners:
        for event in reversed(ctx.bundle.events_for(str(owner.get("kind")), objects.name(owner))):
            if event.get("reason") == "FailedCreate":
                yield str(event.get("message") or ""), owner, "event:FailedCreate"
    workload = ctx.workload
    failure = objects.condition(workload, "ReplicaFailure") if workload else None
    if failure and failure.get("status") == "True":
        yield str(failure.get("message") or ""), ctx.bundle.current_replicaset(), "status:workload"


def _parse(message: str, owner: KubeObject | None, key: str) -> Refusal | None:
    exceeded = _EXCEEDED.search(message)
    if exceeded:
        quota, requested, used, limited = exceeded.groups()
        return Refusal(quota, message, owner, key, _pairs(requested), _pairs(used), _pairs(limited), {})
    must = _MUST_SPECIFY.search(message.strip())
    if must:
        return Refusal(must.group(1), message, owner, key, {}, {}, {}, _unspecified(must.group(2)))
    return None


def _pairs(text: str) -> dict[str, str]:
    """'limits.memory=512Mi,requests.cpu=1' -> {resource: quantity}."""
    out = {}
    for part in text.strip().rstrip(".").split(","):
        res, sep, amount = part.partition("=")
        if sep:
            out[res.strip()] = amount.strip()
    return out


def _unspecified(text: str) -> dict[str, str]:
    """'limits.cpu for: app; limits.memory for: app,sidecar' (or the older 'limits.cpu,limits.memory')."""
    if " for: " not in text:
        return {res.strip(): "(all)" for res in text.split(",") if res.strip()}
    out = {}
    for part in text.split(";"):
        res, _, names = part.partition(" for: ")
        out[res.strip()] = names.strip()
    return out


def _short_of_pods(ctx: Context, refusal: Refusal) -> bool:
    return short_of_pods(ctx, refusal.owner)


def short_of_pods(ctx: Context, refuser: KubeObject | None) -> bool:
    """Whether the refusing controller still wants pods it does not have (else the refusal is history)."""
    owner = refuser or ctx.workload
    if owner is None:
        return True
    spec, status = owner.get("spec") or {}, owner.get("status") or {}
    kind = owner.get("kind")
    if kind == "Job":
        return not any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in status.get("conditions") or [])
    if kind == "DaemonSet":
        return int(status.get("currentNumberScheduled", 0) or 0) < int(status.get("desiredNumberScheduled", 0) or 0)
    return int(status.get("replicas", 0) or 0) < int(spec.get("replicas", 1))


def _needs(ctx: Context, refusal: Refusal) -> tuple[str, str] | None:
    """(what the rollout still needs, the hard value that would admit it) for the first exceeded resource."""
    owner = refusal.owner
    res = refusal.over[0]
    per_pod = quantity.parse(refusal.requested.get(res))
    used = quantity.parse(refusal.used.get(res))
    if owner is None or per_pod is None or used is None:
        return None
    missing = max(1, int((owner.get("spec") or {}).get("replicas", 1)) - int((owner.get("status") or {}).get("replicas", 0) or 0))
    if owner.get("kind") == "Job":
        spec = owner.get("spec") or {}
        missing = max(1, int(spec.get("parallelism", 1)) - int((owner.get("status") or {}).get("active", 0) or 0))
    unit = _unit(res)
    total = used + missing * per_pod
    return (
        f"{owner.get('kind')!s} {objects.name(owner)} still needs {missing} pod(s) × {refusal.requested[res]} = "
        f"{quantity.show(unit, missing * per_pod)} more {res}: {quantity.show(unit, total)} in all, against a hard limit of {refusal.limited.get(res, '?')}",
        quantity.show(unit, total),
    )


def _unit(resource: str) -> str:
    """The quantity family of a quota resource name ('limits.memory' -> 'memory')."""
    base = resource.rsplit(".", 1)[-1]
    return base if base in ("cpu", "memory", "ephemeral-storage") else ("memory" if "storage" in base else base)


def verdict(message: str) -> str:
    """The admission verdict from `pods "x" is forbidden` on, as a person would quote it."""
    start = message.find("pods ")
    return (message[start:] if start >= 0 else message).strip()[:300]


def workload_name(ctx: Context) -> str:
    workload = ctx.workload
    if workload is None:
        return str(ctx.bundle.target)
    return f"{str(workload.get('kind')).lower()}/{objects.name(workload)}"
