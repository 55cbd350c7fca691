"""Verify, Apply and Roll back from the thread: the fix lifecycle behind the buttons.

IncidentService delegates its verify/apply/rollback actions here (same pattern as reject():
authz, stale revision, an atomic compare-and-set transition, thread replies, the parent edited,
an audit record for every decision). Core does the work: ShadowManager proves the fix,
Remediator applies and restores it; the policy gate gets the Authorizer's decision as a boolean,
so Slack stays out of core. The AppliedRecord (what Apply replaced) is kept in the audit trail
(action `apply.state`, detail = its JSON) so Roll back can restore it from any replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aegis.bot import messages
from aegis.bot.render import blocks, lifecycle
from aegis.bot.slack_client import ChatError
from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.models import TERMINAL_STATES, Incident, IncidentId, IncidentState, PhaseTiming
from aegis.core.remediation import policy as gate
from aegis.core.remediation.remediator import AppliedRecord

if TYPE_CHECKING:
    from aegis.bot.incidents import ActionOutcome, IncidentService

STATE_RECORD = "apply.state"
_VERIFIABLE = frozenset({IncidentState.DIAGNOSED, IncidentState.VERIFIED, IncidentState.VERIFICATION_FAILED})
_ROLLBACKABLE = frozenset({IncidentState.APPLIED, IncidentState.APPLY_FAILED})


def buttons(incident: Incident) -> tuple[str, ...]:
    """The buttons that make sense in the incident's state (notes/slack-ux.md: state-dependent buttons)."""
    state = incident.state
    if state in (IncidentState.DIAGNOSED, IncidentState.VERIFICATION_FAILED, IncidentState.VERIFIED):
        return (blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_REJECT)
    if state in _ROLLBACKABLE:
        return (blocks.ACTION_ROLLBACK,)
    if state in TERMINAL_STATES or state in (IncidentState.VERIFYING, IncidentState.APPLYING):
        return ()
    return (blocks.ACTION_REJECT,)


def _outcome(done: bool, private: str | None = None) -> ActionOutcome:
    from aegis.bot.incidents import ActionOutcome

    return ActionOutcome(done, private)


async def _precheck(service: IncidentService, incident_id: IncidentId, revision: int, user: str, action: str, verb: str) -> Incident | ActionOutcome:
    incident = await service._store.get(incident_id)
    if incident is None:
        return _outcome(False, messages.unknown_incident(incident_id))
    if service.shadow is None or service.remediator is None:
        await service._audit(incident_id, user, action, "refused", "read-only source")
        return _outcome(False, messages.needs_live_cluster(verb))
    decision = await service._authorizer.check(user)
    if not decision.allowed:
        await service._audit(incident_id, user, action, "refused", decision.reason)
        return _outcome(False, messages.not_authorized(action))
    if revision != incident.proposal_revision:
        await service._audit(incident_id, user, action, "noop", f"stale proposal r{revision}")
        return _outcome(False, messages.outdated_proposal(incident_id))
    if incident.diagnosis is None or incident.diagnosis.fix is None:
        return _outcome(False, messages.no_fix(incident_id))
    return incident


async def verify(service: IncidentService, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    """Run the shadow verification; a second click while one runs is told so (the run is shared)."""
    checked = await _precheck(service, incident_id, revision, user, "verify", "Verify in shadow")
    if not isinstance(checked, Incident):
        return checked
    moved = await service._store.transition(incident_id, allowed_from=_VERIFIABLE, to=IncidentState.VERIFYING, actor=user, reason="shadow verification")
    if moved is None:
        current = await service._store.get(incident_id)
        state = current.state.value if current else "?"
        await service._audit(incident_id, user, "verify", "noop", f"state {state}")
        return _outcome(False, messages.cannot_now(incident_id, "verify", state))
    await service._audit(incident_id, user, "verify", "started", "")
    await rerender_diagnosis(service, moved)
    await service._refresh_parent(moved)
    reply = await service._post_in_thread(moved, lifecycle.verifying(moved, [], user))
    phases: list[PhaseTiming] = []

    async def progress(phase: PhaseTiming) -> None:
        phases.append(phase)
        if reply is not None:  # without a progress reply to edit, only the verdict is posted
            await _edit(service, moved, reply, lifecycle.verifying(moved, phases, user))

    assert service.shadow is not None and moved.diagnosis is not None
    try:
        result = await service.shadow.verify(incident_id, moved.diagnosis, revision=revision, progress=progress)
    except AegisError as exc:
        back = await service._store.transition(incident_id, allowed_from={IncidentState.VERIFYING}, to=checked.state, actor="aegis", reason=str(exc))
        await service._audit(incident_id, "aegis", "verify", "failed", str(exc))
        await _edit(service, moved, reply, lifecycle.action_result(moved, "Verify in shadow", user, False, str(exc), phases))
        if back:
            await rerender_diagnosis(service, back)
            await service._refresh_parent(back)
        return _outcome(False, messages.action_failed("verify", str(exc)))
    to = IncidentState.VERIFIED if result.passed else IncidentState.VERIFICATION_FAILED
    done = await service._store.transition(incident_id, allowed_from={IncidentState.VERIFYING}, to=to, actor="aegis", reason=result.reason[:300])
    await service._audit(
        incident_id,
        "aegis",
        "verify",
        "passed" if result.passed else result.outcome,
        result.model_dump_json(include={"passed", "outcome", "score", "reason", "namespace", "duration_ms", "representative"}),
    )
    final = done or moved
    await _edit(service, final, reply, lifecycle.verdict(final, result))
    await rerender_diagnosis(service, final)
    await service._refresh_parent(final)
    return _outcome(True)


async def apply(service: IncidentService, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    """Apply the fix after the policy gate; a second click or a racing replica is a no-op."""
    checked = await _precheck(service, incident_id, revision, user, "apply", "Apply fix")
    if not isinstance(checked, Incident):
        return checked
    if checked.state not in _VERIFIABLE:
        # Applying, applied, rolled back...: a second click or a racing replica changes nothing.
        await service._audit(incident_id, user, "apply", "noop", f"state {checked.state.value}")
        return _outcome(False, messages.cannot_now(incident_id, "apply", checked.state.value))
    decision = await service._authorizer.check(user)
    verdict = gate.check(service.remediation_policy, checked, approved_by=user, authorized=decision.allowed, authz_reason=decision.reason)
    if not verdict.allowed:
        await service._audit(incident_id, user, "apply", "refused", verdict.reason)
        return _outcome(False, messages.apply_refused(verdict.reason))
    moved = await service._store.transition(
        incident_id, allowed_from=service.remediation_policy.applicable_states(), to=IncidentState.APPLYING, actor=user, reason="apply approved"
    )
    if moved is None:
        current = await service._store.get(incident_id)
        state = current.state.value if current else "?"
        await service._audit(incident_id, user, "apply", "noop", f"state {state}")
        return _outcome(False, messages.cannot_now(incident_id, "apply", state))
    await service._audit(incident_id, user, "apply", "approved", verdict.reason)
    await rerender_diagnosis(service, moved)
    await service._refresh_parent(moved)
    reply = await service._post_in_thread(moved, lifecycle.working(moved, "Applying the fix to", user))
    assert service.remediator is not None and moved.diagnosis is not None and moved.diagnosis.fix is not None
    log = telemetry.get_logger(incident_id=incident_id)
    result = await service.remediator.apply(moved.diagnosis.fix, revision=revision, log=log)
    if result.record is not None:
        await service._audit(incident_id, "aegis", STATE_RECORD, "kept", result.record.model_dump_json())
    to = IncidentState.APPLIED if result.ok else IncidentState.APPLY_FAILED
    if result.outcome in {"conflict", "failed"}:
        # Nothing changed in the cluster: the incident goes back to where it was.
        to = checked.state
    done = await service._store.transition(incident_id, allowed_from={IncidentState.APPLYING}, to=to, actor="aegis", reason=result.reason[:300])
    await service._audit(incident_id, user, "apply", "ok" if result.ok else result.outcome, result.reason[:1000])
    final = done or moved
    if result.outcome in ("conflict", "failed"):
        await service._update(incident_id, last_error=result.reason[:500])
    await _edit(service, final, reply, lifecycle.action_result(final, "Apply fix", user, result.ok, result.reason, result.phases))
    await rerender_diagnosis(service, final)
    await service._refresh_parent(final)
    return _outcome(result.ok, None if result.ok else messages.action_failed("apply", result.reason))


async def rollback(service: IncidentService, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    """Restore what Apply replaced, only if the workload is still as AEGIS left it."""
    checked = await _precheck(service, incident_id, revision, user, "rollback", "Roll back")
    if not isinstance(checked, Incident):
        return checked
    record = await applied_record(service, incident_id)
    if record is None:
        return _outcome(False, messages.cannot_now(incident_id, "roll back", checked.state.value))
    moved = await service._store.transition(incident_id, allowed_from=_ROLLBACKABLE, to=IncidentState.APPLYING, actor=user, reason="rolling back")
    if moved is None:
        current = await service._store.get(incident_id)
        state = current.state.value if current else "?"
        await service._audit(incident_id, user, "rollback", "noop", f"state {state}")
        return _outcome(False, messages.cannot_now(incident_id, "roll back", state))
    await rerender_diagnosis(service, moved)
    reply = await service._post_in_thread(moved, lifecycle.working(moved, "Rolling back", user))
    assert service.remediator is not None
    result = await service.remediator.rollback(record, log=telemetry.get_logger(incident_id=incident_id))
    to = IncidentState.ROLLED_BACK if result.ok else checked.state
    done = await service._store.transition(incident_id, allowed_from={IncidentState.APPLYING}, to=to, actor=user, reason=result.reason[:300])
    await service._audit(incident_id, user, "rollback", "ok" if result.ok else result.outcome, result.reason[:1000])
    final = done or moved
    await _edit(service, final, reply, lifecycle.action_result(final, "Roll back", user, result.ok, result.reason, result.phases))
    await rerender_diagnosis(service, final)
    await service._refresh_parent(final)
    return _outcome(result.ok, None if result.ok else messages.action_failed("roll back", result.reason))


async def applied_record(service: IncidentService, incident_id: IncidentId) -> AppliedRecord | None:
    """The newest AppliedRecord kept for the incident, or None."""
    for record in reversed(await service._store.audit(incident_id)):
        if record.action == STATE_RECORD:
            return AppliedRecord.model_validate_json(record.detail)
    return None


async def _edit(service: IncidentService, incident: Incident, reply_ts: str | None, message: blocks.SlackMessage) -> None:
    await service._replace_reply(incident, reply_ts, message)


async def rerender_diagnosis(service: IncidentService, incident: Incident) -> None:
    """The diagnosis reply with the buttons of the current state."""
    if not (incident.channel and incident.diagnosis_ts and incident.diagnosis):
        return
    actions: Sequence[str] = buttons(incident)
    message = blocks.diagnosis_reply(incident, incident.diagnosis, service._observability.links(incident, incident.diagnosis), actions=actions)
    note = f"{blocks.status_word(incident.state)} since {blocks.date_token(datetime.now(UTC), '{time}')}"
    body = message.blocks if actions else blocks.superseded(message.blocks, note)
    try:
        await service._chat.update_message(incident.channel, incident.diagnosis_ts, message.text, body)
    except ChatError as exc:
        await service._record_post_failure(incident, exc)
