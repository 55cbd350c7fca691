"""What a thread gets from the observability stack: Grafana links in its context line and a graph.

Built once from Settings by the app factory and handed to IncidentService. Everything here is
optional: without Grafana there are no links, without Prometheus no graph, and a failing graph
is logged and skipped, never a failed incident. The incident's window (`window`) is the one the
investigation's Prometheus and Loki queries use, so links, graph and evidence show the same minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aegis.bot.render import blocks, links
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.config import Settings
from aegis.core.errors import AegisError
from aegis.core.evidence.scope import LinkBuilder, PodScope, TimeWindow
from aegis.core.models import Diagnosis, Incident


@dataclass(frozen=True)
class Observability:
    grafana: links.GrafanaConfig | None = None
    prometheus_url: str | None = None
    prometheus_tenant: str | None = None
    lookback_minutes: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> Observability:
        return cls(
            grafana=links.GrafanaConfig.from_settings(settings),
            prometheus_url=settings.prometheus_url,
            prometheus_tenant=settings.prometheus_tenant,
            lookback_minutes=settings.incident_lookback_minutes,
        )

    @property
    def link_builder(self) -> LinkBuilder | None:
        return links.builder(self.grafana)

    def window(self, incident: Incident, until: datetime | None = None) -> TimeWindow:
        """From the lookback before the incident opened until `until` (default: now)."""
        return TimeWindow.around(incident.created_at, lookback_minutes=self.lookback_minutes, until=until or datetime.now(UTC))

    def links(self, incident: Incident, diagnosis: Diagnosis | None, window: TimeWindow | None = None) -> blocks.Links:
        """The context line's links for the incident's pod (the diagnosis' pod when known) and window."""
        window = window or self.window(incident, diagnosis.analyzed_at if diagnosis else None)
        return links.for_scope(self.grafana, scope_of(incident, diagnosis), window)

    async def post_graph(self, chat: ChatClient, incident: Incident, diagnosis: Diagnosis, window: TimeWindow | None = None) -> str | None:
        """Upload the pod's memory/restarts graph into the thread; the file id, or None when there is nothing to show."""
        scope = scope_of(incident, diagnosis)
        if not (self.prometheus_url and scope and incident.channel and incident.thread_ts):
            return None
        from aegis.bot.render import graph
        from aegis.core.evidence.prometheus import PrometheusCollector

        log = telemetry.get_logger(incident_id=incident.id)
        window = window or self.window(incident, diagnosis.analyzed_at)
        try:
            series = await PrometheusCollector(self.prometheus_url, tenant=self.prometheus_tenant).pod_series(scope, window)
        except AegisError as exc:
            log.warning("incident.graph.failed", error=str(exc))
            return None
        if not graph.has_data(series):
            log.info("incident.graph.no_data", pod=scope.pod)
            return None
        png = graph.render_png(series, title=f"{scope.namespace}/{scope.pod}: memory and restarts", incident_at=incident.created_at)
        try:
            file_id = await chat.upload_file(
                incident.channel, incident.thread_ts, f"{incident.id}-{scope.pod}.png", png, title=f"{scope.pod}: memory and restarts ({incident.id})"
            )
        except ChatError as exc:
            log.warning("incident.graph.failed", error=str(exc))
            return None
        log.info("incident.graph.posted", file_id=file_id, bytes=len(png))
        return file_id


def scope_of(incident: Incident, diagnosis: Diagnosis | None) -> PodScope | None:
    """The pod a thread is about: the target pod, else the pod the evidence came from, else the workload's pod prefix."""
    target = incident.target
    if target is None:
        return None
    if target.kind == "Pod":
        return PodScope(namespace=target.namespace, pod=target.name)
    if diagnosis is not None:
        pod = next((e.source for e in diagnosis.evidence if e.source is not None and e.source.kind == "Pod"), None)
        if pod is not None:
            return PodScope(namespace=pod.namespace or target.namespace, pod=pod.name)
    return PodScope(namespace=target.namespace, pod=target.name, pod_is_prefix=True)
