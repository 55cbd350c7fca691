"""service_selector_mismatch: the workload's pods are healthy, but the Service meant for them selects none.

Signal: at least one Ready pod of the workload, and a Service in the namespace that is meant for
it — named like the workload (or its `app` label), or whose selector agrees with more than half of
the pods' labels — whose selector matches none of the pods and whose Endpoints have no addresses.
Fix: a guarded patch on the SERVICE (not the workload): each selector key the pods carry with
another value is set to the pods' value, keys the pods lack are removed, and the workload's own
selector labels are added, so the Service selects exactly this workload's pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk

# Labels controllers add to individual pods: never part of a Service selector.
_POD_ONLY_LABELS = (
    "pod-template-hash", "controller-revision-hash", "pod-template-generation",
    "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
)  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    service: KubeObject
    selector: dict[str, str]
    by_name: bool
    agreeing: int

    @property
    def name(self) -> str:
        return objects.name(self.service)


def analyze(ctx: Context) -> Finding | None:
    ready = [p for p in ctx.bundle.pods if (objects.condition(p, "Ready") or {}).get("status") == "True"]
    if not ready or ctx.workload is None:
        return None
    labels = _pod_labels(ready[0])
    candidate = _candidate(ctx, ready, labels)
    if candidate is None:
        return None
    pod_name = objects.name(ready[0])
    svc = candidate.name
    wrong = {k: v for k, v in candidate.selector.items() if labels.get(k) != v}
    steps = [
        f"{len(ready)} of {len(ctx.bundle.pods)} pods of {ctx.workload.get('kind')} {objects.name(ctx.workload)} are Ready, e.g. "
        f"{pod_name}{ctx.cite('status:workload', f'status:pod:{pod_name}')}",
        f"Service {svc} is meant for them ("
        + ("same name as the workload" if candidate.by_name else f"{candidate.agreeing} of {len(candidate.selector)} selector labels agree")
        + f") but its selector {_show(candidate.selector)} matches none of their pods{ctx.cite(f'config:Service/{svc}')}",
        "Selector entries the pods do not satisfy: "
        + ", ".join(f"{k}={v} (pods have {labels[k]!r})" if k in labels else f"{k}={v} (pods have no {k} label)" for k, v in wrong.items())
        + f"; the pods carry {_show(labels)}{ctx.cite(f'status:pod:{pod_name}')}",
        f"Its Endpoints list no addresses, so the Service routes traffic nowhere{ctx.cite(f'config:Endpoints/{svc}')}",
    ]
    draft = _fix(ctx, candidate, labels)
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite(f'config:Service/{svc}', f'status:pod:{pod_name}')}")
    keys = ["status:workload", f"status:pod:{pod_name}", f"config:Service/{svc}", f"config:Endpoints/{svc}"]
    return Finding(
        category=Category.SERVICE_SELECTOR_MISMATCH,
        confidence=0.85 if candidate.by_name else 0.7,
        summary=(
            f"Service {svc} selects no pods: its selector {_show(candidate.selector)} does not match the labels of "
            f"{objects.name(ctx.workload)}'s healthy pods, so its Endpoints are empty and requests to it fail."
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(*keys),
        fix=draft,
        manual_steps=[]
        if draft
        else [
            f"Set Service {svc}'s spec.selector to labels the pods carry ({_show(labels)}) with `kubectl edit service {svc} "
            f"-n {ctx.bundle.namespace}`, or label the pods to match it."
        ],
    )


def _pod_labels(pod: KubeObject) -> dict[str, str]:
    return {k: v for k, v in objects.labels(pod).items() if k not in _POD_ONLY_LABELS}


def _selects(selector: dict[str, str], pod: KubeObject) -> bool:
    return all(objects.labels(pod).get(k) == v for k, v in selector.items())


def _candidate(ctx: Context, ready: list[KubeObject], labels: dict[str, str]) -> Candidate | None:
    workload = ctx.workload
    assert workload is not None
    names = {objects.name(workload), labels.get("app", ""), labels.get("app.kubernetes.io/name", "")} - {""}
    served = any(_selector(s) and any(_selects(_selector(s), p) for p in ready) for s in ctx.bundle.services)
    found: list[Candidate] = []
    for service in ctx.bundle.services:
        selector = _selector(service)
        if not selector or (service.get("spec") or {}).get("type") == "ExternalName":
            continue
        if any(_selects(selector, p) for p in ctx.bundle.pods) or _has_addresses(ctx, objects.name(service)):
            continue
        agreeing = sum(1 for k, v in selector.items() if labels.get(k) == v)
        by_name = objects.name(service) in names
        # Without the name, a Service is only taken for ours when most of its selector agrees and no other Service
        # already serves these pods (a canary or metrics Service with an extra label may select nothing on purpose).
        if by_name or (agreeing * 2 > len(selector) and not served):
            found.append(Candidate(service, selector, by_name, agreeing))
    found.sort(key=lambda c: (not c.by_name, -c.agreeing))
    return found[0] if found else None


def _selector(service: KubeObject) -> dict[str, str]:
    result: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
    return result


def _has_addresses(ctx: Context, name: str) -> bool:
    """Whether the Service's Endpoints list any ready address (unknown counts as none only when Endpoints were collected)."""
    for endpoints in ctx.bundle.endpoints:
        if objects.name(endpoints) == name:
            return any(subset.get("addresses") for subset in endpoints.get("subsets") or [])
    return not ctx.bundle.knows("Endpoints")


def _fix(ctx: Context, candidate: Candidate, labels: dict[str, str]) -> FixDraft | None:
    workload = ctx.workload
    assert workload is not None
    match_labels: dict[str, str] = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    new = {k: labels[k] for k in candidate.selector if k in labels} | {k: v for k, v in match_labels.items() if k in labels}
    if not new or new == candidate.selector or not all(labels.get(k) == v for k, v in new.items()):
        return None
    ops: list[PatchOperation] = []
    for key, value in candidate.selector.items():
        path = f"/spec/selector/{patching.escape(key)}"
        if key not in new:
            ops += [patching.test(path, value), PatchOperation(op="remove", path=path)]
        elif new[key] != value:
            ops += patching.replace(path, value, new[key])
        else:
            ops.append(patching.test(path, value))
    ops += [PatchOperation(op="add", path=f"/spec/selector/{patching.escape(k)}", value=v) for k, v in new.items() if k not in candidate.selector]
    changes = _describe(candidate.selector, new)
    return FixDraft(
        ops=ops,
        summary=f"set Service {candidate.name}'s selector to {_show(new)} ({changes})",
        rationale=(
            f"The pods are healthy; only the Service fails to find them. Changing the selector to labels the pods actually carry "
            f"({_show(new)}) fills its Endpoints without touching the workload or restarting anything. The new selector includes "
            f"the workload's own selector labels, so it picks this workload's pods and no others the workload does not own."
        ),
        risk=Risk.LOW,
        risk_notes=(
            f"Traffic to Service {candidate.name} starts reaching the pods as soon as the Endpoints update; no pod restarts. "
            "Any other pods carrying the same labels would receive traffic too."
        ),
        alternatives_rejected=[
            "Relabelling the pods to match the Service: needs a rolling restart and may break the workload's own selector.",
            "Restarting or rolling back the workload: its pods are healthy; the Service is what is wrong.",
        ],
        target=candidate.service,
    )


def _describe(old: dict[str, str], new: dict[str, str]) -> str:
    parts = [f"{k}: {old[k]} → {new[k]}" for k in old if k in new and old[k] != new[k]]
    parts += [f"drop {k}" for k in old if k not in new]
    parts += [f"add {k}={v}" for k, v in new.items() if k not in old]
    return ", ".join(parts)


def _show(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}"
