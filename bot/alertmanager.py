"""Alertmanager webhook payloads (version 4): validation, authentication, and the target an alert names.

The payload is validated into pydantic models (a malformed one is a 400 with the reason, never a
crash); unknown fields are kept, since Alertmanager adds fields over time. The alert's labels
choose what to investigate, the way kube-state-metrics and kubernetes-mixin label their series.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from aegis.core.errors import UsageError
from aegis.core.models import ObjectRef
from aegis.core.shadow.cloning import NAMESPACE_PREFIX as SHADOW_NAMESPACE_PREFIX
from aegis.core.targets import parse_target


def _no_nul(text: str) -> str:
    # JSON may carry \u0000; PostgreSQL's text columns cannot store it (the insert would fail and
    # Alertmanager would retry forever). U+FFFD keeps the spot visible.
    return text.replace("\x00", "\ufffd")


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string from the payload, safe to store and render."""
Labels = dict[Text, Text]


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: datetime | None = None  # noqa: N815 - Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: Text = ""  # noqa: N815
    fingerprint: Text = ""


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: Text = Field(min_length=1)  # noqa: N815
    truncatedAlerts: int = 0  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: Text = Field(min_length=1)
    groupLabels: Labels = Field(default_factory=dict)  # noqa: N815
    commonLabels: Labels = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: Labels = Field(default_factory=dict)  # noqa: N815
    externalURL: Text = ""  # noqa: N815
    alerts: list[Alert] = Field(min_length=1)

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def severity(self) -> str:
        return self.commonLabels.get("severity") or next((a.labels["severity"] for a in self.alerts if "severity" in a.labels), "warning")

    @property
    def title(self) -> str:
        name = self.commonLabels.get("alertname") or self.groupLabels.get("alertname") or "alert"
        summary = self.commonAnnotations.get("summary")
        return f"{name}: {summary}" if summary else name


def parse(body: bytes) -> WebhookPayload:
    """The payload, or UsageError with a reason a person can act on (the HTTP layer answers 400)."""
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise UsageError(f"invalid Alertmanager payload at {where}: {first['msg']}") from None


def authorized(header: str | None, token: str) -> bool:
    """Bearer token, or basic auth whose password is the token — what Alertmanager's http_config sends."""
    if not header or not token:
        return False
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(credentials.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, _, password = decoded.partition(":")
        return hmac.compare_digest(password.encode(), token.encode())
    return False


# Label → kind, most specific workload first: a pod of a Deployment is analyzed through its Deployment.
# kube-state-metrics names a Job `job_name` (`job` is Prometheus' scrape job) and a CronJob `cronjob`;
# the kubelet's volume metrics (KubePersistentVolumeFillingUp) name the claim `persistentvolumeclaim`.
_TARGET_LABELS = (
    ("deployment", "deployment"), ("statefulset", "statefulset"), ("daemonset", "daemonset"), ("cronjob", "cronjob"),
    ("job_name", "job"), ("persistentvolumeclaim", "pvc"), ("pod", "pod"),
)  # fmt: skip


def namespace_of(labels: dict[str, str]) -> str:
    """The namespace an alert's labels name ("" when none); `exported_` when Prometheus renamed a clashing label."""
    return labels.get("namespace") or labels.get("exported_namespace") or ""


def shadow_namespace(payload: WebhookPayload, alert: Alert) -> str | None:
    """The AEGIS shadow namespace an alert is about, if any: a clone proving a wrong fix fails by design and is deleted within minutes."""
    namespace = namespace_of({**payload.commonLabels, **alert.labels})
    return namespace if namespace.startswith(SHADOW_NAMESPACE_PREFIX) else None


def without_shadow(payload: WebhookPayload) -> tuple[WebhookPayload | None, list[Alert]]:
    """The payload without alerts about AEGIS's shadows (None when nothing else is left), and those alerts."""
    rest: list[Alert] = []
    shadow: list[Alert] = []
    for alert in payload.alerts:
        (shadow if shadow_namespace(payload, alert) else rest).append(alert)
    if not shadow:
        return payload, []
    return (payload.model_copy(update={"alerts": rest}) if rest else None), shadow


def target_of(labels: dict[str, str]) -> ObjectRef | None:
    """The Kubernetes object an alert is about, from its labels; None when it names none."""
    namespace = namespace_of(labels)
    if not namespace:
        return None
    for label, kind in _TARGET_LABELS:
        name = labels.get(label) or labels.get(f"exported_{label}")
        if name:
            try:
                return parse_target(f"{kind}/{name}", namespace)
            except UsageError:
                return None
    return None


def group_target(payload: WebhookPayload) -> ObjectRef | None:
    """The target of the group: from the common labels, else the first firing alert that names one."""
    found = target_of({**payload.groupLabels, **payload.commonLabels})
    if found:
        return found
    for alert in payload.firing or payload.alerts:
        found = target_of(alert.labels)
        if found:
            return found
    return None
