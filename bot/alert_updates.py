"""Alertmanager's webhook payload, as the lifecycle takes it (core.incidents.alerts.AlertGroupUpdate).

Labels, annotations and the title are free text written by whoever wrote the alert rule (and by the
exporters behind it): secret values in them are masked here, at the boundary, before anything is
stored, posted to Slack, logged or shown to a model — as all other evidence is.
"""

from __future__ import annotations

from aegis.bot.alertmanager import WebhookPayload, group_target
from aegis.core import redaction
from aegis.core.incidents.alerts import AlertGroupUpdate, FiringAlert


def _masked(values: dict[str, str]) -> dict[str, str]:
    """A secret-named entry (password, api_token, …) loses its whole value; others lose what looks like a secret."""
    return {key: redaction.MARKER if redaction.is_secret_name(key) else redaction.mask(value) for key, value in values.items()}


def from_webhook(payload: WebhookPayload) -> AlertGroupUpdate:
    """The update, with secret values in labels, annotations and the title masked (the group key stays: it is the group's identity)."""
    return AlertGroupUpdate(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        resolved=payload.status == "resolved",
        firing=[
            FiringAlert(fingerprint=a.fingerprint, name=redaction.mask(a.labels.get("pod") or a.labels.get("alertname", "alert"))) for a in payload.firing
        ],
        title=redaction.mask(payload.title),
        severity=redaction.mask(payload.severity),
        target=group_target(payload),
        labels=_masked(payload.commonLabels),
        annotations=_masked(payload.commonAnnotations),
    )
