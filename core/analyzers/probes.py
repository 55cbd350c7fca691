"""Probe helpers shared by the liveness and readiness analyzers.

Reading probe failures per container from events, the ports a container declares, where a probe
points, what the previous revision's probe was, and the guarded ops that repoint a probe handler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import KubeObject, PatchOperation

MAX_INITIAL_DELAY_SECONDS = 300
MAX_FAILURE_THRESHOLD = 10
MAX_TIMEOUT_SECONDS = 10
_HANDLERS = ("httpGet", "tcpSocket", "grpc")
_STATUS = re.compile(r"statuscode:\s*(\d{3})")
_PROBED_PORT = re.compile(r"(?:dial tcp|Get \"https?://)[^\s\"]*?:(\d{1,5})\b")
STARTUP_PATTERN = re.compile(
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


def liveness_kills(ctx: Context, container: str, probe: str = "liveness") -> int:
    """Kills the kubelet reported for failing this probe: "Container X failed liveness (or startup) probe, will be restarted"."""
    return sum(
        int(e.get("count") or 1)
        for e in ctx.bundle.events
        if e.get("reason") == "Killing" and f"failed {probe} probe" in str(e.get("message", "")) and _container_of(e) == container
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
