"""Audit records, and the write-ahead records kept among them.

Every decision leaves an AuditRecord. Two kinds carry state that must survive a crash, as JSON in
`detail`, so any replica can read them back:
- `apply.intent` / `rollback.intent`: written BEFORE the patch is sent — what Roll back restores (the
  values just read) and what the patch will leave (from the server's dry-run), and the state to go
  back to if the patch never landed. Recovery compares the workload with it.
- `apply.state`: the AppliedRecord of an Apply that landed; Roll back restores it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from aegis.core.models import AuditRecord, IncidentId, IncidentState, Model
from aegis.core.remediation.remediator import AppliedRecord
from aegis.core.store.base import IncidentStore

APPLIED = "apply.state"
APPLY_INTENT = "apply.intent"
ROLLBACK_INTENT = "rollback.intent"

Step = Literal["apply", "rollback"]


class Intent(Model):
    """A patch about to be sent: enough to tell afterwards whether it landed, and to undo it."""

    step: Step
    record: AppliedRecord
    from_state: IncidentState
    actor: str


async def add(store: IncidentStore, incident_id: IncidentId, actor: str, action: str, outcome: str, detail: str = "") -> None:
    await store.add_audit(AuditRecord(incident_id=incident_id, actor=actor, action=action, outcome=outcome, detail=detail, at=datetime.now(UTC)))


async def verifier(store: IncidentStore, incident_id: IncidentId, revision: int) -> str | None:
    """Who started the newest shadow verification of the incident (four-eyes: they may not also apply)."""
    for record in reversed(await store.audit(incident_id)):
        if record.action == "verify" and record.outcome == "started":
            return record.actor if record.detail in ("", f"r{revision}") else None
    return None


async def write_intent(store: IncidentStore, incident_id: IncidentId, intent: Intent) -> None:
    """Stored before the patch is sent; a store that fails here stops the patch (the caller does not send it)."""
    action = APPLY_INTENT if intent.step == "apply" else ROLLBACK_INTENT
    await add(store, incident_id, intent.actor, action, "pending", intent.model_dump_json())


async def latest_intent(store: IncidentStore, incident_id: IncidentId) -> Intent | None:
    """The newest apply or rollback intent of the incident, or None."""
    for record in reversed(await store.audit(incident_id)):
        if record.action in (APPLY_INTENT, ROLLBACK_INTENT):
            return Intent.model_validate_json(record.detail)
    return None


async def keep_applied(store: IncidentStore, incident_id: IncidentId, record: AppliedRecord) -> None:
    await add(store, incident_id, "aegis", APPLIED, "kept", record.model_dump_json())


async def applied_record(store: IncidentStore, incident_id: IncidentId) -> AppliedRecord | None:
    """The newest AppliedRecord kept for the incident (what Roll back restores), or None."""
    for record in reversed(await store.audit(incident_id)):
        if record.action == APPLIED:
            return AppliedRecord.model_validate_json(record.detail)
    return None
