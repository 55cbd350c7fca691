"""An Alertmanager notification as the lifecycle sees it: the surface parses and validates the webhook.

An incident is one broken workload, not one Alertmanager group: the alerts of a notification are
split by the workload their labels lead to (through the pod's owners), whatever their names, and
each workload's alerts join its one incident.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aegis.core.models import Incident, IncidentAlert, Model, ObjectRef


class NotifiedAlert(IncidentAlert):
    target: ObjectRef | None = Field(default=None, description="What its labels name: a pod, or a workload.")


class AlertGroupUpdate(Model):
    """One notification of one alert group (receiver + group key): its alerts, firing and resolved."""

    receiver: str
    group_key: str
    resolved: bool
    alerts: list[NotifiedAlert] = Field(default_factory=list)
    title: str
    severity: str = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    external_url: str = Field(default="", description="Alertmanager's externalURL: where its UI (and a silence's page) is.")
    generator_url: str = Field(default="", description="The first firing alert's generatorURL, redacted.")

    @property
    def firing(self) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.firing and not self.resolved]


class WorkloadAlerts(Model):
    """The part of a notification about one workload (or, with no target, about the group itself)."""

    key: str = Field(description="The incident's identity: `namespace/Kind/name` of the workload, else the Alertmanager group key.")
    target: ObjectRef | None
    alerts: list[NotifiedAlert]


def workload_key(target: ObjectRef) -> str:
    return f"{target.namespace}/{target.kind}/{target.name}"


def merged(known: list[IncidentAlert], seen: list[NotifiedAlert], *, all_resolved: bool) -> tuple[list[IncidentAlert], list[IncidentAlert]]:
    """The incident's alerts after a notification, and the ones it brought that name a new alert or pod (announced once)."""
    by_fingerprint = {a.fingerprint: a for a in known}
    names = {a.alertname for a in known}
    pods = {a.pod for a in known if a.pod}
    new: list[IncidentAlert] = []
    for alert in seen:
        firing = alert.firing and not all_resolved
        state = IncidentAlert(fingerprint=alert.fingerprint, alertname=alert.alertname, pod=alert.pod, firing=firing)
        if alert.fingerprint not in by_fingerprint and firing and (alert.alertname not in names or (alert.pod and alert.pod not in pods)):
            new.append(state)
            names.add(alert.alertname)
            pods.add(alert.pod)
        by_fingerprint[alert.fingerprint] = state
    return sorted(by_fingerprint.values(), key=lambda a: (a.alertname, a.pod, a.fingerprint)), new


def links_learned(incident: Incident, update: AlertGroupUpdate) -> dict[str, Any]:
    """Fields a later notification fills in: annotations the incident lacks (a runbook the first alert had none of),
    Alertmanager's externalURL and an alert's generatorURL. What the incident already shows is kept."""
    learned: dict[str, Any] = {}
    added = {k: v for k, v in update.annotations.items() if k not in incident.annotations}
    if added:
        learned["annotations"] = {**incident.annotations, **added}
    if update.external_url and not incident.alertmanager_url:
        learned["alertmanager_url"] = update.external_url
    if update.generator_url and not incident.generator_url:
        learned["generator_url"] = update.generator_url
    return learned
