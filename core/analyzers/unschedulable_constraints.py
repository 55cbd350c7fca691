"""unschedulable_constraints: a pod stays Pending because its placement rules exclude every node.

Signal: a Pending pod whose scheduler message rejects most nodes for a constraint — "didn't match
Pod's node affinity/selector", "had untolerated taint {key: value}", pod (anti-)affinity or
topology spread — rather than for resources or volumes. Fix, in order: when a nodeSelector value
(or key) matches no node but nearly matches a real node label (a typo), correct it; when the last
rollout introduced or changed the nodeSelector/affinity/tolerations/topology spread, restore the
previous revision's value; otherwise no patch — a human relaxes the rule or labels/untaints nodes.
"""

from __future__ import annotations

import re
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.unschedulable_resources import CONSTRAINTS, SchedulingFailure, scheduling_failure
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, PatchOperation, Risk

# 'had untolerated taint {k: v}' (1.25+) and the older 'had taint {k: v}, that the pod didn't tolerate'.
_TAINT = re.compile(r"(?:untolerated taint\(?s?\)?|had taints?)\s*\{([^:}]+):\s*([^}]*)\}")


def _fields_for(reason: str) -> tuple[str, ...]:
    """Pod-spec fields that can produce this scheduler reason."""
    low = reason.lower()
    if "node affinity/selector" in low or "node affinity" in low or "node selector" in low:
        return ("nodeSelector", "affinity")
    if "taint" in low:
        return ("tolerations",)
    if "affinity" in low:
        return ("affinity",)
    if "topology spread" in low:
        return ("topologySpreadConstraints",)
    return ()


def analyze(ctx: Context) -> Finding | None:
    failure = scheduling_failure(ctx)
    if failure is None or failure.dominant != CONSTRAINTS:
        return None
    items = failure.items(CONSTRAINTS)
    spec = objects.pod_spec(failure.pod)
    steps = [
        f"Pod {failure.pod_name} is Pending: the scheduler could not place it (PodScheduled=False, Unschedulable){ctx.cite(failure.pod_key)}",
        f"The scheduler says: {failure.headline()}{ctx.cite(failure.event_key or failure.pod_key)}",
    ]
    detail = _constraint_detail(ctx, spec, items)
    if detail:
        steps.append(f"{detail}{ctx.cite(failure.pod_key)}")
    fields = tuple(dict.fromkeys(f for _, reason in items for f in _fields_for(reason)))
    changed = _changed_by_rollout(ctx, fields)
    if changed:
        steps.append(f"The last rollout changed the pod's {', '.join(changed)}{ctx.cite('change:rollout')}")
    draft, manual = _fix(ctx, failure, spec, items, changed)
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout' if changed else failure.pod_key, failure.pod_key)}")
    rules = "; ".join(f"{n} node(s) {r.removeprefix('node(s) ')}" for n, r in items)
    summary = f"Pod {failure.pod_name} cannot be scheduled: its placement rules exclude the nodes ({rules})" + (
        f"; the last rollout changed {', '.join(changed)}." if changed else "."
    )
    keys = [failure.pod_key, failure.event_key or "", "status:workload", "change:rollout" if changed else ""]
    return Finding(
        category=Category.UNSCHEDULABLE_CONSTRAINTS,
        confidence=0.75 if failure.mixed else 0.9,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(*[k for k in keys if k]),
        fix=draft,
        manual_steps=manual,
    )


def _constraint_detail(ctx: Context, spec: dict[str, Any], items: list[tuple[int, str]]) -> str:
    parts = []
    reasons = " ".join(r for _, r in items)
    selector = spec.get("nodeSelector") or {}
    if "selector" in reasons and selector:
        unmatched = {k: v for k, v in selector.items() if not any(objects.labels(n).get(k) == v for n in ctx.bundle.nodes)}
        shown = ", ".join(f"{k}={v}" for k, v in (unmatched or selector).items())
        parts.append(f"its nodeSelector {shown} matches no node" if unmatched else f"its nodeSelector is {shown}")
    if "node affinity" in reasons and (spec.get("affinity") or {}).get("nodeAffinity"):
        parts.append("it has a required nodeAffinity")
    for key, value in _TAINT.findall(reasons):
        parts.append(f"nodes carry taint {key.strip()}={value.strip()} and the pod has no matching toleration")
    if "anti-affinity" in reasons:
        parts.append("its required podAntiAffinity forbids sharing a node (or zone) with pods it names")
    if "topology spread" in reasons:
        parts.append("its topologySpreadConstraints (whenUnsatisfiable: DoNotSchedule) cannot be met")
    if "free ports" in reasons:
        parts.append(f"it asks for hostPort {', '.join(_host_ports(spec)) or '(see its containers)'}, which every node has already given away")
    return ("The rule at fault: " + "; ".join(parts)) if parts else ""


def _changed_by_rollout(ctx: Context, fields: tuple[str, ...]) -> list[str]:
    current, previous = template_pair(ctx.bundle)
    if current is None or previous is None or ctx.workload is None:
        return []
    now, before = objects.pod_spec(ctx.workload), previous.get("spec") or {}
    return [f for f in fields if now.get(f) != before.get(f)]


def _fix(ctx: Context, failure: SchedulingFailure, spec: dict[str, Any], items: list[tuple[int, str]], changed: list[str]) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    manual = _manual(ctx, spec, items)
    if workload is None:
        return None, manual
    typo = _selector_typo(ctx, objects.pod_spec(workload))
    if typo:
        return typo, []
    if changed:
        _, previous = template_pair(ctx.bundle)
        before = (previous or {}).get("spec") or {}
        base = objects.pod_template_path(str(workload.get("kind")))
        now = objects.pod_spec(workload)
        ops: list[PatchOperation] = []
        try:
            for field in changed:
                path = f"{base}/{field}"
                if before.get(field) is None:
                    ops += [patching.test(path, now[field]), PatchOperation(op="remove", path=path)]
                else:
                    ops += patching.set_field(path, now.get(field), before[field])
        except ValueError:
            return None, manual
        shown = ", ".join(changed)
        return FixDraft(
            ops=ops,
            summary=f"restore the previous revision's {shown}",
            rationale=(
                f"The previous revision's pods were placed with its {shown}; the last rollout changed {shown} and no node "
                "satisfies the new rules. Restoring exactly the previous values is the smallest change back to a placement "
                "that worked."
            ),
            risk=Risk.MEDIUM if "tolerations" in changed or "affinity" in changed else Risk.LOW,
            risk_notes=(
                "Rolling restart of the workload; pods land where the previous revision's pods did. If the new placement rule "
                "was deliberate, prepare nodes for it (labels, capacity) and roll it out again."
            ),
            alternatives_rejected=[
                "Labelling or untainting nodes to satisfy the new rule: changes the cluster for one workload; a human decision.",
                "Rolling back the whole workload: reverts unrelated changes too; restoring the placement fields is narrower.",
            ],
        ), []
    return None, manual


def _selector_typo(ctx: Context, spec: dict[str, Any]) -> FixDraft | None:
    """Correct one nodeSelector entry that matches no node but nearly matches a real node label."""
    workload = ctx.workload
    selector: dict[str, str] = spec.get("nodeSelector") or {}
    if workload is None or not selector or not ctx.bundle.nodes:
        return None
    node_labels = [objects.labels(n) for n in ctx.bundle.nodes]
    base = f"{objects.pod_template_path(str(workload.get('kind')))}/nodeSelector"
    for key, value in selector.items():
        if any(labels.get(key) == value for labels in node_labels):
            continue
        values = sorted({labels[key] for labels in node_labels if key in labels})
        near = _near(value, values)
        if near:
            fixed = {**selector, key: near[0]}
            if _matches_some_node(fixed, node_labels):
                path = f"{base}/{patching.escape(key)}"
                return _typo_draft(patching.replace(path, value, near[0]), f"{key}={value}", f"{key}={near[0]}", value, near[0])
        keys = sorted({k for labels in node_labels for k, v in labels.items() if v == value})
        near_key = _near(key, keys)
        if near_key and near_key[0] not in selector:
            fixed = {k: v for k, v in selector.items() if k != key} | {near_key[0]: value}
            if _matches_some_node(fixed, node_labels):
                old_path, new_path = f"{base}/{patching.escape(key)}", f"{base}/{patching.escape(near_key[0])}"
                ops = [patching.test(old_path, value), PatchOperation(op="remove", path=old_path), PatchOperation(op="add", path=new_path, value=value)]
                return _typo_draft(ops, f"{key}={value}", f"{near_key[0]}={value}", key, near_key[0])
    return None


def _near(word: str, candidates: list[str]) -> list[str]:
    """The one candidate a typo away from `word` (1 edit up to 8 characters, 2 beyond), else nothing."""
    limit = 1 if len(word) <= 8 else 2
    close = [c for c in candidates if c != word and typo_distance(word, c) <= limit]
    return close if len(close) == 1 else []


def typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) between two strings: optimal string alignment."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def _typo_draft(ops: list[PatchOperation], old: str, new: str, wrong: str, right: str) -> FixDraft:
    return FixDraft(
        ops=ops,
        summary=f"correct nodeSelector {old} to {new}",
        rationale=(
            f"No node carries {old}, while nodes do carry {new}: '{wrong}' differs from '{right}' by a character or two, "
            "which reads as a typo. Correcting it keeps the intended placement rule and lets the scheduler place the pod."
        ),
        risk=Risk.LOW,
        risk_notes=f"Rolling restart of the workload; its pods will land on nodes labelled {new}.",
        alternatives_rejected=[
            "Removing the nodeSelector: drops a placement rule someone wanted; correcting the typo keeps it.",
            f"Labelling nodes with {old}: spreads the typo into the cluster.",
        ],
    )


def _matches_some_node(selector: dict[str, str], node_labels: list[dict[str, str]]) -> bool:
    return any(all(labels.get(k) == v for k, v in selector.items()) for labels in node_labels)


def _manual(ctx: Context, spec: dict[str, Any], items: list[tuple[int, str]]) -> list[str]:
    steps = []
    reasons = " ".join(r for _, r in items)
    selector = spec.get("nodeSelector") or {}
    if "selector" in reasons or "node affinity" in reasons:
        shown = ", ".join(f"{k}={v}" for k, v in selector.items()) or "(none)"
        steps.append(
            f"No node satisfies the pod's nodeSelector ({shown}) or required nodeAffinity: label the nodes meant for this "
            "workload (`kubectl label node <node> key=value`) or relax the rule in the workload's pod template."
        )
    for key, value in _TAINT.findall(reasons):
        effect = _taint_effect(ctx, key.strip()) or "NoSchedule"
        steps.append(
            f"Nodes are tainted {key.strip()}={value.strip()}:{effect}. If this workload belongs on them, add a toleration "
            f"{{key: {key.strip()}, operator: Equal, value: {value.strip()}, effect: {effect}}}; otherwise free or add untainted nodes."
        )
    if "anti-affinity" in reasons:
        steps.append(
            "The required podAntiAffinity allows at most one such pod per topology domain and every domain is taken: add "
            "nodes, lower the replica count, or make the rule preferredDuringSchedulingIgnoredDuringExecution."
        )
    if "free ports" in reasons:
        steps.append(
            f"Every node's hostPort {', '.join(_host_ports(spec)) or ''} is taken (by another replica or another workload): drop the hostPort "
            "and reach the pods through a Service, run at most one replica per node, or add nodes."
        )
    if "topology spread" in reasons:
        steps.append("The topology spread cannot be satisfied: add nodes in the missing domains or set whenUnsatisfiable: ScheduleAnyway.")
    return steps or ["Review the pod's placement rules against the nodes' labels and taints (`kubectl get nodes --show-labels`)."]


def _host_ports(spec: dict[str, Any]) -> list[str]:
    return [f"{p['hostPort']}/{p.get('protocol', 'TCP')}" for c in objects.containers(spec) for p in c.get("ports") or [] if p.get("hostPort")]


def _taint_effect(ctx: Context, key: str) -> str | None:
    for node in ctx.bundle.nodes:
        for taint in (node.get("spec") or {}).get("taints") or []:
            if taint.get("key") == key:
                return str(taint.get("effect"))
    return None
