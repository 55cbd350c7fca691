"""liveness_probe_failure: the kubelet keeps killing a healthy-enough container because its liveness (or startup) probe fails.

Signal: `Unhealthy` events "Liveness probe failed: ..." and `Killing` events "Container X failed
liveness probe, will be restarted" for a container that restarts, terminating with exit 137/143
(SIGKILL/SIGTERM) but not OOMKilled — an OOM kill that starves the probe is `oom_killed`. Fix, by
evidence: restore the previous revision's probe when the last rollout changed it; point the probe
at a port the container declares when it probes one it does not; take the path from the
container's passing readiness probe when the liveness path answers 404; and when the probe itself
is right but the app is slow (timeouts, a start-up longer than the probe allows), raise
initialDelaySeconds / failureThreshold within fixed bounds. With no source for a value, no patch.

A startup probe kills the same way ("Startup probe failed", "failed startup probe, will be restarted") and is
read the same way; a slow start there raises its failureThreshold (its budget is failureThreshold × periodSeconds).

The probe helpers it shares with readiness_probe_failure live in probes.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.probes import (
    MAX_FAILURE_THRESHOLD,
    MAX_INITIAL_DELAY_SECONDS,
    STARTUP_PATTERN,
    ProbeFailures,
    choose_port,
    describe,
    handler,
    handler_ops,
    liveness_kills,
    port_declared,
    port_list,
    previous_probe,
    probe_failures,
    resolve_port,
)
from aegis.core.analyzers.signals import ContainerState
from aegis.core.fixes import patching
from aegis.core.models import Category, PatchOperation, Risk


@dataclass(frozen=True)
class ProbeKind:
    """A probe whose failures make the kubelet kill the container: liveness, or startup (which kills the same way)."""

    field: str  # livenessProbe | startupProbe
    word: str  # liveness | startup: the kubelet's word in "Liveness probe failed" / "failed startup probe"


LIVENESS = ProbeKind("livenessProbe", "liveness")
STARTUP = ProbeKind("startupProbe", "startup")
# A startup probe exists to give a slow start room: its threshold may go higher than a liveness probe's.
MAX_STARTUP_FAILURE_THRESHOLD = 60


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=False):
        for kind in (LIVENESS, STARTUP):
            probe = state.spec.get(kind.field)
            if not probe:
                continue
            term = state.last_terminated
            if term.get("reason") == "OOMKilled":
                break  # the probe starved because the process ran out of memory: oom_killed
            failures = probe_failures(ctx, state, kind.word.capitalize())
            kills = liveness_kills(ctx, state.name, kind.word)
            if not failures.messages or not (kills or state.restarts > 0):
                continue
            if not kills and term.get("exitCode") not in (137, 143, None):
                continue  # it exits on its own (exit 1…): a crash whose probe failures are a symptom
            return _finding(ctx, state, probe, failures, kills, kind)
    return None


def _finding(ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures, kills: int, kind: ProbeKind) -> Finding:
    term = state.last_terminated
    text, log_key = signals.log_text(ctx, state)
    current_log = ctx.bundle.log(state.pod_name, state.name, previous=False) or ""
    steps = [
        f"Container {state.name} of pod {state.pod_name} has restarted {state.restarts} times; its last run ended with exit code "
        f"{term.get('exitCode')} ({term.get('reason')}), a kill signal from the kubelet, not OOMKilled{ctx.cite(state.key)}",
        f"The kubelet reported {failures.count} {kind.word} probe failures ('{failures.first[:150]}') and killed the container "
        f"{kills} times for failing its {kind.word} probe{ctx.cite('event:Unhealthy', 'event:Killing')}",
        f"The {kind.word} probe is {describe(probe)}; the container declares ports {port_list(state.spec) or '(none)'}{ctx.cite(state.key)}",
    ]
    draft, manual, verdict, confidence = _fix(ctx, state, probe, failures, text + "\n" + current_log, log_key, kind)
    # A fix (or why there is none) rests on the probe's failures and the container's spec.
    steps += [ctx.cited(step, "event:Unhealthy", state.key) for step in verdict]
    return Finding(
        category=Category.LIVENESS_PROBE_FAILURE,
        confidence=confidence,
        summary=(f"The kubelet restarts container {state.name} because its {kind.word} probe ({describe(probe)}) fails: {failures.first[:120]}."),
        steps=steps,
        evidence_ids=ctx.evidence.ids(state.key, "event:Unhealthy", "event:Killing", "event:BackOff", log_key or "", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _fix(
    ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures, log: str, log_key: str | None, kind: ProbeKind
) -> tuple[FixDraft | None, list[str], list[str], float]:
    """(draft, manual steps, closing analysis steps, confidence), choosing the fix by evidence."""
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    if workload is None or index is None:
        return None, [f"Fix the {kind.word} probe of container {state.name} in its owning workload."], [], 0.7
    container = objects.containers(objects.pod_spec(workload), init=False)[index]
    probe = container.get(kind.field) or probe
    base = patching.container_path(workload, index)
    guard = [patching.test(f"{base}/name", state.name)]
    found = handler(probe)
    alternatives = [
        f"Removing the {kind.word} probe: the kills would stop, but a really hung process would never be restarted.",
        "Restarting the pod: the same probe would kill it again.",
    ]

    previous = previous_probe(ctx, state.name, kind.field)
    prev_handler = handler(previous or {})
    usable = prev_handler is not None and (prev_handler[0] == "grpc" or port_declared(container, prev_handler[1].get("port")))
    if previous and prev_handler and usable:
        ops = handler_ops(base, kind.field, probe, prev_handler)
        summary = f"restore the {kind.word} probe of container {state.name} to the previous revision's {describe(previous)}"
        return (
            FixDraft(
                ops=guard + ops,
                summary=summary,
                rationale=(
                    f"The last rollout changed the {kind.word} probe from {describe(previous)} to {describe(probe)}, and the kubelet "
                    f"has killed the container for failing it ever since. The previous revision's probe passed; restoring just the "
                    "probe target undoes the defect without rolling back the rest of the release."
                ),
                risk=Risk.LOW,
                risk_notes="Rolling restart; only the probe target changes.",
                alternatives_rejected=[*alternatives, "Rolling back the whole workload: reverts unrelated changes too."],
            ),
            [],
            [
                f"The last rollout changed this probe; the previous revision probed {describe(previous)}{ctx.cite('change:rollout')}",
                f"Fix: {summary}",
            ],
            0.92,
        )

    if found and found[0] in ("httpGet", "tcpSocket") and not port_declared(container, found[1].get("port")):
        choice = choose_port(container, found[1].get("port"), container.get("readinessProbe"), log)
        step = f"Port {found[1].get('port')} of the probe is not a port the container declares{ctx.cite(state.key)}"
        if choice is None:
            return (
                None,
                [
                    f"The {kind.word} probe of {state.name} targets port {found[1].get('port')}, which the container does not declare, "
                    f"and AEGIS cannot tell which declared port serves health checks: set {kind.field} port to it."
                ],
                [step, "No fix — no single declared port to use"],
                0.8,
            )
        value, why = choice
        ops = patching.set_field(f"{base}/{kind.field}/{found[0]}/port", found[1].get("port"), value)
        summary = f"point the {kind.word} probe of container {state.name} at port {value} instead of {found[1].get('port')}"
        # On the new port the path must be one the server answers: a passing readiness probe there shows one. It
        # replaces the probe's path only when that path is not served there (a 4xx in the log) or is no health
        # endpoint at all (/metrics of the port it probed): /healthz beside a /readyz readiness probe stays.
        path = _path_on_port(ctx, state, container, value) if found[0] == "httpGet" else None
        if path is not None and path != found[1].get("path", "/") and _unserved(str(found[1].get("path", "/")), log):
            ops += patching.set_field(f"{base}/{kind.field}/httpGet/path", found[1].get("path"), path)
            summary += f", path {found[1].get('path', '/')} → {path} (the path its passing readiness probe uses on that port)"
            why += f"; {path} is the path the passing readiness probe uses there"
        return (
            FixDraft(
                ops=guard + ops,
                summary=summary,
                rationale=(
                    f"The probe connects to port {found[1].get('port')}, where nothing listens (connection refused), so every "
                    f"check fails and the kubelet kills a working container. Port {value} is {why}."
                ),
                risk=Risk.LOW,
                risk_notes="Rolling restart; only the probe port changes.",
                alternatives_rejected=alternatives,
            ),
            [],
            [step, f"Fix: {summary} — {why}"],
            0.9,
        )

    if found and found[0] == "httpGet" and any(400 <= s < 500 for s in failures.statuses):
        path_source = _path_source(ctx, state, container, kind)
        path_now = found[1].get("path", "/")
        step = f"The probe reaches the server but GET {path_now} answers {failures.statuses[0]}: the path is wrong{ctx.cite('event:Unhealthy')}"
        if path_source is None:
            return (
                None,
                [
                    f"The {kind.word} path {found[1].get('path', '/')} of {state.name} answers {failures.statuses[0]}. "
                    f"Set {kind.field}.httpGet.path to the application's health endpoint (see its documentation)."
                ],
                [step, "No fix — neither an earlier revision nor a passing probe gives the right path"],
                0.8,
            )
        path, why = path_source
        ops = patching.set_field(f"{base}/{kind.field}/httpGet/path", found[1].get("path"), path)
        summary = f"change the {kind.word} probe path of container {state.name} from {found[1].get('path', '/')} to {path}"
        return (
            FixDraft(
                ops=guard + ops,
                summary=summary,
                rationale=f"The server answers {failures.statuses[0]} at {found[1].get('path', '/')}; {path} is {why}.",
                risk=Risk.LOW,
                risk_notes="Rolling restart; only the probe path changes.",
                alternatives_rejected=alternatives,
            ),
            [],
            [step, f"Fix: {summary} — {why}"],
            0.88,
        )

    return _timing_fix(ctx, state, base, guard, probe, failures, log, log_key, alternatives, kind)


_HEALTH_PATH = re.compile(r"(?i)health|live|alive|ping|status|ready")


def _unserved(path: str, log: str) -> bool:
    """Whether the evidence says the app does not serve this probe path: it answered 4xx for it, or it names no health endpoint."""
    answered = re.search(rf'"(?:GET|HEAD) {re.escape(path)}(?:\?\S*)? HTTP/[0-9.]+"?\s+4\d\d', log)
    return bool(answered) or not _HEALTH_PATH.search(path)


def _path_on_port(ctx: Context, state: ContainerState, container: dict[str, Any], port: Any) -> str | None:
    """The readiness probe's path when it probes `port` over HTTP and passes (no readiness failures reported)."""
    readiness = handler(container.get("readinessProbe") or {})
    if not readiness or readiness[0] != "httpGet" or resolve_port(container, readiness[1].get("port")) != resolve_port(container, port):
        return None
    if probe_failures(ctx, state, "Readiness").messages:
        return None
    path = readiness[1].get("path")
    return str(path) if path else None


def _path_source(ctx: Context, state: ContainerState, container: dict[str, Any], kind: ProbeKind) -> tuple[str, str] | None:
    """A health path known to answer: the readiness probe's, when it targets the same port and passes."""
    readiness = handler(container.get("readinessProbe") or {})
    live = handler(container.get(kind.field) or {})
    if not readiness or not live or readiness[0] != "httpGet":
        return None
    same_port = resolve_port(container, readiness[1].get("port")) == resolve_port(container, live[1].get("port"))
    passing = not probe_failures(ctx, state, "Readiness").messages
    path = readiness[1].get("path")
    if same_port and passing and path and path != live[1].get("path"):
        return str(path), "the path of the container's readiness probe, which passes on the same port"
    return None


def startup_seconds(log: str) -> float | None:
    """The longest start-up time the log reports ("Started App in 74.3 seconds", "ready in 850ms")."""
    found = [float(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1) for m in STARTUP_PATTERN.finditer(log)]
    return max(found) if found else None


def _timing_fix(
    ctx: Context,
    state: ContainerState,
    base: str,
    guard: list[PatchOperation],
    probe: dict[str, Any],
    failures: ProbeFailures,
    log: str,
    log_key: str | None,
    alternatives: list[str],
    kind: ProbeKind,
) -> tuple[FixDraft | None, list[str], list[str], float]:
    initial = int(probe.get("initialDelaySeconds", 0))
    period = int(probe.get("periodSeconds", 10))
    threshold = int(probe.get("failureThreshold", 3))
    timeout = int(probe.get("timeoutSeconds", 1))
    allowed = initial + period * threshold
    startup = startup_seconds(log)
    ops: list[PatchOperation] = []
    changes: list[str] = []
    steps: list[str] = []
    if startup is not None and startup >= allowed:
        steps.append(
            f"The log shows start-up takes {startup:g}s, longer than the {allowed}s the probe allows "
            f"(initialDelaySeconds {initial} + {threshold} × {period}s){ctx.cite(log_key or '')}"
        )
        if kind == STARTUP:
            # The startup budget is failureThreshold × periodSeconds; liveness waits until it passes.
            needed = min(math.ceil(startup * 1.5 / max(period, 1)), MAX_STARTUP_FAILURE_THRESHOLD)
            if needed > threshold:
                ops += patching.set_field(f"{base}/{kind.field}/failureThreshold", probe.get("failureThreshold"), needed)
                changes.append(f"failureThreshold {threshold} → {needed} (1.5 × the {startup:g}s start-up at {period}s a probe)")
        wanted = min(math.ceil(startup * 1.5 / 5) * 5, MAX_INITIAL_DELAY_SECONDS)
        if kind == LIVENESS and wanted > initial:
            ops += patching.set_field(f"{base}/{kind.field}/initialDelaySeconds", probe.get("initialDelaySeconds"), wanted)
            changes.append(f"initialDelaySeconds {initial} → {wanted} (1.5 × the {startup:g}s start-up, at most {MAX_INITIAL_DELAY_SECONDS}s)")
    elif failures.timed_out or failures.refused:
        steps.append(
            f"The probe targets the right port and path but the app answers too slowly ({'timeouts' if failures.timed_out else 'not yet listening'})"
            f"{ctx.cite('event:Unhealthy')}"
        )
        wanted = min(max(threshold * 2, 6), MAX_FAILURE_THRESHOLD)
        if wanted > threshold:
            ops += patching.set_field(f"{base}/{kind.field}/failureThreshold", probe.get("failureThreshold"), wanted)
            changes.append(f"failureThreshold {threshold} → {wanted} (at most {MAX_FAILURE_THRESHOLD})")
        if failures.timed_out and timeout < 5:
            ops += patching.set_field(f"{base}/{kind.field}/timeoutSeconds", probe.get("timeoutSeconds"), 5)
            changes.append(f"timeoutSeconds {timeout} → 5")
    if not ops:
        return (
            None,
            [
                f"The {kind.word} probe of {state.name} fails ({failures.first[:120]}) and AEGIS found no misconfiguration to correct "
                "and no slowness within the bounds it may change.",
                "Check the health endpoint by hand (kubectl port-forward, then curl it) and whether the app hangs; consider a startupProbe for slow start-ups.",
            ],
            [*steps, "No fix — no bounded probe change is supported by the evidence"],
            0.6,
        )
    summary = f"give the {kind.word} probe of container {state.name} more time: {'; '.join(changes)}"
    return (
        FixDraft(
            ops=guard + ops,
            summary=summary,
            rationale=(
                "The probe targets the right endpoint, but the app does not answer within what the probe allows, so the kubelet "
                f"kills it before it can serve. {'; '.join(changes)}. Bounded so that a hung process is still restarted."
            ),
            risk=Risk.MEDIUM,
            risk_notes="A really hung container is now detected later; rolling restart.",
            alternatives_rejected=[*alternatives, "Raising the memory or CPU: no sign of starvation in the evidence."],
        ),
        [],
        [*steps, f"Fix: {summary}"],
        0.75,
    )
