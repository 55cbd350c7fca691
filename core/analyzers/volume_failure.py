"""volume_failure: a pod cannot start because a volume it needs is missing, unbound or will not mount.

Signal: a pod that is not running with either a scheduler verdict about its claims
('pod has unbound immediate PersistentVolumeClaims', 'persistentvolumeclaim "x" not found',
'volume node affinity conflict'), a referenced PersistentVolumeClaim that is Pending or absent,
or FailedMount/FailedAttachVolume events about a persistent volume (ConfigMap/Secret volumes
belong to missing_config_reference). Fix: only when the last rollout changed a volume's
claimName and the previous claim still exists — restore it (guarded). Otherwise no patch: the
manual steps name the claim, its StorageClass and what a human must create or repair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.unschedulable_resources import VOLUME, filter_verdict, scheduling_failure
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, Risk

_NOT_FOUND = re.compile(r'persistentvolumeclaim "([^"]+)" not found', re.I)
_MOUNT_VOLUME = re.compile(r'(?:for volume|volume) "([^"]+)"')
_CONFIG_MOUNT = re.compile(r'(?:configmap|secret)s? "[^"]+" not found|object "[^"]+"/"[^"]+" not registered', re.I)
_MOUNT_REASONS = ("FailedMount", "FailedAttachVolume", "FailedMapVolume")


@dataclass(frozen=True)
class VolumeProblem:
    pod: KubeObject
    how: str  # 'scheduling' | 'mount' | 'claim'
    message: str
    claim: str | None
    volume: str | None
    keys: list[str]


def analyze(ctx: Context) -> Finding | None:
    problem = _problem(ctx)
    if problem is None:
        return None
    pod_name = objects.name(problem.pod)
    pvc = ctx.bundle.find("PersistentVolumeClaim", problem.claim) if problem.claim else None
    missing = bool(problem.claim) and pvc is None and ctx.bundle.knows("PersistentVolumeClaim")
    scheduling = problem.how == "scheduling"
    reported = filter_verdict(problem.message) if scheduling else problem.message
    steps = [
        f"Pod {pod_name} is {(problem.pod.get('status') or {}).get('phase', 'Pending')} and has not started its containers{ctx.cite(f'status:pod:{pod_name}')}",
        f"{'The scheduler' if scheduling else 'Kubernetes'} reports: {reported}{ctx.cite(*problem.keys)}",
    ]
    claim_text = _claim_state(ctx, problem.claim, pvc, missing)
    if claim_text:
        # A missing claim has no object to cite: the scheduler's or kubelet's report of it is the evidence.
        steps.append(ctx.cited(f"{claim_text}{ctx.cite(f'config:PersistentVolumeClaim/{problem.claim}', 'event:ProvisioningFailed')}", *problem.keys))
    previous_claim = _previous_claim(ctx, problem)
    if previous_claim:
        steps.append(
            f"The last rollout changed volume {previous_claim[0]}'s claimName from {previous_claim[1]} to {problem.claim}; "
            f"{previous_claim[1]} still exists{ctx.cite('change:rollout')}"
        )
    draft = _fix(ctx, problem, previous_claim) if previous_claim and missing else None
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout', *problem.keys)}")
    summary = (
        f"Pod {pod_name} cannot start: "
        + (
            f"PersistentVolumeClaim {problem.claim} does not exist"
            if missing
            else f"PersistentVolumeClaim {problem.claim} is {(pvc or {}).get('status', {}).get('phase', 'not usable')}"
            if problem.claim and problem.how != "mount"
            else f"volume {problem.volume or problem.claim} fails to attach or mount"
        )
        + ("; the last rollout changed the claim name." if previous_claim else ".")
    )
    keys = [f"status:pod:{pod_name}", *problem.keys, "event:ProvisioningFailed", "status:workload", "change:rollout" if previous_claim else ""]
    return Finding(
        category=Category.VOLUME_FAILURE,
        confidence=0.9,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(*[k for k in keys if k]),
        fix=draft,
        manual_steps=[] if draft else _manual(ctx, problem, pvc, missing),
    )


def _problem(ctx: Context) -> VolumeProblem | None:
    failure = scheduling_failure(ctx)
    if failure is not None and failure.dominant == VOLUME:
        found = _NOT_FOUND.search(failure.message)
        claim = found.group(1) if found else _unbound_claim(ctx, objects.pod_spec(failure.pod))
        keys = [failure.event_key or failure.pod_key]
        return VolumeProblem(failure.pod, "scheduling", failure.message, claim, _volume_of(objects.pod_spec(failure.pod), claim), keys)
    for pod in ctx.bundle.pods:
        if _running(pod):
            continue
        for event in reversed(ctx.bundle.events_for("Pod", objects.name(pod))):
            message = str(event.get("message") or "")
            if event.get("reason") not in _MOUNT_REASONS or _CONFIG_MOUNT.search(message):
                continue
            volume_match = _MOUNT_VOLUME.search(message)
            volume = volume_match.group(1) if volume_match else None
            claim = _claim_of(objects.pod_spec(pod), volume) or _claim_by_bound_volume(ctx, volume)
            if claim is None and not re.search(r"persistentvolume|attach|csi|pvc-|nfs|iscsi", message, re.I):
                continue  # an emptyDir/hostPath hiccup; not a claim problem we can explain
            return VolumeProblem(pod, "mount", message, claim, volume, [f"event:{event.get('reason')}"])
    return None


def _running(pod: KubeObject) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and all("running" in (s.get("state") or {}) for s in objects.container_statuses(pod))


def _unbound_claim(ctx: Context, spec: dict[str, Any]) -> str | None:
    for name in objects.pvc_names(spec):
        pvc = ctx.bundle.find("PersistentVolumeClaim", name)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return name
    names = objects.pvc_names(spec)
    return names[0] if names else None


def _claim_of(spec: dict[str, Any], volume: str | None) -> str | None:
    for item in spec.get("volumes") or []:
        if item.get("name") == volume and item.get("persistentVolumeClaim"):
            return str(item["persistentVolumeClaim"].get("claimName"))
    return None


def _claim_by_bound_volume(ctx: Context, volume: str | None) -> str | None:
    """The claim bound to a PV named in the message ('pvc-1f3e…')."""
    for pvc in ctx.bundle.pvcs:
        if volume and (pvc.get("spec") or {}).get("volumeName") == volume:
            return objects.name(pvc)
    return None


def _volume_of(spec: dict[str, Any], claim: str | None) -> str | None:
    for item in spec.get("volumes") or []:
        if claim and (item.get("persistentVolumeClaim") or {}).get("claimName") == claim:
            return str(item.get("name"))
    return None


def _claim_state(ctx: Context, claim: str | None, pvc: KubeObject | None, missing: bool) -> str:
    if not claim:
        return ""
    if missing:
        return f"PersistentVolumeClaim {claim} does not exist in namespace {ctx.bundle.namespace}"
    if pvc is None:
        return ""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    text = f"PersistentVolumeClaim {claim} is {status.get('phase', 'Unknown')} (StorageClass {spec.get('storageClassName') or '(none)'}"
    text += f", {', '.join(spec.get('accessModes') or [])}, {((spec.get('resources') or {}).get('requests') or {}).get('storage', '?')})"
    provisioning = [e for e in ctx.bundle.events_for("PersistentVolumeClaim", claim) if e.get("type") == "Warning"]
    if provisioning:
        text += f"; its provisioner says: {provisioning[-1].get('message')}"
    return text


def _previous_claim(ctx: Context, problem: VolumeProblem) -> tuple[str, str] | None:
    """(volume, previous claimName) when the last rollout changed this volume's claim and that claim exists."""
    workload = ctx.workload
    _, previous = template_pair(ctx.bundle)
    if workload is None or previous is None or problem.volume is None or workload.get("kind") == "Pod":
        return None
    before = _claim_of(previous.get("spec") or {}, problem.volume)
    if not before or before == problem.claim:
        return None
    exists = ctx.bundle.find("PersistentVolumeClaim", before) is not None or any(
        _running(p) and before in objects.pvc_names(objects.pod_spec(p)) for p in ctx.bundle.pods
    )
    return (problem.volume, before) if exists else None


def _fix(ctx: Context, problem: VolumeProblem, previous: tuple[str, str]) -> FixDraft | None:
    workload = ctx.workload
    if workload is None or problem.claim is None:
        return None
    volume, before = previous
    spec = objects.pod_spec(workload)
    index = next((i for i, v in enumerate(spec.get("volumes") or []) if v.get("name") == volume), None)
    if index is None or _claim_of(spec, volume) != problem.claim:
        return None
    base = f"{objects.pod_template_path(str(workload.get('kind')))}/volumes/{index}"
    return FixDraft(
        ops=[patching.test(f"{base}/name", volume), *patching.replace(f"{base}/persistentVolumeClaim/claimName", problem.claim, before)],
        summary=f"point volume {volume} back at PersistentVolumeClaim {before} (the previous revision's claim)",
        rationale=(
            f"Claim {problem.claim} does not exist, so no new pod can be scheduled; the previous revision mounted {before}, which "
            "still exists and holds the data those pods used. Restoring the claim name is the smallest change back to a working "
            "volume, and it creates nothing."
        ),
        risk=Risk.MEDIUM,
        risk_notes=(
            f"Rolling restart; the new pods mount {before}. If it is ReadWriteOnce, new pods must share a node with the old ones "
            f"or wait for them to stop. If {problem.claim} was meant to be a new, separate volume, create it instead."
        ),
        alternatives_rejected=[
            f"Creating an empty claim named {problem.claim}: the pods would start on an empty volume, without their data.",
            "Rolling back the whole workload: reverts unrelated changes too; restoring the claim name is narrower.",
        ],
    )


def _manual(ctx: Context, problem: VolumeProblem, pvc: KubeObject | None, missing: bool) -> list[str]:
    ns = ctx.bundle.namespace
    claim = problem.claim or "(unknown claim)"
    if missing:
        existing = ", ".join(objects.name(p) for p in ctx.bundle.pvcs) or "none collected"
        return [
            f"PersistentVolumeClaim {claim} does not exist in namespace {ns}: create it (with the size, access mode and "
            f"StorageClass the workload needs), or point volume {problem.volume or '?'} at an existing claim (known: {existing}).",
            f"Check with `kubectl get pvc -n {ns}`, then re-run the analysis.",
        ]
    if pvc is not None and problem.how != "mount":
        storage_class = (pvc.get("spec") or {}).get("storageClassName")
        failures = " ".join(str(e.get("message")) for e in ctx.bundle.events_for("PersistentVolumeClaim", claim))
        steps = (
            [
                f"StorageClass {storage_class} does not exist (the provisioner says so): create it, or use one of the cluster's "
                "classes (`kubectl get storageclass`) for this claim."
            ]
            if storage_class and f'storageclass.storage.k8s.io "{storage_class}" not found' in failures
            else []
        )
        steps += [
            f"PersistentVolumeClaim {claim} is {(pvc.get('status') or {}).get('phase', 'Pending')} with StorageClass "
            f"{storage_class or '(none)'}: check the StorageClass exists (`kubectl get storageclass`) and that its "
            f"provisioner runs; `kubectl describe pvc {claim} -n {ns}` shows why it is not bound.",
        ]
        if ctx.workload is not None and ctx.workload.get("kind") == "StatefulSet":
            steps.append(
                "The claim comes from the StatefulSet's volumeClaimTemplates, which cannot be edited in place: either create the "
                f"missing StorageClass, or recreate the StatefulSet with a valid storageClassName (`kubectl delete statefulset "
                f"{objects.name(ctx.workload)} --cascade=orphan -n {ns}`, apply the corrected manifest) and delete the Pending claim "
                f"{claim} so it is re-created."
            )
        else:
            steps.append("Or bind it by hand: create a PersistentVolume that satisfies the claim, or set an existing StorageClass on a new claim.")
        return steps
    return [
        f"Volume {problem.volume or claim} fails to attach or mount: {problem.message.splitlines()[0][:200]}",
        "If it is a Multi-Attach error, the volume is ReadWriteOnce and still attached to another node: wait for the old pod to "
        "stop, or use the Recreate strategy for this workload.",
        f"Otherwise check the storage driver on the node (`kubectl describe pod {objects.name(problem.pod)} -n {ns}`, the CSI "
        "driver's logs, `kubectl get volumeattachments`).",
    ]
