"""missing_config_reference: a pod cannot start because a ConfigMap/Secret, or a key of one, is missing.

Signal: a container waiting in CreateContainerConfigError (kubelet: `configmap "x" not found`,
`couldn't find key K in Secret ns/x`), or a FailedMount event of a configMap/secret volume
(`MountVolume.SetUp failed for volume "v" : secret "x" not found`, `configmap references
non-existent config key: K`), matched to the reference in the workload's pod template.
Fix: repoint the reference — to a near-named key of the same object, to the object the previous
revision referenced (when it exists), or to another ConfigMap/Secret that holds the key. With no
such source, no patch: a human must create the object or key, and the steps say which.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, EvidenceId, KubeObject, PatchOperation, Risk

_NOT_FOUND = re.compile(r'\b(configmap|secret)s? "([^"]+)" not found', re.I)
_NO_KEY = re.compile(r"couldn't find key (\S+) in (ConfigMap|Secret) ([^/\s]+)/([^\s:]+)")
_NO_VOLUME_KEY = re.compile(r"(configmap|secret) references non-existent (?:config|secret) key: (\S+)", re.I)
_MOUNT_VOLUME = re.compile(r'MountVolume\.SetUp failed for volume "([^"]+)"')
# kubelet's watch-based object cache: the object the volume names is not known to it (often a ConfigMap
# or Secret that does not exist; also said briefly while a pod starts, so it counts only when the
# object is truly absent from a bundle that collected its kind).
_NOT_REGISTERED = re.compile(r'object "[^"]+"/"([^"]+)" not registered')
_KIND = {"configmap": "ConfigMap", "secret": "Secret"}
_NEAR = 0.85  # difflib ratio above which two names are taken as a typo of each other


@dataclass(frozen=True)
class Problem:
    """What kubelet says is missing: an object, or a key of one (volume: the volume's name)."""

    kind: str
    name: str | None
    key: str | None
    volume: str | None
    text: str
    evidence_key: str


@dataclass(frozen=True)
class Ref:
    """One reference in the workload's pod template, with the JSON pointers a fix would change."""

    kind: str
    name: str
    key: str | None
    container: str | None
    via: str
    name_path: str
    key_path: str | None
    guard_path: str  # the container's or volume's name, tested so the patch hits the same entry
    guard_value: str
    needs: tuple[str, ...] = ()  # keys a volume's items project: a replacement object must hold them

    @property
    def where(self) -> str:
        return f"container {self.container} {self.via}" if self.container else self.via

    def describe(self) -> str:
        return f"{self.kind} {self.name}" + (f" key {self.key}" if self.key else "") + f" ({self.where})"


def analyze(ctx: Context) -> Finding | None:
    problems = [p for p in _problems(ctx) if _still_missing(ctx, p)]
    if not problems:
        return None
    workload = ctx.workload
    refs = _refs(workload) if workload else []
    broken = [r for r in refs if _is_broken(ctx, r)]
    named = [r for r in broken if any(_matches(p, r) for p in problems)]
    # Every broken reference blocks the pod (kubelet reports one at a time), so all are fixed together.
    blocking = named + [r for r in broken if r not in named] if named else []
    fixes: list[tuple[Ref, list[PatchOperation], str, Risk]] = []
    manual: list[str] = []
    for ref in blocking:
        found = _repoint(ctx, ref)
        if found is None:
            step = _manual_step(ctx, ref)
            if step not in manual:
                manual.append(step)
        else:
            fixes.append((ref, *found))
    draft = _draft(ctx, fixes) if fixes and not manual else None
    if manual and fixes:
        manual += [f"Then also {how} (AEGIS found that source)." for _, _, how, _ in fixes]
    if not blocking:
        manual = [
            f"Create the {p.kind}{' ' + p.name if p.name else ''}"
            + (f" with key {p.key}" if p.key else "")
            + f" in namespace {ctx.bundle.namespace}, or correct the reference to it in the pod template."
            for p in problems[:2]
        ]
    return _finding(ctx, problems, blocking, draft, manual)


# --- signals -------------------------------------------------------------------------------------


def _problems(ctx: Context) -> list[Problem]:
    texts: list[tuple[str, str]] = []
    for state in signals.container_states(ctx):
        if state.waiting_reason in ("CreateContainerConfigError", "CreateContainerError") and state.waiting_message:
            texts.append((state.waiting_message, state.key))
    for event in ctx.bundle.events:
        if event.get("type") == "Warning" and event.get("reason") in ("Failed", "FailedMount"):
            texts.append((str(event.get("message", "")), f"event:{event.get('reason')}"))
    found: list[Problem] = []
    for text, key in texts:
        for parsed in _parse(text, key):
            problem = _registered(ctx, parsed) if parsed.kind == "?" else parsed
            if problem is None:
                continue
            if not any((p.kind, p.name, p.key, p.volume) == (problem.kind, problem.name, problem.key, problem.volume) for p in found):
                found.append(problem)
    return found


def _parse(text: str, evidence_key: str) -> list[Problem]:
    volume_match = _MOUNT_VOLUME.search(text)
    volume = volume_match.group(1) if volume_match else None
    problems: list[Problem] = []
    for m in _NO_KEY.finditer(text):
        problems.append(Problem(m.group(2), m.group(4), m.group(1), volume, text, evidence_key))
    for m in _NOT_FOUND.finditer(text):
        problems.append(Problem(_KIND[m.group(1).lower()], m.group(2), None, volume, text, evidence_key))
    for m in _NO_VOLUME_KEY.finditer(text):
        problems.append(Problem(_KIND[m.group(1).lower()], None, m.group(2), volume, text, evidence_key))
    if volume:
        for m in _NOT_REGISTERED.finditer(text):
            problems.append(Problem("?", m.group(1), None, volume, text, evidence_key))
    return problems


def _registered(ctx: Context, problem: Problem) -> Problem | None:
    """A 'not registered' problem with its kind read from the volume that names the object, if that object is absent."""
    spec = objects.pod_spec(ctx.pod) if ctx.pod is not None else {}
    for volume in spec.get("volumes") or []:
        if volume.get("name") != problem.volume:
            continue
        sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            for field, kind, name_field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName"), ("secret", "Secret", "name")):
                ref = source.get(field) or {}
                if ref.get(name_field) == problem.name and not ref.get("optional"):
                    if ctx.bundle.knows(kind) and ctx.bundle.find(kind, str(problem.name)) is None:
                        return Problem(kind, problem.name, None, problem.volume, problem.text, problem.evidence_key)
                    return None
    return None


def _still_missing(ctx: Context, problem: Problem) -> bool:
    """False for a stale message: the object (and key) it names exists now, so it no longer blocks the pod."""
    if problem.name is None or not ctx.bundle.knows(problem.kind):
        return True
    obj = ctx.bundle.find(problem.kind, problem.name)
    return obj is None or (problem.key is not None and problem.key not in objects.data_keys(obj))


def _matches(problem: Problem, ref: Ref) -> bool:
    if problem.kind != ref.kind:
        return False
    if problem.volume and (ref.container is not None or ref.via != f"volume {problem.volume}"):
        return False
    if problem.name is not None and problem.name != ref.name:
        return False
    return problem.key is None or problem.key == ref.key


# --- references in the pod template -------------------------------------------------------------


def _refs(workload: KubeObject) -> list[Ref]:
    spec = objects.pod_spec(workload)
    refs: list[Ref] = []
    for init in (True, False):
        for index, container in enumerate(objects.containers(spec, init=init)):
            base = patching.container_path(workload, index, init=init)
            cname = str(container.get("name"))
            guard = (f"{base}/name", cname)
            for i, env in enumerate(container.get("env") or []):
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    key_ref = (env.get("valueFrom") or {}).get(field)
                    if key_ref and not key_ref.get("optional"):
                        path = f"{base}/env/{i}/valueFrom/{field}"
                        key = str(key_ref.get("key", ""))
                        refs.append(
                            Ref(
                                kind,
                                str(key_ref.get("name", "")),
                                key,
                                cname,
                                f"env {env.get('name')}",
                                f"{path}/name",
                                f"{path}/key",
                                f"{base}/env/{i}/name",
                                str(env.get("name")),
                                (key,),
                            )
                        )
            for i, source in enumerate(container.get("envFrom") or []):
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    from_ref = source.get(field)
                    if from_ref and not from_ref.get("optional"):
                        refs.append(Ref(kind, str(from_ref.get("name", "")), None, cname, "envFrom", f"{base}/envFrom/{i}/{field}/name", None, *guard))
    volumes_path = f"{objects.pod_template_path(str(workload.get('kind')))}/volumes"
    for v, volume in enumerate(spec.get("volumes") or []):
        vname = str(volume.get("name"))
        sources: list[tuple[str, str, dict[str, object], str]] = []
        if volume.get("configMap"):
            sources.append(("ConfigMap", "name", volume["configMap"], f"{volumes_path}/{v}/configMap"))
        if volume.get("secret"):
            sources.append(("Secret", "secretName", volume["secret"], f"{volumes_path}/{v}/secret"))
        for s, source in enumerate((volume.get("projected") or {}).get("sources") or []):
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if source.get(field):
                    sources.append((kind, "name", source[field], f"{volumes_path}/{v}/projected/sources/{s}/{field}"))
        for kind, name_field, body, path in sources:
            if body.get("optional"):
                continue
            name = str(body.get(name_field, ""))
            guard_args = (f"{volumes_path}/{v}/name", vname)
            items = body.get("items")
            keys = [str(item.get("key")) for item in (items if isinstance(items, list) else [])]
            refs.append(Ref(kind, name, None, None, f"volume {vname}", f"{path}/{name_field}", None, *guard_args, tuple(keys)))
            for m, key in enumerate(keys):
                refs.append(Ref(kind, name, key, None, f"volume {vname}", f"{path}/{name_field}", f"{path}/items/{m}/key", *guard_args, (key,)))
    return refs


def _is_broken(ctx: Context, ref: Ref) -> bool:
    """The object is missing, or (for a key reference) it lacks the key. A volume item whose whole
    object is missing is counted once, on the volume's reference."""
    if not ctx.bundle.knows(ref.kind):
        return False
    obj = ctx.bundle.find(ref.kind, ref.name)
    if obj is None:
        return ref.container is not None or ref.key is None
    return ref.key is not None and ref.key not in objects.data_keys(obj)


def _holds(ctx: Context, kind: str, name: str, keys: tuple[str, ...]) -> bool:
    obj = ctx.bundle.find(kind, name)
    return obj is not None and set(keys) <= objects.data_keys(obj)


# --- repointing ------------------------------------------------------------------------------------


def _repoint(ctx: Context, ref: Ref) -> tuple[list[PatchOperation], str, Risk] | None:
    """(ops, what they do, risk) that point `ref` at something that exists, or None."""
    guard = [patching.test(ref.guard_path, ref.guard_value)]
    obj = ctx.bundle.find(ref.kind, ref.name)
    if obj is not None and ref.key is not None and ref.key_path:
        near = _near(ref.key, objects.data_keys(obj))
        if near:
            return (
                guard + patching.replace(ref.key_path, ref.key, near),
                f"point {ref.where} at key {near} of {ref.kind} {ref.name} (the key it asks for, as the {ref.kind} spells it)",
                Risk.LOW,
            )
    previous = _previous_ref(ctx, ref)
    if previous is not None:
        ops = list(guard)
        if previous.name != ref.name:
            ops += patching.replace(ref.name_path, ref.name, previous.name)
        if previous.key != ref.key and ref.key_path and previous.key:
            ops += patching.replace(ref.key_path, ref.key, previous.key)
        if len(ops) > 1:
            return (
                ops,
                f"point {ref.where} back at {previous.kind} {previous.name}"
                + (f" key {previous.key}" if previous.key else "")
                + ", as the previous revision did",
                Risk.LOW,
            )
    others = [objects.name(o) for o in _pool(ctx, ref.kind) if objects.name(o) != ref.name]
    if ref.key is not None and (obj is None or ref.container is not None):
        holders = [n for n in others if _holds(ctx, ref.kind, n, ref.needs)]
        if len(holders) == 1:
            return (
                guard + patching.replace(ref.name_path, ref.name, holders[0]),
                f"point {ref.where} at {ref.kind} {holders[0]}, the only {ref.kind} holding key {ref.key}",
                Risk.MEDIUM,
            )
    if obj is None and ref.key is None:
        near = _near(ref.name, {n for n in others if _holds(ctx, ref.kind, n, ref.needs)})
        if near:
            return (
                guard + patching.replace(ref.name_path, ref.name, near),
                f"point {ref.where} at {ref.kind} {near}, the existing {ref.kind} with a near-identical name",
                Risk.MEDIUM,
            )
    return None


def _near(wanted: str, candidates: set[str]) -> str | None:
    """The one candidate that is a typo or spelling variant of `wanted` (case, '-', '_', '.')."""
    norm = _normalize(wanted)
    same = [c for c in candidates if _normalize(c) == norm and c != wanted]
    if len(same) == 1:
        return same[0]
    scored = sorted(((difflib.SequenceMatcher(None, norm, _normalize(c)).ratio(), c) for c in candidates if c != wanted), reverse=True)
    if scored and scored[0][0] >= _NEAR and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return scored[0][1]
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]", "_", name.lower())


def _pool(ctx: Context, kind: str) -> list[KubeObject]:
    return ctx.bundle.configmaps if kind == "ConfigMap" else ctx.bundle.secrets


def _previous_ref(ctx: Context, ref: Ref) -> Ref | None:
    """The same reference in the previous revision (same container and env name, envFrom slot, or
    volume and item), when it resolves to an object that exists and holds what is needed."""
    _, previous = template_pair(ctx.bundle)
    if not previous:
        return None
    kind = str((ctx.workload or {}).get("kind"))
    owner: KubeObject = {"kind": "Pod", "spec": previous.get("spec") or {}} if kind == "Pod" else {"kind": kind, "spec": {"template": previous}}
    for old in _refs(owner):
        if (old.container, old.via, old.kind) != (ref.container, ref.via, ref.kind) or (old.key is None) != (ref.key is None):
            continue
        if ref.via == "envFrom" and old.name_path != ref.name_path:
            continue
        if ref.container is None and old.key != ref.key:
            continue
        if _holds(ctx, old.kind, old.name, old.needs):
            return old
    return None


# --- the finding -----------------------------------------------------------------------------------


def _draft(ctx: Context, fixes: list[tuple[Ref, list[PatchOperation], str, Risk]]) -> FixDraft:
    ops: list[PatchOperation] = []
    for _, ref_ops, _, _ in fixes:
        ops += [op for op in ref_ops if op not in ops]
    risk = Risk.MEDIUM if any(r is Risk.MEDIUM for *_, r in fixes) else Risk.LOW
    what = "; ".join(how for _, _, how, _ in fixes)
    return FixDraft(
        ops=ops,
        summary=what,
        rationale=(
            "Kubelet will not create the container while the reference points at something that does not exist. "
            "The fix changes only the reference, to an object and key that exist in the namespace now, so no value "
            "is copied into the workload and nothing else in the pod template moves."
        ),
        risk=risk,
        risk_notes=(
            "Rolling restart of the workload's pods. "
            + (
                "The new source was matched by name or key, not confirmed by a person: check it holds the intended value."
                if risk is Risk.MEDIUM
                else "The new source is a spelling variant or the previous revision's known-good reference."
            )
        ),
        alternatives_rejected=[
            "Creating the missing ConfigMap/Secret: AEGIS does not invent configuration values or credentials.",
            "Marking the reference optional: the container would start without the value and fail later, less visibly.",
            "Rolling back the whole workload: reverts unrelated changes too; repointing the one reference is narrower.",
        ],
    )


def _manual_step(ctx: Context, ref: Ref) -> str:
    obj = ctx.bundle.find(ref.kind, ref.name)
    if obj is None:
        need = f"Create {ref.kind} {ref.name} in namespace {ctx.bundle.namespace}"
        keys = sorted({r.key for r in _refs(ctx.workload or {}) if r.kind == ref.kind and r.name == ref.name and r.key})
        need += f" with key{'s' if len(keys) > 1 else ''} {', '.join(keys)}" if keys else ""
    else:
        need = f"Add key {ref.key} to {ref.kind} {ref.name} in namespace {ctx.bundle.namespace}"
    users = sorted({r.where for r in _refs(ctx.workload or {}) if (r.kind, r.name) == (ref.kind, ref.name) and (obj is None or r.key == ref.key)})
    return (
        f"{need} (referenced by {', '.join(users)}): no existing object or earlier revision provides it, so a person who "
        "knows the value must create it; the pod then starts on its own, or re-run the analysis to repoint the reference."
    )


def _finding(ctx: Context, problems: list[Problem], refs: list[Ref], draft: FixDraft | None, manual: list[str]) -> Finding:
    first = problems[0]
    where = "mount a volume" if first.evidence_key == "event:FailedMount" else "create its container"
    pod = objects.name(ctx.pod) if ctx.pod else "of the workload"
    message = first.text.strip().splitlines()[0][:200]
    steps = [f'Pod {pod} cannot {where}: kubelet reports "{message}"{ctx.cite(first.evidence_key)}']
    config_keys: list[str] = []
    for ref in refs or []:
        key = f"config:{ref.kind}/{ref.name}"
        obj = ctx.bundle.find(ref.kind, ref.name)
        if obj is None and key in config_keys:
            continue
        config_keys.append(key)
        if obj is None:
            users = ", ".join(r.where for r in refs if (r.kind, r.name) == (ref.kind, ref.name))
            steps.append(f"Looked up {ref.kind} {ref.name}, referenced by {users} — it does not exist in namespace {ctx.bundle.namespace}{ctx.cite(key)}")
        else:
            keys = ", ".join(sorted(objects.data_keys(obj))) or "(none)"
            steps.append(f"Looked up {ref.kind} {ref.name} — it exists but has no key {ref.key} (its keys: {keys}){ctx.cite(key)}")
    if not refs:
        steps.append("Looked for the reference in the workload's pod template — not found there (the template may have changed since)")
    if ctx.evidence.id("change:rollout") and any(_previous_ref(ctx, r) for r in refs):
        steps.append(f"The previous revision referenced an object that exists; the last rollout changed the reference{ctx.cite('change:rollout')}")
    steps.append(
        (f"Fix: {draft.summary}" if draft else "No existing ConfigMap/Secret or earlier revision supplies it — no safe patch")
        + ctx.cite(*config_keys, "change:rollout", first.evidence_key)
    )
    subject = (
        "; ".join(dict.fromkeys(f"{r.kind} {r.name}" + (f" has no key {r.key}" if ctx.bundle.find(r.kind, r.name) else " does not exist") for r in refs[:4]))
        or f"{first.kind} {first.name or ''} {('key ' + first.key) if first.key else ''}".strip() + " is missing"
    )
    summary = f"The pod cannot start because a configuration reference is broken: {subject}."
    ids: list[EvidenceId] = ctx.evidence.ids(*dict.fromkeys([p.evidence_key for p in problems] + config_keys + ["change:rollout"]))
    confidence = 0.95 if refs else 0.85
    return Finding(Category.MISSING_CONFIG_REFERENCE, confidence, summary, steps, ids, draft, [] if draft else manual)
