"""quota_exceeded (LimitRange): the API server refuses the workload's pods because a container is outside the namespace's bounds.

Signal: the controller's FailedCreate (or the Deployment's ReplicaFailure condition) quoting the
LimitRanger admission plugin, as kube-apiserver writes it, alone or several in `[…, …]`:
`maximum memory usage per Container is 512Mi, but limit is 1Gi`,
`minimum cpu usage per Container is 100m, but request is 50m`,
`maximum cpu usage per Pod is 2.  No limit is specified`,
`memory max limit to request ratio per Container is 2, but provided ratio is 4.000000`.
The verdict names no container: the pod template's containers are matched by the value quoted.

The fix, only when the last healthy revision set the same container to a value inside the bound:
put that value back (the rollout that broke changed it). Otherwise manual steps: the LimitRange
is the namespace owner's policy, and a value AEGIS invents could starve or kill the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.quota_exceeded import REFUSED_POD, refusing_messages, short_of_pods, verdict, workload_name
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk
from aegis.core.objects import quantity

_QUANTITY = r"[0-9][0-9.]*(?:[eE][0-9]+)?[A-Za-z]*"
_BOUND = re.compile(
    rf"(?P<bound>minimum|maximum) (?P<res>[\w./-]+) usage per (?P<scope>Container|Pod|PersistentVolumeClaim) is (?P<enforced>{_QUANTITY})"
    rf"(?:, but (?P<field>request|limit) is (?P<observed>{_QUANTITY})|\.\s+No (?P<missing>request|limit) is specified)"
)
_RATIO = re.compile(
    rf"(?P<res>[\w./-]+) max limit to request ratio per (?P<scope>Container|Pod) is (?P<enforced>{_QUANTITY}), but "
    r"(?:provided ratio is (?P<observed>[0-9.]+)|(?P<missing>no request) is specified)"
)


@dataclass(frozen=True)
class Violation:
    bound: str  # minimum, maximum or ratio
    resource: str  # cpu, memory, ephemeral-storage, …
    scope: str  # Container or Pod
    enforced: str  # the LimitRange's value, as the API server prints it
    field: str | None  # request or limit: the container value that broke it (None for a ratio)
    observed: str | None  # that value, None when it is missing
    text: str  # the verdict's own words

    def matches(self, container: dict[str, Any]) -> bool:
        """Whether this container is the one the verdict is about (the value it quotes, or the one missing)."""
        if self.scope != "Container" or self.field is None:
            return self.bound == "ratio" and self.scope == "Container" and _ratio_breaks(container, self)
        declared = ((container.get("resources") or {}).get(f"{self.field}s") or {}).get(self.resource)
        if self.observed is None:
            return declared is None
        return declared is not None and quantity.parse(declared) == quantity.parse(self.observed)

    def admits(self, container: dict[str, Any]) -> bool:
        """Whether this container's value is inside the bound."""
        if self.field is None:
            return not _ratio_breaks(container, self)
        declared = quantity.parse(((container.get("resources") or {}).get(f"{self.field}s") or {}).get(self.resource))
        enforced = quantity.parse(self.enforced)
        if declared is None or enforced is None:
            return False
        return declared <= enforced if self.bound == "maximum" else declared >= enforced


@dataclass(frozen=True)
class Refusal:
    message: str
    owner: KubeObject | None
    key: str
    violations: list[Violation]


def analyze(ctx: Context) -> Finding | None:
    refusal = _refusal(ctx)
    if refusal is None or not short_of_pods(ctx, refusal.owner):
        return None
    ns = ctx.bundle.namespace
    what = workload_name(ctx)
    current, previous = template_pair(ctx.bundle)
    spec = (current or objects.pod_template(ctx.workload or {}) or {}).get("spec") or {}
    owner_text = f"{str(refusal.owner.get('kind')).lower()}/{objects.name(refusal.owner)}" if refusal.owner else what
    pod = REFUSED_POD.search(refusal.message)
    cite = ctx.cite(refusal.key, "status:workload")
    steps = [
        f"{owner_text} cannot create its pods: the API server refused {f'pod {pod.group(1)}' if pod else 'them'} with '{verdict(refusal.message)}'{cite}",
    ]
    culprits: list[tuple[Violation, str | None]] = []
    for violation in refusal.violations:
        names = [str(c.get("name")) for c in objects.containers(spec) + objects.containers(spec, init=True) if violation.matches(c)]
        culprit = names[0] if len(names) == 1 else None
        culprits.append((violation, culprit))
        steps.append(_explain(violation, culprit, names) + ctx.cite(refusal.key))
    first, culprit = culprits[0]
    subject = f"container {culprit}" if culprit else f"a container of {what}"
    summary = f"{what} cannot create pods: a LimitRange in namespace {ns} {_rule(first)}, and {subject} {_breach(first)}."
    fix = _restore(ctx, culprits, current, previous)
    if fix is not None:
        steps.append(f"The last healthy revision ran with {fix[1]}, inside the bound; the newest rollout changed it" + ctx.cite("change:rollout", refusal.key))
    manual = [_manual(v, c, spec, what, ns) for v, c in culprits]
    manual.append(
        f"Or, if the pods really need it, ask the namespace's owner to change its LimitRange (kubectl -n {ns} get limitrange -o yaml shows the bounds)."
    )
    if fix is None:
        manual.append("AEGIS proposes no patch: no healthy revision set a value inside the bound, and a value AEGIS chose could starve or kill the app.")
    return Finding(
        category=Category.QUOTA_EXCEEDED,
        confidence=0.95,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(refusal.key, "status:workload", *(["change:rollout"] if fix else [])),
        fix=fix[0] if fix else None,
        manual_steps=manual,
    )


def _refusal(ctx: Context) -> Refusal | None:
    for message, owner, key in refusing_messages(ctx):
        violations = _parse(message)
        if violations:
            return Refusal(message, owner, key, violations)
    return None


def _parse(message: str) -> list[Violation]:
    found: list[tuple[int, Violation]] = []
    for m in _BOUND.finditer(message):
        field = m.group("field") or m.group("missing")
        observed = m.group("observed").rstrip(".") if m.group("observed") else None
        found.append((m.start(), Violation(m.group("bound"), m.group("res"), m.group("scope"), m.group("enforced").rstrip("."), field, observed, m.group(0))))
    for m in _RATIO.finditer(message):
        ratio = f"{float(m.group('observed')):g}" if m.group("observed") else None  # the API server prints %f: 4.000000
        found.append((m.start(), Violation("ratio", m.group("res"), m.group("scope"), m.group("enforced"), None, ratio, m.group(0))))
    return [v for _, v in sorted(found, key=lambda pair: pair[0])]


def _ratio_breaks(container: dict[str, Any], violation: Violation) -> bool:
    resources = container.get("resources") or {}
    limit = quantity.parse((resources.get("limits") or {}).get(violation.resource))
    request = quantity.parse((resources.get("requests") or {}).get(violation.resource))
    enforced = quantity.parse(violation.enforced)
    if limit is None or enforced is None:
        return False
    return not request or limit / request > enforced


def _rule(v: Violation) -> str:
    if v.bound == "ratio":
        return f"allows a {v.resource} limit of at most {v.enforced}× the request per {v.scope}"
    return f"allows {'at most' if v.bound == 'maximum' else 'at least'} {v.enforced} of {v.resource} per {v.scope}"


def _breach(v: Violation) -> str:
    if v.bound == "ratio":
        return f"has a ratio of {v.observed}" if v.observed else f"sets a {v.resource} limit with no request"
    if v.observed is None:
        return f"declares no {v.resource} {v.field}"
    return f"has a {v.resource} {v.field} of {v.observed}"


def _explain(v: Violation, culprit: str | None, names: list[str]) -> str:
    who = (
        f"container {culprit}"
        if culprit
        else (f"containers {', '.join(names)}" if names else f"the pod template (no container's {v.resource} {v.field or 'limit'} matches the verdict exactly)")
    )
    return f"The namespace's LimitRange {_rule(v)}; {who} {_breach(v)}, so the API server refuses every pod of this template"


def _manual(v: Violation, culprit: str | None, spec: dict[str, Any], what: str, ns: str) -> str:
    container = f" -c {culprit}" if culprit else ""
    if v.bound == "ratio":
        return (
            f"Bring the {v.resource} limit / request of {culprit or 'the container'} to at most {v.enforced}: "
            f"raise its request or lower its limit (kubectl -n {ns} set resources {what}{container})."
        )
    side = "at most" if v.bound == "maximum" else "at least"
    flags = [f"--{v.field}s={v.resource}={v.enforced}"]
    found = objects.find_container(spec, culprit) if culprit else None
    resources = (found[0].get("resources") or {}) if found else {}
    other = "request" if v.field == "limit" else "limit"
    value = quantity.parse((resources.get(f"{other}s") or {}).get(v.resource))
    enforced = quantity.parse(v.enforced)
    if value is not None and enforced is not None and ((other == "request" and value > enforced) or (other == "limit" and value < enforced)):
        flags.append(f"--{other}s={v.resource}={v.enforced}")  # a request above its limit (or a limit below its request) is invalid
    command = f"kubectl -n {ns} set resources {what}{container} {' '.join(flags)}"
    return f"Set the {v.resource} {v.field} of {culprit or 'each container'} to {side} {v.enforced}: {command}."


def _restore(
    ctx: Context, culprits: list[tuple[Violation, str | None]], current: dict[str, Any] | None, previous: dict[str, Any] | None
) -> tuple[FixDraft, str] | None:
    """Put back the last healthy revision's requests and limits of each refused resource, when that revision fits every bound.

    Both the request and the limit come back: the rollout may have raised both, and a limit put back
    under a raised request would be refused in turn.
    """
    workload = ctx.workload
    if workload is None or workload.get("kind") == "Pod" or current is None or previous is None:
        return None
    ops: list[PatchOperation] = []
    told: list[str] = []
    for culprit, resource in dict.fromkeys((c, v.resource) for v, c in culprits):
        violations = [v for v, c in culprits if c == culprit and v.resource == resource]
        found = objects.find_container(objects.pod_spec(workload), culprit) if culprit else None  # the patch's target: the workload's template
        old = objects.find_container(previous.get("spec") or {}, culprit) if culprit else None
        if found is None or old is None or not all(v.admits(old[0]) for v in violations):
            return None
        container, init, index = found
        path = f"{patching.container_path(workload, index, init=init)}/resources"
        now, then = container.get("resources") or {}, old[0].get("resources") or {}
        changes: list[PatchOperation] = []
        for field in ("requests", "limits"):
            value, before = (now.get(field) or {}).get(resource), (then.get(field) or {}).get(resource)
            if value == before:
                continue
            if before is None:
                changes += [patching.test(f"{path}/{field}/{resource}", value), PatchOperation(op="remove", path=f"{path}/{field}/{resource}")]
                told.append(f"no {resource} {field[:-1]} on container {culprit}")
            elif value is None and field not in now:
                return None  # the section itself is gone: not a one-value change to put back
            else:
                changes += patching.set_field(f"{path}/{field}/{resource}", value, before)
                told.append(f"a {resource} {field[:-1]} of {before} on container {culprit}")
        if changes:
            ops += [patching.test(f"{patching.container_path(workload, index, init=init)}/name", culprit), *changes]
    if not ops:
        return None
    draft = FixDraft(
        ops=ops,
        summary=f"Put back {' and '.join(told)}, as the last healthy revision had it",
        rationale="The namespace's LimitRange refuses every pod of the new template; the value the last healthy revision ran with is inside its bounds.",
        risk=Risk.MEDIUM,
        risk_notes="Rolling restart; the container runs with the resources it had before the rollout.",
        alternatives_rejected=["Changing the LimitRange: it is the namespace owner's policy, not the workload's."],
    )
    return draft, " and ".join(told)
