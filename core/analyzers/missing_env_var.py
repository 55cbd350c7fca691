"""missing_env_var: an app container crashes because an environment variable it needs is not set.

Signal: a crashing container whose log names a variable as missing (in the phrasings of common
runtimes and config libraries), and that variable is not defined by the container's env or
envFrom. Fix: add it from a ConfigMap/Secret key of the same name in the namespace, else restore
the previous revision's definition; with no source, no patch — a human must provide the value.
"""

from __future__ import annotations

import re
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence import netlog
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, Risk
from aegis.core.redaction import MARKER

_VAR = r"[A-Z][A-Z0-9_]{1,63}"
# Phrasings from shells, Python, Go (envconfig, viper), Node, Java/Spring, Rust, Ruby.
_PATTERNS = [
    re.compile(
        rf"(?:environment variable|env var(?:iable)?|env)\s*[:\"'`]?\s*({_VAR})[\"'`]?\s*(?:is\s+)?"
        r"(?:not set|not defined|unset|missing|required|undefined|must be set|is empty|empty|not found)",
        re.I,
    ),
    re.compile(
        r"(?:missing|required|undefined|unset)\s+(?:required\s+)?(?:environment variable|env var(?:iable)?|env|config(?:uration)? (?:key|value))s?"
        rf"\s*[:\"'`]?\s*({_VAR})",
        re.I,
    ),
    re.compile(rf"\b({_VAR})\s+(?:environment variable\s+)?(?:is\s+)?(?:not set|must be set|is required|is undefined|not defined)", re.I),
    re.compile(rf"\b({_VAR})\s+(?:environment variable|env var)\s+(?:is\s+)?(?:empty|null|missing|not found|not provided)", re.I),
    # `throw new Error("Missing DATABASE_URL")`, `ValueError: Missing DATABASE_URL`: case-sensitive, an upper-case name only.
    # The name must end the statement ("Missing HTTP header" is no variable).
    re.compile(rf"\b[Mm]issing(?: required)?:?\s+[\"'`]?({_VAR})[\"'`]?(?=\s*(?:$|[,;:)!]|\.(?:\s|$)|\s+(?:env|environment|variable|setting|config)))"),
    re.compile(rf"KeyError:\s*['\"]({_VAR})['\"]"),
    re.compile(rf"required key\s+({_VAR})\s+missing value"),
    re.compile(rf"Could not resolve placeholder '({_VAR})'"),
    re.compile(rf"process\.env\.({_VAR})\s+is\s+(?:undefined|not set)", re.I),
    # bash prints `line 3: VAR: unbound variable` (set -u) and `VAR: parameter null or not set` (${VAR:?}); dash `VAR: parameter not set`.
    re.compile(rf"(?:^|[\s:$]|\$\{{)({_VAR})\}}?: (?:parameter null or not set|parameter not set|unbound variable)"),
    re.compile(rf"env(?:ironment)?::var\(\"?({_VAR})\"?\).*NotPresent"),
    re.compile(rf"key not found: \"({_VAR})\""),
    # Rust's VarError and Prisma: `environment variable not found: VAR`.
    re.compile(rf"environment variable not found:?\s*[\"'`]?({_VAR})", re.I),
    # python-decouple, django-environ.
    re.compile(rf"UndefinedValueError: ({_VAR}) not found"),
    re.compile(rf"ImproperlyConfigured: Set the ({_VAR}) environment variable"),
    # joi / convict / envalid validation of process.env, t3-env/zod.
    re.compile(rf"[\"']({_VAR})[\"'] is required"),
    re.compile(rf"Invalid environment variables?:?\W*({_VAR})\b"),
    re.compile(rf"\bNo ({_VAR}) environment variable", re.I),
]
# pydantic-settings: `N validation error(s) for Settings` then a field name line and `Field required`.
_PYDANTIC_HEAD = re.compile(r"validation errors? for \w+")
_PYDANTIC_FIELD = re.compile(r"^([a-z_][a-z0-9_]{1,63})$", re.I)
_PYDANTIC_MISSING = re.compile(r"^\s+[Ff]ield required")


def missing_vars(text: str) -> list[str]:
    """Variable names a log says are missing, in order of appearance."""
    found: list[str] = []
    lines = [line for raw in text.splitlines() for line in netlog.plain(raw).splitlines()]
    for line in lines:
        for pattern in _PATTERNS:
            for match in pattern.finditer(line):
                name = match.group(1)
                if name.isupper() and name not in found:
                    found.append(name)
    for name in _pydantic_missing(lines):
        if name not in found:
            found.append(name)
    return found


def _pydantic_missing(lines: list[str]) -> list[str]:
    """Settings fields pydantic reports as missing; pydantic-settings reads them from env by their upper-cased name."""
    names: list[str] = []
    settings = False
    for i, line in enumerate(lines):
        if _PYDANTIC_HEAD.search(line):
            settings = "settings" in line.lower() or "config" in line.lower() or "env" in line.lower()
            continue
        field = _PYDANTIC_FIELD.match(line.strip()) if not line[:1].isspace() else None
        if settings and field and i + 1 < len(lines) and _PYDANTIC_MISSING.match(lines[i + 1]):
            names.append(field.group(1).upper())
    return names


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=False):
        if not state.crashing:
            continue
        text, log_key = signals.log_text(ctx, state)
        defined = signals.env_names(state.spec) | signals.env_from_keys(ctx, state.spec)
        absent = [v for v in missing_vars(text + "\n" + state.last_terminated.get("message", "")) if v not in defined]
        if absent:
            return _finding(ctx, state, absent[0], log_key)
    return None


def _finding(ctx: Context, state: ContainerState, var: str, log_key: str | None) -> Finding:
    term = state.last_terminated
    removed_by_rollout = _previous_definition(ctx, state.name, var) is not None
    steps = [
        f"Container {state.name} of pod {state.pod_name} is {state.waiting_reason or 'failing'} with {state.restarts} restarts; "
        f"it last exited with code {term.get('exitCode')} ({term.get('reason')}){ctx.cite(state.key, 'event:BackOff')}",
        f"Its {'previous ' if log_key and log_key.endswith('previous') else ''}log says {var} is missing{ctx.cite(log_key or '')}",
        _not_defined(ctx, state, var),
    ]
    if removed_by_rollout:
        steps.append(f"The previous revision defined {var}; the last rollout removed it{ctx.cite('change:rollout')}")
    draft, manual = _fix(ctx, state, var)
    if draft:
        # The fix names where the value comes from: the earlier revision, or a Secret/ConfigMap that holds it.
        sources = [*ctx.evidence.keys_with_prefix("config:Secret/"), *ctx.evidence.keys_with_prefix("config:ConfigMap/")]
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout' if removed_by_rollout else state.key, *sources)}")
    summary = f"Container {state.name} exits at start-up because the environment variable {var} is not set" + (
        " (the last rollout removed it)." if removed_by_rollout else "."
    )
    return Finding(
        category=Category.MISSING_ENV_VAR,
        confidence=0.95 if removed_by_rollout else 0.9,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(state.key, *([log_key] if log_key else []), "event:BackOff", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _fix(ctx: Context, state: ContainerState, var: str) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    if workload is None or index is None:
        return None, [f"Set the environment variable {var} on container {state.name}."]
    alternatives = [
        "Restarting the pod: the variable would still be missing.",
        "Rolling back the whole workload: reverts unrelated changes too; adding the one variable is narrower.",
    ]
    source = _config_source(ctx, var)
    if source:
        kind, name = source
        ref_field = "configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef"
        entry = {"name": var, "valueFrom": {ref_field: {"name": name, "key": var}}}
        return FixDraft(
            ops=patching.add_env(workload, index, False, entry),
            summary=f"add env {var} to container {state.name}, from {kind} {name} key {var}",
            rationale=(
                f"The application refuses to start without {var}. {kind} {name} in the same namespace already holds a key "
                f"named {var}, so referencing it supplies the value without copying it into the workload."
            ),
            risk=Risk.LOW,
            risk_notes="Rolling restart of the workload's pods; reversible by removing the variable.",
            alternatives_rejected=alternatives,
        ), []
    previous = _previous_definition(ctx, state.name, var)
    if previous is not None and MARKER not in str(previous):
        return FixDraft(
            ops=patching.add_env(workload, index, False, previous),
            summary=f"restore env {var} on container {state.name} as the previous revision defined it",
            rationale=(
                f"The application refuses to start without {var}, and the previous revision, which ran, defined it. "
                "Restoring that one definition is the smallest change that brings the known-good value back."
            ),
            risk=Risk.LOW,
            risk_notes="Rolling restart of the workload's pods; reversible by removing the variable.",
            alternatives_rejected=alternatives,
        ), []
    return None, [
        f"Provide a value for {var}: {signals.no_key_source(ctx, var)}, and no earlier revision defined it.",
        f"Create one (e.g. a Secret with key {var}) and reference it from container {state.name} with valueFrom, then re-run the analysis to get a patch.",
    ]


def _not_defined(ctx: Context, state: ContainerState, var: str) -> str:
    unread = signals.unread_env_from_secrets(ctx, state.spec)
    if not unread:
        return f"The container spec defines no env var {var}, directly or through envFrom{ctx.cite(state.key)}"
    # The log is the proof it is unset; AEGIS only cannot see the keys of those Secrets.
    return (
        f"The container spec defines no env var {var} directly or through a ConfigMap; it also loads Secret {', '.join(unread)} "
        f"through envFrom, whose keys AEGIS may not read{ctx.cite(state.key)}"
    )


def _config_source(ctx: Context, var: str) -> tuple[str, str] | None:
    # Secrets first: a variable the app needs at start-up that is absent is often a credential.
    for kind, pool in (("Secret", ctx.bundle.secrets), ("ConfigMap", ctx.bundle.configmaps)):
        for obj in pool:
            if var in objects.data_keys(obj):
                return kind, objects.name(obj)
    return None


def _previous_definition(ctx: Context, container: str, var: str) -> dict[str, Any] | None:
    _, previous = template_pair(ctx.bundle)
    if not previous:
        return None
    found = objects.find_container(previous.get("spec") or {}, container)
    if not found:
        return None
    for entry in found[0].get("env") or []:
        if entry.get("name") == var:
            result: dict[str, Any] = entry
            return result
    return None
