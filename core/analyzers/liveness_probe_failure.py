"""liveness_probe_failure: the kubelet keeps killing a healthy-enough container because its liveness probe fails.

Signal: `Unhealthy` events "Liveness probe failed: ..." and `Killing` events "Container X failed
liveness probe, will be restarted" for a container that restarts, terminating with exit 137/143
(SIGKILL/SIGTERM) but not OOMKilled — an OOM kill that starves the probe is `oom_killed`. Fix, by
evidence: restore the previous revision's probe when the last rollout changed it; point the probe
at a port the container declares when it probes one it does not; take the path from the
container's passing readiness probe when the liveness path answers 404; and when the probe itself
is right but the app is slow (timeouts, a start-up longer than the probe allows), raise
initialDelaySeconds / failureThreshold within fixed bounds. With no source for a value, no patch.

The probe helpers here (events per container, declared ports, handler fixes) are shared with
readiness_probe_failure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from aegis.core.analyzers import patching, signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence.extract import template_pair
from aegis.core.kube import objects
from aegis.core.models import Category, KubeObject, PatchOperation, Risk

MAX_INITIAL_DELAY_SECONDS = 300
MAX_FAILURE_THRESHOLD = 10
MAX_TIMEOUT_SECONDS = 10
_HANDLERS = ("httpGet", "tcpSocket", "grpc")
_STATUS = re.compile(r"statuscode:\s*(\d{3})")
_PROBED_PORT = re.compile(r"(?:dial tcp|Get \"https?://)[^\s\"]*?:(\d{1,5})\b")
_STARTUP = re.compile(
    r"(?:Started \S+ in|started in|start-?up (?:took|completed in|finished in)|ready in|initiali[sz]ed in|booted in)\s+"
    r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|sec|secs|seconds)\b",
    re.I,
)
_LISTENING = re.compile(
    r"(?:listening on|listening at|started on port\(s\):|server started on|Listening on|bound to|running on|serving on)"
    r"\s*(?:port\s*)?(?:[\w.:\[\]/-]*?:)?(\d{2,5})\b",
    re.I,
)


# --- shared probe helpers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeFailures:
    """What the kubelet said about one probe of one container."""

    messages: list[str]
    count: int

    @property
    def statuses(self) -> list[int]:
        return [int(m.group(1)) for m in (_STATUS.search(x) for x in self.messages) if m]

    @property
    def refused(self) -> bool:
        return any("connection refused" in m for m in self.messages)

    @property
    def timed_out(self) -> bool:
        return any(w in m for m in self.messages for w in ("context deadline exceeded", "Client.Timeout", "timeout", "timed out"))

    @property
    def probed_ports(self) -> set[int]:
        return {int(m.group(1)) for m in (_PROBED_PORT.search(x) for x in self.messages) if m}

    @property
    def first(self) -> str:
        return self.messages[0] if self.messages else ""


def _container_of(event: KubeObject) -> str | None:
    match = re.search(r"\{([^}]+)\}", str((event.get("involvedObject") or {}).get("fieldPath", "")))
    if match:
        return match.group(1)
    named = re.match(r"Container (\S+) ", str(event.get("message", "")))
    return named.group(1) if named else None


def probe_failures(ctx: Context, state: ContainerState, probe: str) -> ProbeFailures:
    """Unhealthy events "<Liveness|Readiness> probe failed" for this container, across the workload's pods."""
    prefix = f"{probe} probe failed"
    with_probe = [s.name for s in signals.container_states(ctx, init=False) if s.spec.get(f"{probe.lower()}Probe")]
    messages: list[str] = []
    count = 0
    for event in ctx.bundle.events:
        message = str(event.get("message", ""))
        if event.get("reason") != "Unhealthy" or not message.startswith(prefix):
            continue
        owner = _container_of(event)
        if owner == state.name or (owner is None and with_probe == [state.name]):
            messages.append(message.removeprefix(prefix).lstrip(": ").strip())
            count += int(event.get("count") or 1)
    return ProbeFailures(messages, count)


def liveness_kills(ctx: Context, container: str) -> int:
    return sum(
        int(e.get("count") or 1)
        for e in ctx.bundle.events
        if e.get("reason") == "Killing" and "failed liveness probe" in str(e.get("message", "")) and _container_of(e) == container
    )


def handler(probe: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(handler field, handler) of a probe: httpGet, tcpSocket or grpc."""
    for name in _HANDLERS:
        if isinstance(probe.get(name), dict):
            return name, probe[name]
    return None


def declared_ports(container: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in container.get("ports") or [] if p.get("containerPort")]


def resolve_port(container: dict[str, Any], port: Any) -> int | None:
    """The number a probe port (number or name) resolves to in this container."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in declared_ports(container):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    return None


def port_declared(container: dict[str, Any], port: Any) -> bool:
    number = resolve_port(container, port)
    return number is not None and any(int(d["containerPort"]) == number for d in declared_ports(container))


def port_list(container: dict[str, Any]) -> str:
    """'http:8080, metrics:9090' for the container's declared ports."""
    return ", ".join(f"{p['name']}:{p['containerPort']}" if p.get("name") else str(p["containerPort"]) for p in declared_ports(container))


def listening_ports(text: str) -> list[int]:
    """Ports the app's log says it listens on."""
    return [int(m.group(1)) for m in _LISTENING.finditer(text)]


def choose_port(container: dict[str, Any], current: Any, other_probe: dict[str, Any] | None, log: str) -> tuple[Any, str] | None:
    """(value, why) of a declared port the probe should use, in the form the current value uses."""
    ports = declared_ports(container)
    if not ports:
        return None
    chosen: dict[str, Any] | None = None
    why = ""
    other = handler(other_probe or {})
    if other and port_declared(container, other[1].get("port")):
        number = resolve_port(container, other[1].get("port"))
        chosen = next(d for d in ports if int(d["containerPort"]) == number)
        why = "the port the container's other probe uses"
    if chosen is None:
        heard = [d for d in ports if int(d["containerPort"]) in listening_ports(log)]
        if len(heard) == 1:
            chosen, why = heard[0], "the declared port its log says it listens on"
    if chosen is None and len(ports) == 1:
        chosen, why = ports[0], "the only port the container declares"
    if chosen is None:
        named = [d for d in ports if str(d.get("name", "")).startswith("http")]
        if len(named) == 1:
            chosen, why = named[0], "the container's declared http port"
    if chosen is None:
        return None
    value: Any = chosen["name"] if isinstance(current, str) and not str(current).isdigit() and chosen.get("name") else int(chosen["containerPort"])
    label = f"{chosen['name']} = " if chosen.get("name") else ""
    return value, f"{why} ({label}{chosen['containerPort']})"


def previous_probe(ctx: Context, container: str, field: str) -> dict[str, Any] | None:
    """The previous revision's probe of this container when it differs from the current one (None otherwise)."""
    current, previous = template_pair(ctx.bundle)
    if not current or not previous:
        return None
    old = objects.find_container(previous.get("spec") or {}, container)
    new = objects.find_container(current.get("spec") or {}, container)
    if not old or not new:
        return None
    old_probe, new_probe = old[0].get(field), new[0].get(field)
    if not old_probe or _probe_target(old[0], old_probe) == _probe_target(new[0], new_probe or {}):
        return None
    result: dict[str, Any] = old_probe
    return result


def _probe_target(container: dict[str, Any], probe: dict[str, Any]) -> tuple[Any, ...]:
    found = handler(probe)
    if not found:
        return (None,)
    name, spec = found
    return (name, resolve_port(container, spec.get("port")), spec.get("path"), spec.get("scheme", "HTTP"))


def handler_ops(base: str, field: str, probe: dict[str, Any], new_handler: tuple[str, dict[str, Any]]) -> list[PatchOperation]:
    """Guarded ops turning the probe's handler into new_handler (field by field when the kind is the same)."""
    current = handler(probe)
    name, spec = new_handler
    if current and current[0] == name:
        ops: list[PatchOperation] = []
        for key in ("port", "path"):
            if spec.get(key) is not None and spec.get(key) != current[1].get(key):
                ops += patching.set_field(f"{base}/{field}/{name}/{key}", current[1].get(key), spec[key])
        return ops
    ops = [patching.test(f"{base}/{field}/{current[0]}", current[1])] if current else []
    if current:
        ops.append(PatchOperation(op="remove", path=f"{base}/{field}/{current[0]}"))
    ops.append(PatchOperation(op="add", path=f"{base}/{field}/{name}", value=spec))
    return ops


def describe(probe: dict[str, Any]) -> str:
    found = handler(probe)
    if not found:
        return "an exec probe"
    name, spec = found
    if name == "httpGet":
        return f"GET {spec.get('path', '/')} on port {spec.get('port')}"
    return f"{name} on port {spec.get('port')}"


# --- the analyzer ---------------------------------------------------------------------------------


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=False):
        probe = state.spec.get("livenessProbe")
        if not probe:
            continue
        term = state.last_terminated
        if term.get("reason") == "OOMKilled":
            continue  # the probe starved because the process ran out of memory: oom_killed
        failures = probe_failures(ctx, state, "Liveness")
        kills = liveness_kills(ctx, state.name)
        if not failures.messages or not (kills or state.restarts > 0):
            continue
        if not kills and term.get("exitCode") not in (137, 143, None):
            continue  # it exits on its own (exit 1…): a crash whose probe failures are a symptom
        return _finding(ctx, state, probe, failures, kills)
    return None


def _finding(ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures, kills: int) -> Finding:
    term = state.last_terminated
    text, log_key = signals.log_text(ctx, state)
    current_log = ctx.bundle.log(state.pod_name, state.name, previous=False) or ""
    steps = [
        f"Container {state.name} of pod {state.pod_name} has restarted {state.restarts} times; its last run ended with exit code "
        f"{term.get('exitCode')} ({term.get('reason')}), a kill signal from the kubelet, not OOMKilled{ctx.cite(state.key)}",
        f"The kubelet reported {failures.count} liveness probe failures ('{failures.first[:150]}') and killed the container "
        f"{kills} times for failing its liveness probe{ctx.cite('event:Unhealthy', 'event:Killing')}",
        f"The liveness probe is {describe(probe)}; the container declares ports "
        f"{port_list(state.spec) or '(none)'}"
        f"{ctx.cite(state.key)}",
    ]
    draft, manual, verdict, confidence = _fix(ctx, state, probe, failures, text + "\n" + current_log, log_key)
    steps += verdict
    return Finding(
        category=Category.LIVENESS_PROBE_FAILURE,
        confidence=confidence,
        summary=(
            f"The kubelet restarts container {state.name} because its liveness probe ({describe(probe)}) fails: "
            f"{failures.first[:120]}."
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(state.key, "event:Unhealthy", "event:Killing", "event:BackOff", log_key or "", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _fix(
    ctx: Context, state: ContainerState, probe: dict[str, Any], failures: ProbeFailures, log: str, log_key: str | None
) -> tuple[FixDraft | None, list[str], list[str], float]:
    """(draft, manual steps, closing analysis steps, confidence), choosing the fix by evidence."""
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    if workload is None or index is None:
        return None, [f"Fix the liveness probe of container {state.name} in its owning workload."], [], 0.7
    container = objects.containers(objects.pod_spec(workload), init=False)[index]
    probe = container.get("livenessProbe") or probe
    base = patching.container_path(workload, index)
    guard = [patching.test(f"{base}/name", state.name)]
    found = handler(probe)
    alternatives = [
        "Removing the liveness probe: the kills would stop, but a really hung process would never be restarted.",
        "Restarting the pod: the same probe would kill it again.",
    ]

    previous = previous_probe(ctx, state.name, "livenessProbe")
    prev_handler = handler(previous or {})
    usable = prev_handler is not None and (
        prev_handler[0] == "grpc" or port_declared(container, prev_handler[1].get("port"))
    )
    if previous and prev_handler and usable:
        ops = handler_ops(base, "livenessProbe", probe, prev_handler)
        summary = f"restore the liveness probe of container {state.name} to the previous revision's {describe(previous)}"
        return FixDraft(
            ops=guard + ops, summary=summary,
            rationale=(
                f"The last rollout changed the liveness probe from {describe(previous)} to {describe(probe)}, and the kubelet "
                f"has killed the container for failing it ever since. The previous revision's probe passed; restoring just the "
                "probe target undoes the defect without rolling back the rest of the release."
            ),
            risk=Risk.LOW, risk_notes="Rolling restart; only the probe target changes.",
            alternatives_rejected=[*alternatives, "Rolling back the whole workload: reverts unrelated changes too."],
        ), [], [
            f"The last rollout changed this probe; the previous revision probed {describe(previous)}{ctx.cite('change:rollout')}",
            f"Fix: {summary}",
        ], 0.92

    if found and found[0] in ("httpGet", "tcpSocket") and not port_declared(container, found[1].get("port")):
        choice = choose_port(container, found[1].get("port"), container.get("readinessProbe"), log)
        step = f"Port {found[1].get('port')} of the probe is not a port the container declares{ctx.cite(state.key)}"
        if choice is None:
            return None, [
                f"The liveness probe of {state.name} targets port {found[1].get('port')}, which the container does not declare, "
                "and AEGIS cannot tell which declared port serves health checks: set livenessProbe port to it."
            ], [step, "No fix — no single declared port to use"], 0.8
        value, why = choice
        ops = patching.set_field(f"{base}/livenessProbe/{found[0]}/port", found[1].get("port"), value)
        summary = f"point the liveness probe of container {state.name} at port {value} instead of {found[1].get('port')}"
        return FixDraft(
            ops=guard + ops, summary=summary,
            rationale=(
                f"The probe connects to port {found[1].get('port')}, where nothing listens (connection refused), so every "
                f"check fails and the kubelet kills a working container. Port {value} is {why}."
            ),
            risk=Risk.LOW, risk_notes="Rolling restart; only the probe port changes.",
            alternatives_rejected=alternatives,
        ), [], [step, f"Fix: {summary} — {why}"], 0.9

    if found and found[0] == "httpGet" and any(400 <= s < 500 for s in failures.statuses):
        path_source = _path_source(ctx, state, container)
        path_now = found[1].get("path", "/")
        step = f"The probe reaches the server but GET {path_now} answers {failures.statuses[0]}: the path is wrong{ctx.cite('event:Unhealthy')}"
        if path_source is None:
            return None, [
                f"The liveness path {found[1].get('path', '/')} of {state.name} answers {failures.statuses[0]}. "
                "Set livenessProbe.httpGet.path to the application's health endpoint (see its documentation)."
            ], [step, "No fix — neither an earlier revision nor a passing probe gives the right path"], 0.8
        path, why = path_source
        ops = patching.set_field(f"{base}/livenessProbe/httpGet/path", found[1].get("path"), path)
        summary = f"change the liveness probe path of container {state.name} from {found[1].get('path', '/')} to {path}"
        return FixDraft(
            ops=guard + ops, summary=summary,
            rationale=f"The server answers {failures.statuses[0]} at {found[1].get('path', '/')}; {path} is {why}.",
            risk=Risk.LOW, risk_notes="Rolling restart; only the probe path changes.",
            alternatives_rejected=alternatives,
        ), [], [step, f"Fix: {summary} — {why}"], 0.88

    return _timing_fix(ctx, state, base, guard, probe, failures, log, log_key, alternatives)


def _path_source(ctx: Context, state: ContainerState, container: dict[str, Any]) -> tuple[str, str] | None:
    """A health path known to answer: the readiness probe's, when it targets the same port and passes."""
    readiness = handler(container.get("readinessProbe") or {})
    live = handler(container.get("livenessProbe") or {})
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
    found = [float(m.group(1)) / (1000 if m.group(2).lower() == "ms" else 1) for m in _STARTUP.finditer(log)]
    return max(found) if found else None


def _timing_fix(
    ctx: Context, state: ContainerState, base: str, guard: list[PatchOperation], probe: dict[str, Any],
    failures: ProbeFailures, log: str, log_key: str | None, alternatives: list[str],
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
        wanted = min(math.ceil(startup * 1.5 / 5) * 5, MAX_INITIAL_DELAY_SECONDS)
        if wanted > initial:
            ops += patching.set_field(f"{base}/livenessProbe/initialDelaySeconds", probe.get("initialDelaySeconds"), wanted)
            changes.append(f"initialDelaySeconds {initial} → {wanted} (1.5 × the {startup:g}s start-up, at most {MAX_INITIAL_DELAY_SECONDS}s)")
    elif failures.timed_out or failures.refused:
        steps.append(
            f"The probe targets the right port and path but the app answers too slowly ({'timeouts' if failures.timed_out else 'not yet listening'})"
            f"{ctx.cite('event:Unhealthy')}"
        )
        wanted = min(max(threshold * 2, 6), MAX_FAILURE_THRESHOLD)
        if wanted > threshold:
            ops += patching.set_field(f"{base}/livenessProbe/failureThreshold", probe.get("failureThreshold"), wanted)
            changes.append(f"failureThreshold {threshold} → {wanted} (at most {MAX_FAILURE_THRESHOLD})")
        if failures.timed_out and timeout < 5:
            ops += patching.set_field(f"{base}/livenessProbe/timeoutSeconds", probe.get("timeoutSeconds"), 5)
            changes.append(f"timeoutSeconds {timeout} → 5")
    if not ops:
        return None, [
            f"The liveness probe of {state.name} fails ({failures.first[:120]}) and AEGIS found no misconfiguration to correct "
            "and no slowness within the bounds it may change.",
            "Check the health endpoint by hand (kubectl port-forward, then curl it) and whether the app hangs; "
            "consider a startupProbe for slow start-ups.",
        ], [*steps, "No fix — no bounded probe change is supported by the evidence"], 0.6
    summary = f"give the liveness probe of container {state.name} more time: {'; '.join(changes)}"
    return FixDraft(
        ops=guard + ops, summary=summary,
        rationale=(
            "The probe targets the right endpoint, but the app does not answer within what the probe allows, so the kubelet "
            f"kills it before it can serve. {'; '.join(changes)}. Bounded so that a hung process is still restarted."
        ),
        risk=Risk.MEDIUM,
        risk_notes="A really hung container is now detected later; rolling restart.",
        alternatives_rejected=[*alternatives, "Raising the memory or CPU: no sign of starvation in the evidence."],
    ), [], [*steps, f"Fix: {summary}"], 0.75
