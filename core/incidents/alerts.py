"""An Alertmanager notification as the lifecycle sees it: the surface parses and validates the webhook."""

from __future__ import annotations

from pydantic import Field

from aegis.core.models import Model, ObjectRef


class FiringAlert(Model):
    fingerprint: str
    name: str = Field(description="What a person calls it in the thread: the pod, else the alert name.")


class AlertGroupUpdate(Model):
    """One notification of one alert group (receiver + group key): its firing alerts, or its resolution."""

    receiver: str
    group_key: str
    resolved: bool
    firing: list[FiringAlert] = Field(default_factory=list)
    title: str
    severity: str = "warning"
    target: ObjectRef | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
