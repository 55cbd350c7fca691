"""Incidents stranded mid-step get their next step: at start-up, and on the leader for dead replicas.

An incident is stranded when its state is in flight (investigating, verifying, applying) and the
replica that ran the step (`worker`) is gone: this process at start-up (it runs nothing yet), or a
replica whose heartbeat stopped. Then:
- investigating: investigated again;
- verifying: its shadow namespaces are deleted, the incident goes back to where it was, and the view
  says the verification was interrupted (Verify is offered again);
- applying: the workload is compared with the write-ahead record: the patch landed (Applied, with
  Roll back), or it did not (the fix is offered again); a roll back likewise.
An incident whose first showing failed is shown. No incident is left without a next step.
"""

from __future__ import annotations

from datetime import datetime

from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.incidents import records, states
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.service import IncidentService, unshown
from aegis.core.incidents.states import Action
from aegis.core.models import Incident, IncidentId, IncidentState

S = IncidentState


async def recover(service: IncidentService, *, live: frozenset[str], starting: bool = False) -> list[IncidentId]:
    """Give every stranded incident its next step; the ids recovered. `live`: replicas with a recent heartbeat.

    `starting`: this replica has just started, so incidents it was running before are stranded too.
    """
    parts = service.parts
    recovered: list[IncidentId] = []
    for found in await parts.store.list_open(limit=1000):
        log = telemetry.get_logger(incident_id=found.id)
        incident = found
        try:
            # At start-up this replica is showing nothing yet: its own unshown incidents are stranded too.
            if unshown(incident, live - {parts.replica} if starting else live | {parts.replica}):
                log.info("incident.recover.show")
                incident = await service.show_again(incident)
                recovered.append(incident.id)
            if not _stranded(incident, parts.replica, live, starting):
                continue
            log.info("incident.recover.start", state=incident.state.value, worker=incident.worker)
            if await _next_step(service, incident):
                recovered.append(incident.id)
        except AegisError as exc:
            # One incident's trouble (the API server down, Slack down) does not stop the others; the next pass retries.
            log.warning("incident.recover.failed", error=str(exc))
    return recovered


def _stranded(incident: Incident, me: str, live: frozenset[str], starting: bool) -> bool:
    if incident.state is S.OPEN and (incident.worker is None or incident.target is None or incident.diagnosis is not None):
        return False  # open with nobody on it: a failed analysis, shown in the thread, waiting for a person
    if incident.state not in states.IN_FLIGHT | {S.OPEN}:
        return False
    if incident.worker == me:
        return starting
    return incident.worker not in live


async def _next_step(service: IncidentService, incident: Incident) -> bool:
    parts = service.parts
    if incident.state in (S.OPEN, S.INVESTIGATING):
        if incident.state is S.INVESTIGATING:
            reopened = await parts.move(incident.id, {S.INVESTIGATING}, S.OPEN, "aegis", "investigation interrupted; investigating again")
            if reopened is None:
                return False
        service.spawn(service.investigate(incident.id, actor="aegis"), name=f"investigate:{incident.id}", incident_id=incident.id)
        return True
    before = await _state_before(parts, incident)
    if incident.state is S.VERIFYING:
        deleted = await parts.shadow.remove(incident.id) if parts.shadow is not None else []
        back = await parts.move(incident.id, {S.VERIFYING}, before, "aegis", "verification interrupted")
        if back is None:
            return False
        names = ", ".join(deleted)
        gone = f" Its shadow namespace {names} was deleted." if deleted else ""
        await parts.audit(incident.id, "aegis", "verify", "interrupted", f"replica {incident.worker} stopped; shadows deleted: {names or 'none'}")
        note = f"The shadow verification was interrupted: the AEGIS replica running it stopped.{gone} Verify again when ready."
        await parts.view.interrupted(back, Action.VERIFY, note)
        await parts.view.changed(back)
        return True
    return await _finish_applying(parts, incident, before)


async def _finish_applying(parts: Parts, incident: Incident, before: IncidentState) -> bool:
    """Decide an interrupted Apply or Roll back from the workload itself, read against the write-ahead record."""
    intent = await records.latest_intent(parts.store, incident.id)
    started = await _step_started_at(parts, incident)
    if intent is not None and started is not None and intent.record.at < started:
        intent = None  # an intent of an earlier step: this one stopped before its patch was sent
    step = Action.ROLLBACK if (intent.step == "rollback" if intent else before in states.allowed_from(Action.ROLLBACK)) else Action.APPLY
    if intent is None:
        to, note = before, "it stopped before the patch was sent, so nothing changed"
    else:
        if parts.remediator is None:
            return False
        landed = await parts.remediator.landed(intent.record)
        if step is Action.APPLY:
            if landed == "applied":
                await records.keep_applied(parts.store, incident.id, intent.record)
                to, note = S.APPLIED, "the patch had landed: the workload holds the fix, and Roll back restores what it replaced"
            elif landed == "previous":
                to, note = intent.from_state, "the patch had not landed: the workload is as diagnosed, and the fix can be applied again"
            else:
                to, note = intent.from_state, "the workload has changed since (not by this fix); analyze it again before applying"
        elif landed == "previous":
            to, note = S.ROLLED_BACK, "the roll back had landed: the workload holds what Apply replaced"
        else:
            to, note = S.APPLIED, "the roll back had not landed: the workload still holds the fix; Roll back again if needed"
    moved = await parts.move(incident.id, {S.APPLYING}, to, "aegis", f"{step.value} interrupted: {note}")
    if moved is None:
        return False
    await parts.audit(incident.id, "aegis", step.value, "recovered", f"replica {incident.worker} stopped; {note}")
    verb = "Apply" if step is Action.APPLY else "Roll back"
    await parts.view.interrupted(moved, step, f"{verb} was interrupted (the AEGIS replica running it stopped). AEGIS checked the workload: {note}.")
    await parts.view.changed(moved)
    return True


async def _state_before(parts: Parts, incident: Incident) -> IncidentState:
    """The state the incident was in when its current step began."""
    for transition in reversed(await parts.store.transitions(incident.id)):
        if transition.to_state is incident.state:
            return transition.from_state
    return S.DIAGNOSED


async def _step_started_at(parts: Parts, incident: Incident) -> datetime | None:
    for transition in reversed(await parts.store.transitions(incident.id)):
        if transition.to_state is incident.state:
            return transition.at
    return None
