"""An alert group resolved by Alertmanager: the parent says RESOLVED and the diagnosis loses its buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.bot.alert_updates import from_webhook
from aegis.bot.alertmanager import WebhookPayload
from aegis.bot.app import incident_service
from aegis.bot.authz import Authorizer
from aegis.bot.demo.memory_chat import MemoryChatClient
from aegis.core.config import Settings
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import IncidentState
from aegis.core.store import open_store
from tests.incidents import EXAMPLES

CHANNEL = "C0ALERTS"
POD = "checkout-7d9f8b6c5d-x2x9k"


def payload(status: str) -> WebhookPayload:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": POD, "container": "checkout", "severity": "warning"}
    alert: dict[str, Any] = {"status": status, "labels": labels, "fingerprint": "f1"}
    return WebhookPayload.model_validate(
        {
            "version": "4",
            "groupKey": '{}:{alertname="KubePodCrashLooping", namespace="shop", pod="' + POD + '"}',
            "status": status,
            "receiver": "aegis",
            "groupLabels": {k: labels[k] for k in ("alertname", "namespace", "pod")},
            "commonLabels": labels,
            "alerts": [alert],
        }
    )


async def test_resolution_edits_parent_and_strips_the_diagnosis_buttons(tmp_path: Path) -> None:
    """notes/slack-ux.md: after resolution the buttons go away — Verify/Apply/Reject on a resolved incident only mislead."""
    chat = MemoryChatClient()
    store = await open_store(str(tmp_path / "aegis.db"))
    investigator = Investigator(SnapshotGateway.open(EXAMPLES / "crashloop-missing-env" / "snapshot"))
    service = incident_service(
        Settings(), chat=chat, store=store, investigator=investigator, authorizer=Authorizer(approvers=[], approver_groups=[], chat=chat), alert_channel=CHANNEL
    )
    try:
        (incident,) = await service.handle_alerts(from_webhook(payload("firing")))
        await service.drain()
        assert incident.target is not None and (incident.target.kind, incident.target.name) == ("Deployment", "checkout")
        diagnosed = await store.get(incident.id)
        assert diagnosed is not None and diagnosed.state is IncidentState.DIAGNOSED and diagnosed.diagnosis_ts
        (parent,) = [m for m in chat.messages(CHANNEL) if m.thread_ts is None]
        reply = next(m for m in chat.thread(CHANNEL, parent.ts) if m.ts == diagnosed.diagnosis_ts)
        assert any(b["type"] == "actions" for b in reply.blocks or [])

        await service.handle_alerts(from_webhook(payload("resolved")))
        await service.drain()

        resolved = await store.get(incident.id)
        assert resolved is not None and resolved.state is IncidentState.RESOLVED
        assert "RESOLVED" in parent.text
        assert reply.blocks and not [b for b in reply.blocks if b["type"] == "actions"], reply.blocks
        assert "RESOLVED" in reply.blocks[-1]["elements"][0]["text"]  # the note that replaced them
        assert len([m for m in chat.messages(CHANNEL) if m.thread_ts is None]) == 1
    finally:
        await service.drain()
        await store.close()
