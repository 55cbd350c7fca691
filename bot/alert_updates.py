"""Alertmanager's webhook payload, as the lifecycle takes it (core.incidents.alerts.AlertGroupUpdate).

Labels, annotations and the title are free text written by whoever wrote the alert rule (and by the
exporters behind it): secret values in them are masked here, at the boundary, before anything is
stored, posted to Slack, logged or shown to a model — as all other evidence is.
"""

from __future__ import annotations

import hashlib
import json

from aegis.bot.alertmanager import Alert, WebhookPayload, target_of
from aegis.core import redaction
from aegis.core.incidents.alerts import AlertGroupUpdate, NotifiedAlert


def _masked(values: dict[str, str]) -> dict[str, str]:
    """A secret-named entry (password, api_token, …) loses its whole value; others lose what looks like a secret."""
    return {key: redaction.MARKER if redaction.is_secret_name(key) else redaction.mask(value) for key, value in values.items()}


def _fingerprint(alert: Alert) -> str:
    # Alertmanager always sends one; a hand-made post may not. The labels are the alert's identity either way.
    return alert.fingerprint or hashlib.sha256(json.dumps(alert.labels, sort_keys=True).encode()).hexdigest()[:16]


def _alert(payload: WebhookPayload, alert: Alert) -> NotifiedAlert:
    labels = {**payload.commonLabels, **alert.labels}
    return NotifiedAlert(
        fingerprint=_fingerprint(alert),
        alertname=redaction.mask(labels.get("alertname", "alert")),
        pod=redaction.mask(labels.get("pod") or labels.get("exported_pod") or ""),
        firing=alert.status == "firing",
        target=target_of(labels),
    )


def from_webhook(payload: WebhookPayload) -> AlertGroupUpdate:
    """The update, with secret values in labels, annotations, the title and the links masked (the group key stays: it is the group's identity)."""
    return AlertGroupUpdate(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        resolved=payload.status == "resolved",
        alerts=[_alert(payload, a) for a in payload.alerts],
        title=redaction.mask(payload.title),
        severity=redaction.mask(payload.severity),
        labels=_masked(payload.commonLabels),
        annotations=_masked(payload.commonAnnotations),
        external_url=redaction.mask(payload.externalURL),
        generator_url=redaction.mask(next((a.generatorURL for a in payload.firing or payload.alerts if a.generatorURL), "")),
    )
