"""readiness_probe_failure: a container runs but never turns Ready because its readiness probe misses.

Signal: a running, not-ready container that does not crash or get killed (restarts flat, no
liveness kills), with `Unhealthy` events "Readiness probe failed: ..." — a 4xx status
(wrong path) or connection refused on a port the container does not declare. A container that
crashes or is killed by its liveness probe belongs to that class; its readiness failures are a
symptom. Fix, by evidence: the previous revision's probe when the last rollout changed it; a
declared port when the probe targets an undeclared one; the path of a passing liveness probe on
the same port when the readiness path answers 404. A 5xx or a refusal on a declared port is the
application saying it is not ready: no patch, and the steps say where to look.
"""

from __future__ import annotations

from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.probes import (
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


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=False):
        probe = state.spec.get("readinessProbe")
        if not probe or not state.running or state.ready or state.crashing:
            continue
        if liveness_kills(ctx, state.name):
            continue  # the kubelet kills it: liveness_probe_failure
        failures = probe_failures(ctx, state, "Readiness")
        if failures.messages:
            return _finding(ctx, state, probe, failures)
    return None


def _finding(ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures) -> Finding:
    ports = port_list(state.spec)
    steps = [
        f"Pod {state.pod_name} is Running but not Ready: container {state.name} runs with {state.restarts} restarts and is not "
        f"ready{ctx.cite('status:pod:' + state.pod_name, state.key)}",
        f"The kubelet reported {failures.count} readiness probe failures across the workload's pods: '{failures.first[:150]}'{ctx.cite('event:Unhealthy')}",
        f"The readiness probe is {describe(probe)}; the container declares ports {ports or '(none)'}{ctx.cite(state.key)}",
    ]
    if ctx.evidence.id("status:workload"):
        steps.append(f"The workload's ready count is short while its pods wait to turn Ready{ctx.cite('status:workload')}")
    text, log_key = signals.log_text(ctx, state)
    draft, manual, verdict, confidence = _fix(ctx, state, probe, failures, text, log_key)
    # A fix (or why there is none) rests on the probe's failures and the container's spec.
    steps += [ctx.cited(step, "event:Unhealthy", state.key) for step in verdict]
    return Finding(
        category=Category.READINESS_PROBE_FAILURE,
        confidence=confidence,
        summary=(
            f"Container {state.name} never turns Ready, so its pods get no traffic: its readiness probe ({describe(probe)}) "
            f"fails with '{failures.first[:100]}'."
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(f"status:pod:{state.pod_name}", state.key, "event:Unhealthy", "status:workload", log_key or "", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _fix(
    ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures, log: str, log_key: str | None
) -> tuple[FixDraft | None, list[str], list[str], float]:
    """(draft, manual steps, closing analysis steps, confidence)."""
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    if workload is None or index is None:
        return None, [f"Fix the readiness probe of container {state.name} in its owning workload."], [], 0.7
    container = objects.containers(objects.pod_spec(workload), init=False)[index]
    probe = container.get("readinessProbe") or probe
    base = patching.container_path(workload, index)
    guard: list[PatchOperation] = [patching.test(f"{base}/name", state.name)]
    found = handler(probe)
    alternatives = [
        "Removing the readiness probe: pods would get traffic before they can serve it.",
        "Restarting the pods: the same probe would keep them out of the Service.",
    ]

    previous = previous_probe(ctx, state.name, "readinessProbe")
    prev_handler = handler(previous or {})
    if previous and prev_handler and (prev_handler[0] == "grpc" or port_declared(container, prev_handler[1].get("port"))):
        summary = f"restore the readiness probe of container {state.name} to the previous revision's {describe(previous)}"
        return (
            FixDraft(
                ops=guard + handler_ops(base, "readinessProbe", probe, prev_handler),
                summary=summary,
                rationale=(
                    f"The last rollout changed the readiness probe from {describe(previous)} to {describe(probe)}; since then no pod "
                    "of the new revision turns Ready. The previous probe passed, and restoring only the probe target leaves the rest "
                    "of the release in place."
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
        step = f"Port {found[1].get('port')} of the probe is not a port the container declares, so the connection is refused{ctx.cite(state.key)}"
        choice = choose_port(container, found[1].get("port"), container.get("livenessProbe"), log)
        if choice is None:
            return (
                None,
                [
                    f"The readiness probe of {state.name} targets port {found[1].get('port')}, which the container does not declare; "
                    "set it to the port the application serves on."
                ],
                [step, "No fix — no single declared port to use"],
                0.8,
            )
        value, why = choice
        summary = f"point the readiness probe of container {state.name} at port {value} instead of {found[1].get('port')}"
        return (
            FixDraft(
                ops=guard + patching.set_field(f"{base}/readinessProbe/{found[0]}/port", found[1].get("port"), value),
                summary=summary,
                rationale=f"Nothing listens on port {found[1].get('port')}, so every readiness check fails. Port {value} is {why}.",
                risk=Risk.LOW,
                risk_notes="Rolling restart; only the probe port changes.",
                alternatives_rejected=alternatives,
            ),
            [],
            [step, f"Fix: {summary} — {why}"],
            0.9,
        )

    if found and found[0] == "httpGet" and any(400 <= s < 500 for s in failures.statuses):
        step = (
            f"The probe reaches the server but GET {found[1].get('path', '/')} answers {failures.statuses[0]}: the path is wrong{ctx.cite('event:Unhealthy')}"
        )
        source = _path_source(ctx, state, container)
        if source is None:
            return (
                None,
                [
                    f"The readiness path {found[1].get('path', '/')} of {state.name} answers {failures.statuses[0]}. "
                    "Set readinessProbe.httpGet.path to the application's readiness endpoint."
                ],
                [step, "No fix — neither an earlier revision nor a passing probe gives the right path"],
                0.8,
            )
        path, why = source
        summary = f"change the readiness probe path of container {state.name} from {found[1].get('path', '/')} to {path}"
        return (
            FixDraft(
                ops=guard + patching.set_field(f"{base}/readinessProbe/httpGet/path", found[1].get("path"), path),
                summary=summary,
                rationale=f"The server answers {failures.statuses[0]} at {found[1].get('path', '/')}; {path} is {why}.",
                risk=Risk.LOW,
                risk_notes="Rolling restart; only the probe path changes.",
                alternatives_rejected=alternatives,
            ),
            [],
            [step, f"Fix: {summary} — {why}"],
            0.85,
        )

    return (
        None,
        [
            f"The readiness probe of {state.name} targets a declared port and path, and the application itself reports not ready ('{failures.first[:120]}').",
            "Read the container log for what it waits on (a database, a cache, a migration) and fix that dependency; "
            "the probe configuration is not the problem.",
        ],
        [
            f"The probe targets a declared port; the application itself answers not ready{ctx.cite(log_key or '')}",
            "No fix — the probe is right, the application is not ready",
        ],
        0.6,
    )


def _path_source(ctx: Context, state: ContainerState, container: dict[str, Any]) -> tuple[str, str] | None:
    """The liveness probe's path, when it targets the same port and the container is not killed for it."""
    live = handler(container.get("livenessProbe") or {})
    ready = handler(container.get("readinessProbe") or {})
    if not live or not ready or live[0] != "httpGet":
        return None
    same_port = resolve_port(container, live[1].get("port")) == resolve_port(container, ready[1].get("port"))
    passing = not probe_failures(ctx, state, "Liveness").messages and not liveness_kills(ctx, state.name)
    path = live[1].get("path")
    if same_port and passing and path and path != ready[1].get("path"):
        return str(path), "the path of the container's liveness probe, which passes on the same port (no restarts)"
    return None
