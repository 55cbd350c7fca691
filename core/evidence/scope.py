"""Where and when to look in the observability backends: the pod scope and the incident's time window.

Shared by the Prometheus and Loki collectors, the thread's links and its graph, so all of them
show the same pod over the same minutes. Pure data; no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, model_validator

from aegis.core import objects
from aegis.core.evidence.bundle import ObjectBundle

Backend = Literal["prometheus", "loki"]


class TimeWindow(BaseModel):
    """A closed time range in UTC; `to_ms`/`to_ns` give the units Grafana and Loki expect."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError("a time window must end after it starts")
        return self

    @classmethod
    def around(cls, moment: datetime, *, lookback_minutes: int, until: datetime | None = None) -> TimeWindow:
        """From `lookback_minutes` before `moment` to `until` (default: a minute after `moment`)."""
        moment = moment.astimezone(UTC)
        end = (until or moment).astimezone(UTC) + timedelta(minutes=1)
        return cls(start=moment - timedelta(minutes=lookback_minutes), end=max(end, moment + timedelta(minutes=1)))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def epoch_ms(self) -> tuple[int, int]:
        return int(self.start.timestamp() * 1000), int(self.end.timestamp() * 1000)

    def epoch_ns(self) -> tuple[int, int]:
        return int(self.start.timestamp() * 1_000_000_000), int(self.end.timestamp() * 1_000_000_000)

    def step_seconds(self, points: int = 120) -> int:
        """A query_range step that gives about `points` samples, never under 15 s (the usual scrape interval)."""
        return max(15, int(self.seconds // points))


class PodScope(BaseModel):
    """The pod (or, before any pod exists, a workload's pod-name prefix) and container to look at."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    pod: str
    container: str | None = None
    pod_is_prefix: bool = False

    def selector(self, *, container: bool = True, pod_label: str = "pod", container_label: str = "container") -> str:
        """The PromQL/LogQL label matchers, e.g. `namespace="shop", pod="checkout-7d9f-x2", container="app"`."""
        pod = f'{pod_label}=~"{_quote(_regex(self.pod))}-.*"' if self.pod_is_prefix else f'{pod_label}="{_quote(self.pod)}"'
        parts = [f'namespace="{_quote(self.namespace)}"', pod]
        if container and self.container:
            parts.append(f'{container_label}="{_quote(self.container)}"')
        return ", ".join(parts)

    def logql(self) -> str:
        """The LogQL stream selector of the pod's lines: what the thread's Loki link opens."""
        return "{" + self.selector() + "}"

    @classmethod
    def of(cls, bundle: ObjectBundle) -> PodScope:
        """The worst pod of the bundle and its worst container; the workload's name prefix when no pod exists."""
        pod = bundle.pod
        if pod is None:
            name = objects.name(bundle.workload) if bundle.workload else bundle.target.name
            return cls(namespace=bundle.namespace, pod=name, pod_is_prefix=True)
        statuses = objects.container_statuses(pod)
        worst = max(statuses, key=_container_badness, default=None)
        container = worst.get("name") if worst else None
        if container is None:
            names = [c.get("name") for c in objects.containers(objects.pod_spec(pod))]
            container = names[0] if len(names) == 1 else None
        return cls(namespace=bundle.namespace, pod=objects.name(pod), container=container)


class LinkBuilder(Protocol):
    """Builds a link to a backend's query over a window (Grafana Explore); injected by the bot."""

    def __call__(self, backend: Backend, query: str, window: TimeWindow) -> str | None: ...


def _container_badness(status: dict[str, object]) -> tuple[int, int]:
    state = status.get("state") or {}
    waiting = isinstance(state, dict) and "waiting" in state
    restarts = status.get("restartCount")
    return (1 if waiting or not status.get("ready") else 0, restarts if isinstance(restarts, int) else 0)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _regex(value: str) -> str:
    return "".join("\\" + ch if ch in ".+*?()[]{}|^$" else ch for ch in value)
