"""Shared reads for analyzers: which containers crash, how they died, what their logs say.

Small pure helpers so each analyzer module reads as its reasoning, not as dict plumbing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context
from aegis.core.models import KubeObject


@dataclass(frozen=True)
class ContainerState:
    """One container of the focus pod, with its spec and status side by side."""

    pod: KubeObject
    name: str
    init: bool
    index: int  # in the pod spec's containers / initContainers
    spec: dict[str, Any]
    status: dict[str, Any]

    @property
    def waiting_reason(self) -> str:
        return str(((self.status.get("state") or {}).get("waiting") or {}).get("reason") or "")

    @property
    def waiting_message(self) -> str:
        return str(((self.status.get("state") or {}).get("waiting") or {}).get("message") or "")

    @property
    def last_terminated(self) -> dict[str, Any]:
        """The last termination: lastState.terminated, or state.terminated when it is not running."""
        result: dict[str, Any] = (self.status.get("lastState") or {}).get("terminated") or ((self.status.get("state") or {}).get("terminated") or {})
        return result

    @property
    def restarts(self) -> int:
        return int(self.status.get("restartCount", 0))

    @property
    def running(self) -> bool:
        # `running: {}` is still running: test for the key, not its truthiness.
        return "running" in (self.status.get("state") or {})

    @property
    def ready(self) -> bool:
        return bool(self.status.get("ready"))

    @property
    def crashing(self) -> bool:
        """Crash-looping or repeatedly terminated with a failure."""
        term = self.last_terminated
        failed = bool(term) and (term.get("exitCode") not in (0, None) or term.get("reason") not in ("Completed", None))
        return self.waiting_reason == "CrashLoopBackOff" or (failed and (self.restarts > 0 or not self.running))

    @property
    def key(self) -> str:
        """The evidence key of this container's status."""
        return f"status:container:{objects.name(self.pod)}/{self.name}"

    @property
    def pod_name(self) -> str:
        return objects.name(self.pod)


def container_states(ctx: Context, *, init: bool | None = None) -> list[ContainerState]:
    """App containers (init=False), init containers (init=True) or both (None) of the focus pod."""
    pod = ctx.pod
    if pod is None:
        return []
    spec = objects.pod_spec(pod)
    states: list[ContainerState] = []
    for is_init in (True, False):
        if init is not None and is_init != init:
            continue
        by_name = {s.get("name"): s for s in objects.container_statuses(pod, init=is_init)}
        for index, container in enumerate(objects.containers(spec, init=is_init)):
            states.append(ContainerState(pod, str(container.get("name")), is_init, index, container, by_name.get(container.get("name")) or {}))
    return states


def log_text(ctx: Context, state: ContainerState) -> tuple[str, str | None]:
    """(text, evidence key) of the most telling log: the previous run's if there is one."""
    for previous, which in ((True, "previous"), (False, "current")):
        text = ctx.bundle.log(state.pod_name, state.name, previous=previous)
        if text:
            return text, f"log:{state.pod_name}/{state.name}:{which}"
    return "", None


def workload_container_index(ctx: Context, name: str, *, init: bool) -> int | None:
    """Index of a container in the workload's template (patches target the workload, not the pod)."""
    workload = ctx.workload
    if workload is None:
        return None
    return objects.container_index(objects.pod_spec(workload), name, init=init)


def env_names(container: dict[str, Any]) -> set[str]:
    return {str(e.get("name")) for e in container.get("env") or []}


def no_key_source(ctx: Context, var: str) -> str:
    """'no ConfigMap or Secret … has a key VAR', claiming nothing about Secrets AEGIS could not read."""
    if ctx.bundle.knows("Secret"):
        return f"no ConfigMap or Secret in namespace {ctx.bundle.namespace} has a key {var}"
    return (
        f"no ConfigMap in namespace {ctx.bundle.namespace} has a key {var} "
        "(AEGIS may not read the Secrets there, so whether one holds it is unknown: if one does, reference it with secretKeyRef)"
    )


def unread_env_from_secrets(ctx: Context, container: dict[str, Any]) -> list[str]:
    """Secrets the container loads through envFrom whose keys AEGIS could not read."""
    if ctx.bundle.knows("Secret"):
        return []
    return [str((source.get("secretRef") or {}).get("name", "")) for source in container.get("envFrom") or [] if source.get("secretRef")]


def env_from_keys(ctx: Context, container: dict[str, Any]) -> set[str]:
    """Names provided through envFrom by ConfigMaps/Secrets that exist (with their prefix)."""
    names: set[str] = set()
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if source.get(field):
                obj = ctx.bundle.find(kind, source[field].get("name", ""))
                if obj is not None:
                    names.update(prefix + k for k in objects.data_keys(obj))
    return names
