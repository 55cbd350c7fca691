"""disk_full: a container fails because a volume it writes to is full (ENOSPC, "No space left on device").

Signal: a failing or not-ready container whose log says "No space left on device" (the strerror of
ENOSPC, as libc, Go, Node.js, Python's `[Errno 28]`, PostgreSQL's "could not extend file", MySQL's
"OS errno 28" and Java print it). The path in that line is followed to the mount that holds it (the longest mountPath prefix),
the mount to its volume, the volume to its PersistentVolumeClaim, and the claim to its size and
StorageClass. Without a path, a container with exactly one claim-backed mount is taken to have
filled that one (said so, with less confidence).

Fix: expand the claim (its spec.resources.requests.storage, guarded by a test of the current
size and of its StorageClass) when that StorageClass has allowVolumeExpansion: true; the API
server refuses it otherwise, so then the manual steps name the claim and what to do. A full
emptyDir or the container's own filesystem gets manual steps too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, Risk
from aegis.core.objects import quantity

# ENOSPC's strerror, and Python's errno form. Not a bare "ENOSPC": Node.js reports a full inotify
# watch table as "ENOSPC: System limit for number of file watchers reached", which is no disk.
# InnoDB says "Operating system error number 28" on its own line; EDQUOT ("Disk quota exceeded") fills a volume the same way.
_ENOSPC = re.compile(r"no space left on device|\[Errno 28\]|operating system error number 28\b|os errno 28\b|disk quota exceeded", re.I)
# An absolute path; not the tail of a relative one ('./binlog.000003') or of a URL.
_PATH = re.compile(r"(?<![\w:/.~-])(/[\w.@+%=,-]+(?:/[\w.@+%=,-]+)*)")
GROWTH = 2.0  # expand to twice the size: room for the growth that filled it, bounded
MAX_GIB = 1024  # never propose a claim above 1Ti


@dataclass(frozen=True)
class Full:
    state: signals.ContainerState
    line: str
    log_key: str
    path: str | None
    mount: dict[str, Any] | None
    volume: dict[str, Any] | None


def analyze(ctx: Context) -> Finding | None:
    full = _full(ctx)
    if full is None:
        return None
    state = full.state
    claim_name = str(((full.volume or {}).get("persistentVolumeClaim") or {}).get("claimName") or "") or None
    pvc = ctx.bundle.find("PersistentVolumeClaim", claim_name) if claim_name else None
    steps = [
        f"Container {state.name} of pod {state.pod_name} "
        + (f"is {state.waiting_reason or 'failing'} after {state.restarts} restart(s)" if state.crashing else "is not Ready")
        + ctx.cite(state.key, f"status:pod:{state.pod_name}"),
        f"Its log says the disk is full: '{full.line.strip()[:240]}'{ctx.cite(full.log_key)}",
    ]
    mount_text = _mount_text(full)
    if mount_text:
        steps.append(mount_text + ctx.cite(full.log_key))
    claim_key = f"config:PersistentVolumeClaim/{claim_name}"
    sc = _storage_class(ctx, pvc) if pvc is not None else None
    sc_key = f"config:StorageClass/{objects.name(sc)}" if sc is not None else ""
    if pvc is not None:
        steps.append(f"PersistentVolumeClaim {claim_name} is {_size(pvc)} ({_phase(pvc)}), StorageClass {_class_name(ctx, pvc)}{ctx.cite(claim_key)}")
        if sc is not None:
            steps.append(
                f"StorageClass {objects.name(sc)} {'allows' if sc.get('allowVolumeExpansion') else 'does not allow'} volume expansion{ctx.cite(sc_key)}"
            )
    draft = _expand(ctx, pvc, sc) if pvc is not None else None
    if draft:
        steps.append(f"Fix: {draft.summary}{ctx.cite(claim_key, sc_key)}")
    where = (
        f"PersistentVolumeClaim {claim_name} ({_size(pvc)})"
        if pvc is not None
        else f"volume {(full.volume or {}).get('name')}"
        if full.volume
        else "the container's own filesystem"
    )
    summary = (
        f"Container {state.name} of pod {state.pod_name} fails because {where}"
        + (f", mounted at {full.mount.get('mountPath')}," if full.mount else "")
        + " is full (No space left on device)."
    )
    return Finding(
        category=Category.DISK_FULL,
        confidence=0.93 if full.path and full.mount else 0.85,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(state.key, full.log_key, claim_key, sc_key, f"status:pod:{state.pod_name}"),
        fix=draft,
        manual_steps=[] if draft else _manual(ctx, full, pvc, sc),
    )


def _full(ctx: Context) -> Full | None:
    for state in signals.container_states(ctx):
        if state.running and state.ready and not state.crashing:
            continue  # a healthy container that once logged ENOSPC is not failing because of it now
        for previous, which in ((True, "previous"), (False, "current")):
            text = ctx.bundle.log(state.pod_name, state.name, previous=previous) or ""
            line = next((ln for ln in reversed(text.splitlines()) if _ENOSPC.search(ln)), None)
            if line is None:
                continue
            path = _path_in(line)
            mount = _mount_for(state.spec, path) if path else _only_claim_mount(ctx, state)
            volume = _volume(objects.pod_spec(state.pod), mount.get("name")) if mount else None
            return Full(state, line, f"log:{state.pod_name}/{state.name}:{which}", path, mount, volume)
    return None


def _path_in(line: str) -> str | None:
    paths = [p for p in _PATH.findall(line) if p != "/" and not p.startswith("//")]
    return paths[0] if paths else None


def _mount_for(container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The mount holding `path`: the longest mountPath that is the path or one of its parents."""
    best: dict[str, Any] | None = None
    for mount in container.get("volumeMounts") or []:
        root = str(mount.get("mountPath", "")).rstrip("/")
        if root and (path == root or path.startswith(root + "/")) and (best is None or len(root) > len(str(best.get("mountPath", "")).rstrip("/"))):
            best = mount
    return best


def _only_claim_mount(ctx: Context, state: signals.ContainerState) -> dict[str, Any] | None:
    spec = objects.pod_spec(state.pod)
    claimed = [m for m in state.spec.get("volumeMounts") or [] if (_volume(spec, m.get("name")) or {}).get("persistentVolumeClaim") and not m.get("readOnly")]
    return claimed[0] if len(claimed) == 1 else None


def _volume(spec: dict[str, Any], name: Any) -> dict[str, Any] | None:
    return next((v for v in spec.get("volumes") or [] if v.get("name") == name), None)


def _mount_text(full: Full) -> str:
    if full.mount is None:
        return f"Path {full.path} is on no volume of the container: it is the container's own filesystem (node disk)" if full.path else ""
    volume = full.volume or {}
    source = (
        f"PersistentVolumeClaim {volume['persistentVolumeClaim'].get('claimName')}"
        if volume.get("persistentVolumeClaim")
        else f"an emptyDir{' of at most ' + str(volume['emptyDir']['sizeLimit']) if (volume.get('emptyDir') or {}).get('sizeLimit') else ''}"
        if "emptyDir" in volume
        else "its volume source"
    )
    at = full.mount.get("mountPath")
    lead = f"{full.path} lies under mountPath {at}" if full.path else f"The log names no path; the container's only writable claim is mounted at {at}"
    return f"{lead}: volume {full.mount.get('name')}, backed by {source}"


def _size(pvc: KubeObject | None) -> str:
    if pvc is None:
        return "?"
    capacity = ((pvc.get("status") or {}).get("capacity") or {}).get("storage")
    requested = (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return str(capacity or requested or "?")


def _phase(pvc: KubeObject) -> str:
    return str((pvc.get("status") or {}).get("phase", "Unknown"))


def _class_name(ctx: Context, pvc: KubeObject) -> str:
    named = (pvc.get("spec") or {}).get("storageClassName")
    if named:
        return str(named)
    default = next((c for c in ctx.bundle.storageclasses if objects.annotations(c).get("storageclass.kubernetes.io/is-default-class") == "true"), None)
    return f"{objects.name(default)} (the default)" if default else "(default)"


def _storage_class(ctx: Context, pvc: KubeObject) -> KubeObject | None:
    named = (pvc.get("spec") or {}).get("storageClassName")
    if named:
        return ctx.bundle.find("StorageClass", str(named))
    return next((c for c in ctx.bundle.storageclasses if objects.annotations(c).get("storageclass.kubernetes.io/is-default-class") == "true"), None)


def _expand(ctx: Context, pvc: KubeObject, sc: KubeObject | None) -> FixDraft | None:
    if sc is None or not sc.get("allowVolumeExpansion") or _phase(pvc) != "Bound":
        return None
    spec = pvc.get("spec") or {}
    current = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    size = quantity.parse(current)
    if size is None or not spec.get("storageClassName"):
        return None  # guard on the class by name; a claim relying on the default class is expanded by hand
    new_gib = min(max(1, int(-(-size * GROWTH // 2**30))), MAX_GIB)
    if new_gib * 2**30 <= size:
        return None
    name = objects.name(pvc)
    new = f"{new_gib}Gi"
    return FixDraft(
        ops=[
            patching.test("/metadata/name", name),
            patching.test("/spec/storageClassName", spec["storageClassName"]),
            *patching.replace("/spec/resources/requests/storage", current, new),
        ],
        summary=f"expand PersistentVolumeClaim {name} from {current} to {new}",
        rationale=(
            f"The container fails because the volume on claim {name} is full. Its StorageClass {objects.name(sc)} allows expansion, so "
            f"raising the claim's request to {new} ({GROWTH:g}× the current size, at most {MAX_GIB}Gi) grows the volume in place, data kept; "
            "the provisioner resizes the disk and the filesystem."
        ),
        risk=Risk.MEDIUM,
        risk_notes=(
            "A claim can never shrink again, so Roll back cannot undo the expansion. Some storage drivers grow the filesystem only when "
            "the pod restarts. If the data grows without bound (logs, a runaway table), a bigger disk only buys time."
        ),
        alternatives_rejected=[
            "Deleting data by hand: needs a person who knows which data may go.",
            "Restarting the pod: the volume is just as full afterwards.",
        ],
        target=pvc,
    )


def _manual(ctx: Context, full: Full, pvc: KubeObject | None, sc: KubeObject | None) -> list[str]:
    ns = ctx.bundle.namespace
    if pvc is not None:
        name = objects.name(pvc)
        steps = [f"Free space on PersistentVolumeClaim {name} (delete or compact what fills it), or move the data to a bigger claim."]
        if sc is not None and not sc.get("allowVolumeExpansion"):
            steps.insert(
                0,
                f"StorageClass {objects.name(sc)} does not allow expansion, so claim {name} cannot grow in place: create a bigger claim, copy the "
                "data over, and point the workload at it — or have the cluster admin set allowVolumeExpansion: true if the driver supports it.",
            )
        else:
            patch = '{"spec":{"resources":{"requests":{"storage":"<bigger>"}}}}'
            steps.insert(0, f"Expand it by hand: kubectl -n {ns} patch pvc {name} -p '{patch}'.")
        return steps
    volume = full.volume or {}
    if "emptyDir" in volume:
        return [
            f"Volume {volume.get('name')} is an emptyDir on the node's disk: raise its sizeLimit or the container's ephemeral-storage, or "
            "write less (rotate logs, clean temporary files).",
        ]
    return [
        f"Container {full.state.name} fills its own filesystem at {full.path or '(unknown path)'}: mount a volume there, or make it write less.",
    ]
