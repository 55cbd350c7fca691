"""app_error_after_rollout: the application crashes (exit code != 0) since the last rollout.

Signal: an app container of a pod of the newest revision crash-loops with a plain application
exit (not OOMKilled, not a start failure, not a signal from a probe kill), the rollout changed
that pod template's containers, and the previous revision was healthy (its ReplicaSet or pods were
ready). More specific classes (a missing variable, a bad command) score higher and win.
Fix: roll the container fields the rollout changed (image, command, env, …) back to the last
healthy revision's values, each guarded by a test of its current value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk
from aegis.core.redaction import MARKER

# Exits that belong to other classes: start failures (126-128), OOM or liveness kills (137, 143).
_NOT_APP_EXITS = (0, 126, 127, 128, 137, 143)
_NOT_APP_REASONS = ("OOMKilled", "StartError", "ContainerCannotRun")
ROLLBACK_FIELDS = (
    "image", "command", "args", "workingDir", "env", "envFrom", "ports", "resources", "volumeMounts",
    "livenessProbe", "readinessProbe", "startupProbe",
)  # fmt: skip
_ERROR_WORDS = ("error", "exception", "panic", "fatal", "traceback", "caused by", "failed")


@dataclass(frozen=True)
class Revisions:
    """The newest revision's pod template and the one before it, with what we know of their health."""

    current: dict[str, Any]
    previous: dict[str, Any]
    current_hash: str
    previous_hash: str
    current_number: int
    previous_number: int
    previous_healthy: bool | None  # None: scaled away, health unknown


def revisions(ctx: Context) -> Revisions | None:
    """Current and previous pod templates of a Deployment (ReplicaSets) or StatefulSet/DaemonSet (ControllerRevisions)."""
    bundle = ctx.bundle
    if bundle.replicasets and len(bundle.replicasets) >= 2:
        cur, prev = max(bundle.replicasets, key=objects.revision), bundle.baseline(bundle.replicasets)
        assert prev is not None
        cur_t, prev_t = (cur.get("spec") or {}).get("template") or {}, (prev.get("spec") or {}).get("template") or {}
        cur_h = objects.labels(cur).get("pod-template-hash", objects.name(cur))
        prev_h = objects.labels(prev).get("pod-template-hash", objects.name(prev))
        status = prev.get("status") or {}
        counted = int(status.get("readyReplicas") or 0) + int(status.get("availableReplicas") or 0)
        return Revisions(
            cur_t,
            prev_t,
            cur_h,
            prev_h,
            objects.revision(cur),
            objects.revision(prev),
            _health(ctx, "pod-template-hash", prev_h, counted, int(status.get("replicas") or 0)),
        )
    if len(bundle.revisions) >= 2:
        cur, prev = max(bundle.revisions, key=objects.revision), bundle.baseline(bundle.revisions)
        assert prev is not None
        status = (ctx.workload or {}).get("status") or {}
        counted = 0
        if status.get("currentRevision") == objects.name(prev):  # StatefulSet: pods still on the old revision
            counted = min(int(status.get("currentReplicas") or 0), int(status.get("readyReplicas") or 0))
        return Revisions(
            _template(cur),
            _template(prev),
            objects.name(cur),
            objects.name(prev),
            objects.revision(cur),
            objects.revision(prev),
            _health(ctx, "controller-revision-hash", objects.name(prev), counted, 0),
        )
    return None


def _template(rev: KubeObject) -> dict[str, Any]:
    template: dict[str, Any] = ((rev.get("data") or {}).get("spec") or {}).get("template") or {}
    return template


def _health(ctx: Context, label: str, value: str, ready_count: int, replicas: int) -> bool | None:
    """True: the revision had ready pods; False: its pods exist and none is ready; None: no trace left."""
    pods = [p for p in ctx.bundle.pods if same_revision(objects.labels(p).get(label), value)]
    if ready_count > 0 or any((objects.condition(p, "Ready") or {}).get("status") == "True" for p in pods):
        return True
    if pods or replicas > 0:
        return False
    return None


def changed_fields(previous: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(container, is_init, field) the rollout changed, for containers present in both templates."""
    changes: list[tuple[str, bool, str]] = []
    for init in (False, True):
        before = {c.get("name"): c for c in objects.containers(previous.get("spec") or {}, init=init)}
        for container in objects.containers(current.get("spec") or {}, init=init):
            old = before.get(container.get("name"))
            if old is None:
                continue
            changes += [(str(container.get("name")), init, f) for f in ROLLBACK_FIELDS if old.get(f) != container.get(f)]
    return changes


def rollback_ops(ctx: Context, previous: dict[str, Any], changes: list[tuple[str, bool, str]]) -> tuple[list[PatchOperation], list[str]]:
    """Guarded ops setting each changed field of the workload back to the previous template's value,
    and the fields skipped (redacted values can be neither guarded nor written back)."""
    workload = ctx.workload
    ops: list[PatchOperation] = []
    skipped: list[str] = []
    if workload is None:
        return ops, [f"{c} {f}" for c, _, f in changes]
    prev_spec = previous.get("spec") or {}
    guarded: set[str] = set()
    for name, init, field in changes:
        index = signals.workload_container_index(ctx, name, init=init)
        old_index = objects.container_index(prev_spec, name, init=init)
        if index is None or old_index is None:
            skipped.append(f"{name} {field}")
            continue
        now = objects.containers(objects.pod_spec(workload), init=init)[index].get(field)
        then = objects.containers(prev_spec, init=init)[old_index].get(field)
        if now == then:
            continue
        if MARKER in repr(now) or MARKER in repr(then):
            skipped.append(f"{name} {field}")
            continue
        base = patching.container_path(workload, index, init=init)
        if base not in guarded:
            ops.append(patching.test(f"{base}/name", name))
            guarded.add(base)
        if then is None:
            ops += [patching.test(f"{base}/{field}", now), PatchOperation(op="remove", path=f"{base}/{field}")]
        else:
            ops += patching.set_field(f"{base}/{field}", now, then)
    return ops, skipped


def _crashing_app(state: ContainerState) -> bool:
    term = state.last_terminated
    return state.crashing and term.get("exitCode") not in _NOT_APP_EXITS and term.get("reason") not in _NOT_APP_REASONS


def same_revision(label: str | None, revision: str) -> bool:
    """A pod's pod-template-hash / controller-revision-hash label names this revision (DaemonSet pods carry
    only the hash suffix of the ControllerRevision's name)."""
    return bool(label) and (label == revision or revision.endswith(f"-{label}"))


def _pod_revision(pod: KubeObject) -> str | None:
    labels = objects.labels(pod)
    return labels.get("pod-template-hash") or labels.get("controller-revision-hash")


def analyze(ctx: Context) -> Finding | None:
    pod = ctx.pod
    revs = revisions(ctx)
    if pod is None or revs is None or not same_revision(_pod_revision(pod), revs.current_hash) or revs.previous_healthy is False:
        return None
    changes = changed_fields(revs.previous, revs.current)
    if not changes:
        return None  # a restart-only rollout (annotations) cannot have broken the app
    for state in signals.container_states(ctx, init=False):
        if _crashing_app(state):
            return _finding(ctx, state, revs, changes)
    return None


def _describe(revs: Revisions, changes: list[tuple[str, bool, str]]) -> str:
    prev_spec, cur_spec = revs.previous.get("spec") or {}, revs.current.get("spec") or {}
    parts = []
    for name, init, field in changes:
        if field == "image":
            old = objects.containers(prev_spec, init=init)[objects.container_index(prev_spec, name, init=init) or 0].get("image")
            new = objects.containers(cur_spec, init=init)[objects.container_index(cur_spec, name, init=init) or 0].get("image")
            parts.append(f"{name} image {old} → {new}")
        elif field == "env":
            before = {e.get("name"): e for e in _container(prev_spec, name, init).get("env") or []}
            after = {e.get("name"): e for e in _container(cur_spec, name, init).get("env") or []}
            names = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
            parts.append(f"{name} env {', '.join(str(n) for n in names)}")
        else:
            parts.append(f"{name} {field}")
    return ", ".join(parts)


def _container(spec: dict[str, Any], name: str, init: bool) -> dict[str, Any]:
    index = objects.container_index(spec, name, init=init)
    return {} if index is None else objects.containers(spec, init=init)[index]


def _error_line(text: str) -> str:
    """The last line that reads like an error (joined with its continuation when it ends with ':')."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if any(w in lines[i].lower() for w in _ERROR_WORDS):
            line = lines[i] + (" " + lines[i + 1] if lines[i].endswith(":") and i + 1 < len(lines) else "")
            return line[:240]
    return lines[-1][:240] if lines else ""


def _finding(ctx: Context, state: ContainerState, revs: Revisions, changes: list[tuple[str, bool, str]]) -> Finding:
    term = state.last_terminated
    text, log_key = signals.log_text(ctx, state)
    error = _error_line(text + "\n" + str(term.get("message") or ""))
    what = _describe(revs, changes)
    health = {True: "had ready pods", None: "has been scaled away (its health is not recorded)"}[revs.previous_healthy]
    steps = [
        f"Container {state.name} of pod {state.pod_name} is {state.waiting_reason or 'failing'} with {state.restarts} restarts; "
        f"it last exited with code {term.get('exitCode')} ({term.get('reason')}){ctx.cite(state.key, 'event:BackOff')}",
        f"Pod {state.pod_name} belongs to the newest revision {revs.current_number}{ctx.cite('status:pod:' + state.pod_name)}",
        f"The rollout from revision {revs.previous_number} changed: {what}; revision {revs.previous_number} {health}"
        f"{ctx.cite('change:rollout', 'status:workload')}",
    ]
    if error:
        steps.append(f'The application\'s last words: "{error}"{ctx.cite(log_key or state.key)}')
    steps.append(
        f"No more specific cause (missing variable or config, bad command, OOM, probe kill) matches the evidence{ctx.cite(state.key, log_key or state.key)}"
    )
    ops, skipped = rollback_ops(ctx, revs.previous, changes)
    draft = None
    manual: list[str] = []
    if ops:
        draft = FixDraft(
            ops=ops,
            summary=f"roll back the pod template fields the rollout changed to revision {revs.previous_number}: {what}",
            rationale=(
                f"The crash began with revision {revs.current_number}, and revision {revs.previous_number} ran healthily with the "
                "previous values. Rolling back only the fields that changed returns to known-good behaviour while the "
                "application error is investigated; each value is guarded so the patch applies only to the template as diagnosed."
            ),
            risk=Risk.MEDIUM,
            risk_notes=(
                "Reverts the new release: its features and fixes are gone until it is repaired. If the new version already "
                "migrated data or schemas, check the old version can still read them."
                + (f" Not rolled back (redacted or not comparable): {', '.join(skipped)}." if skipped else "")
            ),
            alternatives_rejected=[
                "Restarting the pods: the new version crashes the same way on every start.",
                "Raising resources or probe timeouts: the container exits on its own with an application error, it is not killed.",
                "Pausing the rollout: leaves the crashing pods in place and capacity reduced.",
            ],
        )
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout', 'status:workload')}")
    else:
        manual = [
            f"Roll back to revision {revs.previous_number} (`kubectl rollout undo {str((ctx.workload or {}).get('kind', '')).lower()}/"
            f"{objects.name(ctx.workload or {})} --to-revision={revs.previous_number}`): the changed fields hold values AEGIS "
            "cannot read back (redacted), so it proposes no patch.",
            "Then hand the application error above to the owning team.",
        ]
    return Finding(
        category=Category.APP_ERROR_AFTER_ROLLOUT,
        confidence=0.8 if revs.previous_healthy else 0.65,
        summary=(
            f"Container {state.name} crashes (exit {term.get('exitCode')}) since the rollout to revision {revs.current_number} "
            f"({what}); revision {revs.previous_number} was healthy."
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(
            *dict.fromkeys([state.key, "event:BackOff", f"status:pod:{state.pod_name}", "change:rollout", "status:workload", log_key or state.key])
        ),
        fix=draft,
        manual_steps=manual,
    )
