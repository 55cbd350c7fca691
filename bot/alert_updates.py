"""Alertmanager's webhook payload, as the lifecycle takes it (core.incidents.alerts.AlertGroupUpdate)."""

from __future__ import annotations

from aegis.bot.alertmanager import WebhookPayload, group_target
from aegis.core.incidents.alerts import AlertGroupUpdate, FiringAlert


def from_webhook(payload: WebhookPayload) -> AlertGroupUpdate:
    return AlertGroupUpdate(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        resolved=payload.status == "resolved",
        firing=[FiringAlert(fingerprint=a.fingerprint, name=a.labels.get("pod") or a.labels.get("alertname", "alert")) for a in payload.firing],
        title=payload.title,
        severity=payload.severity,
        target=group_target(payload),
        labels=payload.commonLabels,
        annotations=payload.commonAnnotations,
    )
