"""rollout_stuck: a Deployment's rollout stopped making progress, and nothing in its pods explains it.

Signal: Progressing=False with reason ProgressDeadlineExceeded (or ReplicaFailure=True), the
newest ReplicaSet not available, and no more specific class in the new pods — no crash, pull
error, config error, OOM, failing probe or unschedulable pod (those analyzers own such cases).
What is left: the new ReplicaSet cannot create pods (FailedCreate: quota, admission, a missing
ServiceAccount, PodSecurity), or its pods run but never become ready without a failing probe.
Fix: roll the pod template back to the last healthy revision, guarded field by field; when the
cause lies outside the workload (a ResourceQuota), no patch — the manual steps name the quota.
A StatefulSet or DaemonSet has no Progressing condition: its own FailedCreate while it is short of
pods is the signal, and the rollback goes to its last healthy ControllerRevision.
"""

from __future__ import annotations

import re
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.quota_exceeded import refusing_messages, short_of_pods, verdict
from aegis.core.evidence.extract import current_revision_numbers, template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk
from aegis.core.redaction import MARKER

_SPECIFIC_WAITING = {
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError", "ErrImageNeverPull", "ContainerCreating", "PodInitializing",
}  # fmt: skip
_SPECIFIC_EVENTS = {"Unhealthy", "FailedMount", "FailedAttachVolume", "FailedScheduling", "Evicted", "BackOff", "Failed", "OOMKilling"}
_QUOTA = re.compile(r"exceeded quota: ([\w.-]+)(?:, requested: ([^,]+(?:,[^,:]+)*?), used: ([^,]+(?:,[^,:]+)*?), limited: (.+))?")
_HASH_LABELS = ("pod-template-hash", "controller-revision-hash")


def analyze(ctx: Context) -> Finding | None:
    workload = ctx.workload
    if workload is not None and workload.get("kind") in ("StatefulSet", "DaemonSet"):
        return _controller_refused(ctx, workload)
    if workload is None or workload.get("kind") != "Deployment":
        return None
    progressing = objects.condition(workload, "Progressing") or {}
    failure = objects.condition(workload, "ReplicaFailure") or {}
    deadline = progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded"
    if not deadline and failure.get("status") != "True":
        return None
    current_rs = ctx.bundle.current_replicaset()
    if current_rs is None:
        return None
    new_pods = [p for p in ctx.bundle.pods if (objects.controller_of(p) or {}).get("name") == objects.name(current_rs)]
    if any(_specific(ctx, p) for p in new_pods):
        return None  # a crash, pull error, probe or scheduling failure is the root cause, not the rollout
    rs_name = objects.name(current_rs)
    create_errors = [e for e in ctx.bundle.events_for("ReplicaSet", rs_name) if e.get("reason") == "FailedCreate"]
    status = current_rs.get("status") or {}
    ready_new = int(status.get("readyReplicas") or 0)
    steps = [
        f"Deployment {objects.name(workload)}: Progressing=False ({progressing.get('reason') or failure.get('reason')}): "
        f"{progressing.get('message') or failure.get('message', '')}{ctx.cite('status:workload')}",
        f"Its newest ReplicaSet {rs_name} (revision {objects.revision(current_rs)}) has {ready_new}/"
        f"{(current_rs.get('spec') or {}).get('replicas', 0)} ready pods and {len(new_pods)} pods exist{ctx.cite('status:workload')}",
    ]
    quota = None
    if create_errors:
        message = str(create_errors[-1].get("message") or "")
        quota = _QUOTA.search(message)
        steps.append(f"The ReplicaSet cannot create pods: {message}{ctx.cite('event:FailedCreate')}")
        cause = f"the API server rejects its pods ({_short_cause(message)})"
    elif new_pods:
        steps.append(
            f"Its pods run but never become ready, and no probe failure, crash or scheduling problem explains it"
            f"{ctx.cite(*(f'status:pod:{objects.name(p)}' for p in new_pods[:2]))}"
        )
        cause = "its new pods never become ready"
    else:
        cause = "its new ReplicaSet made no pods"
    steps.append(
        "No more specific failure shows in the new revision's pods (no crash, image, config, OOM, probe or scheduling error)"
        + ctx.cite(*(f"status:pod:{objects.name(p)}" for p in new_pods[:2]), *([] if new_pods else ["status:workload"]))
    )
    healthy = _last_healthy(ctx, current_rs)
    if healthy is not None:
        steps.append(
            f"Revision {objects.revision(healthy)} (ReplicaSet {objects.name(healthy)}) was the last healthy one; the rollout "
            f"changed: {_change_text(ctx)}{ctx.cite('change:rollout')}"
        )
    draft, manual = _fix(ctx, current_rs, healthy, quota)
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout', 'status:workload')}")
    summary = f"The rollout of Deployment {objects.name(workload)} to revision {objects.revision(current_rs)} is stuck: {cause}."
    keys = ["status:workload", "event:FailedCreate", *(f"status:pod:{objects.name(p)}" for p in new_pods[:2]), "change:rollout"]
    return Finding(
        category=Category.ROLLOUT_STUCK,
        confidence=0.85 if create_errors else 0.6,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(*keys),
        fix=draft,
        manual_steps=manual,
    )


def _specific(ctx: Context, pod: KubeObject) -> bool:
    """Whether this pod shows a failure another analyzer names more precisely."""
    if (pod.get("status") or {}).get("phase") in ("Pending", "Failed"):
        return True  # unscheduled, a volume or an image still in the way, or evicted
    for init in (True, False):
        for cs in objects.container_statuses(pod, init=init):
            waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            terminated = (cs.get("lastState") or {}).get("terminated") or (cs.get("state") or {}).get("terminated") or {}
            if waiting in _SPECIFIC_WAITING or int(cs.get("restartCount") or 0) > 0:
                return True
            if terminated and terminated.get("exitCode") not in (0, None):
                return True
    return any(e.get("reason") in _SPECIFIC_EVENTS for e in ctx.bundle.events_for("Pod", objects.name(pod)))


_MISSING_SA = re.compile(r'serviceaccount "([^"]+)" not found', re.IGNORECASE)
_POD_SECURITY = re.compile(r'violates PodSecurity "([^"]+)": (.+)$')
_WEBHOOK = re.compile(r'admission webhook "([^"]+)" denied the request:?\s*(.*)$')


def _short_cause(message: str) -> str:
    """The admission verdict in a few words, with what it names: the ServiceAccount, the policy level and its checks, the webhook."""
    if match := _MISSING_SA.search(message):
        return f"ServiceAccount {match.group(1)} does not exist"
    if match := _POD_SECURITY.search(message):
        # Each check is 'NAME (container "x" must set …)': the names are what to fix, the parentheses how.
        checks = re.sub(r"\s*\([^()]*(?:\([^()]*\)[^()]*)*\)", "", match.group(2)).strip()
        return f'violates PodSecurity "{match.group(1)}": {checks[:200]}'
    if match := _WEBHOOK.search(message):
        return (
            f"admission webhook {match.group(1)} denied them: {match.group(2).strip()[:200]}"
            if match.group(2).strip()
            else f"admission webhook {match.group(1)} denied them"
        )
    for marker in ("exceeded quota", "LimitRange", "must be less than or equal"):
        if marker.lower() in message.lower():
            return marker
    return "forbidden"


def _controller_refused(ctx: Context, workload: KubeObject) -> Finding | None:
    """A StatefulSet or DaemonSet whose own pod creations the API server refuses (a missing ServiceAccount, PodSecurity, a webhook).

    These controllers have no Progressing condition: the signal is their FailedCreate while they are
    short of pods. Quota and LimitRange verdicts are their own analyzers' (quota_exceeded).
    """
    refusal = next(((message, key) for message, owner, key in refusing_messages(ctx) if owner is workload), None)
    if refusal is None or not short_of_pods(ctx, workload) or any(_specific(ctx, p) for p in ctx.bundle.pods):
        return None
    message, key = refusal
    kind, name = str(workload.get("kind")), objects.name(workload)
    cause = _short_cause(message)
    steps = [f"{kind} {name} cannot create its pods: {verdict(message)}{ctx.cite(key, 'status:workload')}"]
    current, previous = template_pair(ctx.bundle)
    newest, base = current_revision_numbers(ctx.bundle)
    ops = rollback_ops(workload, current, previous) if current is not None and previous is not None and newest != base else []
    manual = [
        f"Correct what the API server refuses ({cause}) in the pod template of {kind.lower()}/{name}, or, if the template is right, "
        f"create what it needs; `kubectl -n {ctx.bundle.namespace} describe {kind.lower()} {name}` shows each refusal."
    ]
    draft = None
    if ops:
        steps.append(f"Revision {base} was the last healthy one; revision {newest} changed: {_change_text(ctx)}{ctx.cite('change:rollout')}")
        draft = FixDraft(
            ops=ops,
            summary=f"roll the pod template of {kind} {name} back to revision {base}, the last healthy one",
            rationale=f"Revision {base} created its pods; the API server refuses those of revision {newest}. Restoring the fields the rollout "
            "changed, each guarded by its current value, returns the controller to a template it is allowed to create.",
            risk=Risk.MEDIUM,
            risk_notes="Undoes every change of the last rollout, including intended ones; they must be re-applied once the cause is fixed.",
            alternatives_rejected=["Deleting the pods: the controller creates them from the same refused template."],
        )
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout', key)}")
        manual = []
    return Finding(
        category=Category.ROLLOUT_STUCK,
        confidence=0.85,
        summary=f"{kind} {name} cannot create its pods: the API server rejects them ({cause}).",
        steps=steps,
        evidence_ids=ctx.evidence.ids(key, "status:workload", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _last_healthy(ctx: Context, current: KubeObject) -> KubeObject | None:
    """The newest older ReplicaSet that had available pods, else the one just before the current."""
    older = sorted((r for r in ctx.bundle.replicasets if objects.revision(r) < objects.revision(current)), key=objects.revision)
    for rs in reversed(older):
        status = rs.get("status") or {}
        if int(status.get("availableReplicas") or status.get("readyReplicas") or 0) > 0:
            return rs
    return older[-1] if older else None


def _change_text(ctx: Context) -> str:
    change = ctx.evidence.by_key.get("change:rollout")
    return change.summary.split("changed the pod template: ")[-1] if change else "the pod template"


def _fix(ctx: Context, current_rs: KubeObject, healthy: KubeObject | None, quota: re.Match[str] | None) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    ns = ctx.bundle.namespace
    if quota is not None:
        name = quota.group(1)
        numbers = f" (requested {quota.group(2)}, used {quota.group(3)}, limited to {quota.group(4).rstrip('.')})" if quota.group(2) else ""
        return None, [
            f"ResourceQuota {name} in namespace {ns} is exhausted{numbers}: the rolling update needs room for its surge pod. "
            f"Raise the quota (`kubectl edit resourcequota {name} -n {ns}`) or free room by scaling down something else.",
            "Or let the rollout replace pods in place: set the Deployment's strategy.rollingUpdate to maxSurge: 0, maxUnavailable: 1 "
            "(it runs one replica short while it rolls).",
            "Rolling back would not help: any new revision needs the same room. Re-run the analysis after changing the quota.",
        ]
    undo = [
        f"Roll back by hand: `kubectl rollout undo deployment/{objects.name(workload or {})} -n {ns}`, then find out why the new "
        "revision cannot progress (`kubectl describe rs` of the newest ReplicaSet)."
    ]
    if workload is None or healthy is None:
        return None, undo
    ops = rollback_ops(workload, _template(current_rs), _template(healthy))
    if not ops:
        return None, undo
    revision = objects.revision(healthy)
    return FixDraft(
        ops=ops,
        summary=f"roll the pod template back to revision {revision} (ReplicaSet {objects.name(healthy)}), the last healthy one",
        rationale=(
            f"Revision {revision} ran and was available; the new revision cannot progress and nothing in the workload points at a "
            "narrower change. Restoring the fields the rollout changed, each guarded by its current value, returns the "
            "Deployment to a template known to work; the Deployment controller then scales the old ReplicaSet back up."
        ),
        risk=Risk.MEDIUM,
        risk_notes="Undoes every change of the last rollout, including intended ones; they must be re-applied once the cause is fixed.",
        alternatives_rejected=[
            "Raising progressDeadlineSeconds: hides the stall, the new pods still never become available.",
            "Restarting the rollout (kubectl rollout restart): creates another revision with the same template and the same stall.",
        ],
    ), []


def _template(rs: KubeObject) -> dict[str, Any]:
    template: dict[str, Any] = (rs.get("spec") or {}).get("template") or {}
    return template


def _meta(template: dict[str, Any], field: str) -> dict[str, Any]:
    values: dict[str, Any] = ((template.get("metadata") or {}).get(field)) or {}
    return {k: v for k, v in values.items() if k not in _HASH_LABELS}


def rollback_ops(workload: KubeObject, current: dict[str, Any], previous: dict[str, Any]) -> list[PatchOperation]:
    """Guarded ops that turn the workload's pod template from `current` back into `previous`.

    Only fields that differ between the two revisions change; each is guarded by the workload's
    value, which must equal the current revision's (else the workload moved on: no ops). A
    redacted value can be neither guarded nor restored: no ops.
    """
    base = objects.pod_template_path(str(workload.get("kind")))
    spec_now = objects.pod_spec(workload)
    cur_spec, prev_spec = current.get("spec") or {}, previous.get("spec") or {}
    ops: list[PatchOperation] = []
    try:
        for field in ("labels", "annotations"):
            prev_meta, cur_meta = _meta(previous, field), _meta(current, field)
            if prev_meta != cur_meta:
                now = ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get(field) or {}
                if {k: v for k, v in now.items() if k not in _HASH_LABELS} != cur_meta:
                    return []
                ops += patching.set_field(f"/spec/template/metadata/{field}", now or None, prev_meta)
        for key in sorted(set(cur_spec) | set(prev_spec)):
            if cur_spec.get(key) == prev_spec.get(key):
                continue
            if spec_now.get(key) != cur_spec.get(key):
                return []
            path = f"{base}/{patching.escape(key)}"
            if key in ("containers", "initContainers") and _same_names(cur_spec.get(key), prev_spec.get(key)):
                ops += _container_ops(path, cur_spec[key], prev_spec[key])
            elif key not in prev_spec:
                ops += [patching.test(path, spec_now[key]), PatchOperation(op="remove", path=path)]
            else:
                ops += patching.set_field(path, spec_now.get(key), prev_spec[key])
        if any(_redacted(op.value) for op in ops):
            return []
    except ValueError:
        return []
    return ops


def _same_names(current: Any, previous: Any) -> bool:
    return isinstance(current, list) and isinstance(previous, list) and [c.get("name") for c in current] == [p.get("name") for p in previous]


def _container_ops(path: str, current: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[PatchOperation]:
    ops: list[PatchOperation] = []
    for index, (now, before) in enumerate(zip(current, previous, strict=True)):
        if now == before:
            continue
        ops.append(patching.test(f"{path}/{index}/name", now.get("name")))
        for field in sorted(set(now) | set(before)):
            if now.get(field) == before.get(field):
                continue
            field_path = f"{path}/{index}/{patching.escape(field)}"
            if field not in before:
                ops += [patching.test(field_path, now[field]), PatchOperation(op="remove", path=field_path)]
            else:
                ops += patching.set_field(field_path, now.get(field), before[field])
    return ops


def _redacted(value: Any) -> bool:
    """Whether a value carries a redaction marker anywhere (it cannot be written back)."""
    return value is not None and MARKER in str(value)
