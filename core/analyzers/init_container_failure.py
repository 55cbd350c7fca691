"""init_container_failure: an init container keeps failing, so the pod never starts (Init:CrashLoopBackOff / Init:Error).

Signal: an init container terminated with a non-zero exit (not OOMKilled), restarting or left in
Error, while the app containers wait in PodInitializing. The fix follows the init container's own
cause: a variable its log names as missing is added (from a ConfigMap/Secret key of that name, or
as the previous revision defined it); a command the runtime cannot run, or an init container the
last rollout changed, is restored to the previous revision's image/command/args/env. Otherwise no
patch: the steps say what the init container reported and what a human must check.
"""

from __future__ import annotations

import re
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.bad_command import detect as command_failure
from aegis.core.analyzers.bad_command import previous_container, restore_fields
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.missing_env_var import missing_vars
from aegis.core.analyzers.signals import ContainerState
from aegis.core.fixes import patching
from aegis.core.models import Category, Risk
from aegis.core.redaction import MARKER

# Shell phrasings for an unset variable under `set -u` / `${VAR:?}` (bash, dash, busybox).
_SHELL_UNSET = re.compile(r"\b([A-Z][A-Z0-9_]{1,63}): (?:unbound variable|parameter null or not set|parameter not set)")
_INIT_FIELDS = ("image", "command", "args", "env", "envFrom")
_ERROR_WORDS = ("error", "fatal", "panic", "exception", "failed", "refused", "denied", "not found", "cannot", "unable", "timeout", "timed out")


def _failing(state: ContainerState) -> bool:
    term = state.last_terminated
    return bool(term) and term.get("exitCode") not in (0, None) and term.get("reason") != "OOMKilled" and (state.restarts > 0 or not state.running)


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=True):
        if _failing(state):
            return _finding(ctx, state)
    return None


def _missing_var(ctx: Context, state: ContainerState, text: str) -> str | None:
    said = missing_vars(text) + [m.group(1) for m in _SHELL_UNSET.finditer(text)]
    defined = signals.env_names(state.spec) | signals.env_from_keys(ctx, state.spec)
    return next((v for v in said if v not in defined), None)


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if any(w in line.lower() for w in _ERROR_WORDS)]
    return (errors or lines or [""])[-1][:200]


def _finding(ctx: Context, state: ContainerState) -> Finding:
    term = state.last_terminated
    text, log_key = signals.log_text(ctx, state)
    text_all = text + "\n" + str(term.get("message") or "")
    pod_status = (state.pod.get("status") or {}).get("phase", "Pending")
    steps = [
        f"Init container {state.name} of pod {state.pod_name} is {state.waiting_reason or 'terminated'} with {state.restarts} restarts; "
        f"it last exited with code {term.get('exitCode')} ({term.get('reason')}), so pod {state.pod_name} stays {pod_status} and its "
        f"app containers never start{ctx.cite(state.key, 'status:pod:' + state.pod_name, 'event:BackOff')}",
    ]
    cite_keys = [state.key, f"status:pod:{state.pod_name}", "event:BackOff", log_key or state.key, "change:rollout"]
    previous = previous_container(ctx, state.name, init=True)
    draft: FixDraft | None = None
    manual: list[str] = []
    cause: str
    confidence = 0.8
    var = _missing_var(ctx, state, text_all)
    failure = command_failure(ctx, state)
    if var:
        cause = f"the environment variable {var} is not set on init container {state.name}"
        steps.append(f"Its log says {var} is missing{ctx.cite(log_key or state.key)}")
        steps.append(f"Init container {state.name} defines no env var {var}, directly or through envFrom{ctx.cite(state.key)}")
        draft, manual = _env_fix(ctx, state, var, previous)
        confidence = 0.9
    elif failure:
        cause = f"init container {state.name} cannot run {failure.executable} ({failure.problem.split(' (')[0]})"
        steps.append(f"The runtime could not run {failure.executable}: {failure.problem}{ctx.cite(failure.evidence_key)}")
        draft, manual = _restore_fix(ctx, state, previous, ("command", "args"), "command")
        confidence = 0.9
    else:
        error = _last_error(text_all)
        cause = f"init container {state.name} exits with code {term.get('exitCode')}" + (f': "{error}"' if error else "")
        if error:
            steps.append(f'Its last error: "{error}"{ctx.cite(log_key or state.key)}')
        changed = [f for f in _INIT_FIELDS if previous is not None and previous.get(f) != state.spec.get(f)]
        if changed and ctx.evidence.id("change:rollout"):
            steps.append(f"The last rollout changed init container {state.name}'s {', '.join(changed)}{ctx.cite('change:rollout')}")
            draft, manual = _restore_fix(ctx, state, previous, tuple(changed), "/".join(changed))
            confidence = 0.85
        else:
            manual = [
                f"Read init container {state.name}'s log (`kubectl logs {state.pod_name} -c {state.name} --previous`) and fix what "
                "it reports: the dependency it waits for or the job it runs fails, and its spec did not change in the last rollout.",
                "Once the init container exits 0 the pod starts on its own; escalate to the owning team if the dependency is theirs.",
            ]
    steps.append(ctx.cited(f"Fix: {draft.summary}" if draft else "No known-good value or definition to restore — no safe patch", "change:rollout", state.key))
    return Finding(
        category=Category.INIT_CONTAINER_FAILURE,
        confidence=confidence,
        summary=f"Pod {state.pod_name} never starts because {cause}.",
        steps=steps,
        evidence_ids=ctx.evidence.ids(*dict.fromkeys(cite_keys)),
        fix=draft,
        manual_steps=manual,
    )


def _env_fix(ctx: Context, state: ContainerState, var: str, previous: dict[str, Any] | None) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=True)
    manual = [
        f"Provide {var} to init container {state.name}: {signals.no_key_source(ctx, var)}, "
        "and the previous revision did not define it for this init container.",
        f"Create one (e.g. a Secret with key {var}), reference it from init container {state.name} with valueFrom, and re-run the analysis.",
    ]
    if workload is None or index is None:
        return None, manual
    entry: dict[str, Any] | None = None
    how = ""
    for kind, pool, field in (("Secret", ctx.bundle.secrets, "secretKeyRef"), ("ConfigMap", ctx.bundle.configmaps, "configMapKeyRef")):
        holder = next((objects.name(o) for o in pool if var in objects.data_keys(o)), None)
        if holder:
            entry = {"name": var, "valueFrom": {field: {"name": holder, "key": var}}}
            how = f"from {kind} {holder} key {var}, which already holds it"
            break
    if entry is None and previous is not None:
        old = next((e for e in previous.get("env") or [] if e.get("name") == var), None)
        if old is not None and MARKER not in repr(old):
            entry, how = old, "as the previous revision defined it"
    if entry is None:
        return None, manual
    return FixDraft(
        ops=patching.add_env(workload, index, True, entry),
        summary=f"add env {var} to init container {state.name}, {how}",
        rationale=(
            f"Init container {state.name} exits because {var} is unset, and the pod cannot start until it succeeds. "
            f"Adding the one variable {how} supplies the value without copying it into the workload."
        ),
        risk=Risk.LOW,
        risk_notes=(
            "Rolling restart of the workload's pods; reversible by removing the variable. "
            "The init container's job (e.g. a migration) runs when the pods restart."
        ),
        alternatives_rejected=[
            "Removing the init container: skips work the app depends on (migrations, config rendering).",
            "Restarting the pod: the variable would still be missing.",
        ],
    ), []


def _restore_fix(ctx: Context, state: ContainerState, previous: dict[str, Any] | None, fields: tuple[str, ...], what: str) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=True)
    manual = [
        f"Correct init container {state.name} ({what}): the previous revision ran the same {what}, so there is no known-good value to restore.",
        f"Check its log (`kubectl logs {state.pod_name} -c {state.name} --previous`) and the image it runs.",
    ]
    if workload is None or index is None or previous is None:
        return None, manual
    ops = restore_fields(workload, index, True, previous, fields)
    if not ops:
        return None, manual
    return FixDraft(
        ops=ops,
        summary=f"restore init container {state.name}'s {what} to the previous revision's",
        rationale=(
            f"Init container {state.name} fails since the last rollout changed its {what}; the previous revision's pods initialized "
            "with the old values. Restoring only this init container leaves the app containers' rollout in place."
        ),
        risk=Risk.MEDIUM if "image" in fields else Risk.LOW,
        risk_notes=(
            "Rolling restart of the workload's pods. The init container runs its previous version; "
            "if the app now depends on what the new one prepares, the app may still fail."
        ),
        alternatives_rejected=[
            "Removing the init container: skips work the app depends on.",
            "Rolling back the whole workload: reverts the app containers too, which are not what fails.",
        ],
    ), []
