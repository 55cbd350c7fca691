"""Verify, Apply and Roll back: the steps behind the thread's fix buttons.

Each step checks (authorized, current proposal, a fix to act on, a live cluster), moves the incident
into its in-flight state with a compare-and-set (a second click, or the same click reaching another
replica, finds the state taken and changes nothing), does the work in core (ShadowManager proves the
fix, Remediator patches and restores), moves to the outcome, audits every decision and tells the view.
Apply and Roll back store what they will restore before the patch is sent (records.Intent).
"""

from __future__ import annotations

from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.incidents import records, states
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.states import Action
from aegis.core.incidents.view import ActionOutcome, Refusal
from aegis.core.models import Incident, IncidentId, IncidentState, KubeIdentity, PhaseTiming
from aegis.core.remediation import policy as gate
from aegis.core.remediation.remediator import AppliedRecord

S = IncidentState


def namespace_of(incident: Incident) -> str:
    """The namespace an action on the incident would touch: the fix's, else the target's."""
    if incident.diagnosis is not None and incident.diagnosis.fix is not None:
        return incident.diagnosis.fix.target.namespace
    return incident.target.namespace if incident.target else ""


def offered(policy: gate.RemediationPolicy, incident: Incident) -> tuple[Action, ...]:
    """The buttons to show: what the state allows (the lifecycle table), narrowed by the namespace's mode."""
    namespace = namespace_of(incident)
    return tuple(a for a in states.buttons(incident.state) if policy.permits(a, namespace))


async def precheck(
    parts: Parts, incident_id: IncidentId, revision: int, user: str, action: Action, *, needs_fix: bool = True, needs_cluster: bool = True
) -> Incident | ActionOutcome:
    """The incident if `user` may take `action` on this proposal now; else the refusal, audited."""
    incident = await parts.store.get(incident_id)
    if incident is None:
        return ActionOutcome(action, False, Refusal.UNKNOWN_INCIDENT, incident_id)
    if needs_cluster and (parts.shadow is None or parts.remediator is None):
        await parts.audit(incident_id, user, action.value, "refused", "read-only source")
        return ActionOutcome(action, False, Refusal.READ_ONLY)
    decision = await parts.approvals.check(user)
    if not decision.allowed:
        await parts.audit(incident_id, user, action.value, "refused", decision.reason)
        return ActionOutcome(action, False, Refusal.NOT_AUTHORIZED, decision.reason)
    if revision != incident.proposal_revision:
        await parts.audit(incident_id, user, action.value, "noop", f"stale proposal r{revision}")
        return ActionOutcome(action, False, Refusal.STALE, incident_id)
    namespace = namespace_of(incident)
    if not parts.policy.permits(action, namespace):
        # An old message's button, or a forged payload: the mode in force decides, not the button shown.
        mode = parts.policy.mode_for(namespace)
        await parts.audit(incident_id, user, action.value, "refused", f"mode {mode.value} in namespace {namespace}")
        return ActionOutcome(action, False, Refusal.MODE, f"{mode.value} {namespace}")
    if needs_fix and (incident.diagnosis is None or incident.diagnosis.fix is None):
        return ActionOutcome(action, False, Refusal.NO_FIX, incident_id)
    if action is not Action.REJECT and action is not Action.ROLLBACK and parts.policy.expired(incident):
        await parts.audit(incident_id, user, action.value, "refused", f"proposal older than {parts.policy.proposal_ttl_seconds:.0f}s")
        return ActionOutcome(action, False, Refusal.EXPIRED, incident_id)
    if action in (Action.VERIFY, Action.APPLY):
        changed = await template_changed(parts, incident, user, action)
        if changed is not None:
            return changed
    return incident


async def template_changed(parts: Parts, incident: Incident, user: str, action: Action) -> ActionOutcome | None:
    """A refusal, audited, when the workload's pod template is no longer the one diagnosed, or cannot be read to tell;
    None when it is the same (or the diagnosis kept no digest to compare with). Read as AEGIS, before anything acts."""
    diagnosis = incident.diagnosis
    if diagnosis is None or diagnosis.workload is None or diagnosis.template_digest is None or parts.remediator is None:
        return None
    workload = diagnosis.workload
    try:
        live = await parts.remediator.template_digest(workload)
    except AegisError as exc:
        # Not knowing is not the same as unchanged: refuse rather than act on a template nobody has seen.
        reason = f"could not read {workload} to check its pod template is the one diagnosed: {exc}"
        await parts.audit(incident.id, user, action.value, "refused", reason[:1000])
        return ActionOutcome(action, False, Refusal.UNCHECKED, reason)
    if live != diagnosis.template_digest:
        await parts.audit(incident.id, user, action.value, "refused", f"the pod template of {workload} changed since the diagnosis")
        return ActionOutcome(action, False, Refusal.CHANGED, incident.id)
    return None


async def acting_identity(parts: Parts, incident_id: IncidentId, user: str, action: Action) -> KubeIdentity | ActionOutcome | None:
    """Whom the action is sent as: the person's mapped Kubernetes identity when impersonation is on (None: AEGIS
    itself). Someone the map names nowhere is refused here, before any call to the API server."""
    if not parts.approvals.impersonates:
        return None
    identity = await parts.approvals.identity(user)
    if identity is None:
        await parts.audit(incident_id, user, action.value, "refused", "not in the identity map (AEGIS_IDENTITY_MAP)")
        return ActionOutcome(action, False, Refusal.UNMAPPED, user)
    return identity


async def not_now(parts: Parts, incident_id: IncidentId, user: str, action: Action) -> ActionOutcome:
    """The compare-and-set found another state (a second click, another replica first): audited, nothing changed."""
    current = await parts.store.get(incident_id)
    state = current.state.value if current else "?"
    await parts.audit(incident_id, user, action.value, "noop", f"state {state}")
    return ActionOutcome(action, False, Refusal.NOT_NOW, state)


async def verify(parts: Parts, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    checked = await precheck(parts, incident_id, revision, user, Action.VERIFY)
    if isinstance(checked, ActionOutcome):
        return checked
    identity: KubeIdentity | None = None
    if parts.policy.shadow_as_user:
        # AEGIS_SHADOW_AS_USER: what the shadow holds is created as the person; unmapped, nothing is created.
        acting = await acting_identity(parts, incident_id, user, Action.VERIFY)
        if isinstance(acting, ActionOutcome):
            return acting
        identity = acting
    moved = await parts.move(incident_id, states.allowed_from(Action.VERIFY), S.VERIFYING, user, "shadow verification", mine=True)
    if moved is None:
        return await not_now(parts, incident_id, user, Action.VERIFY)
    # The detail stays "r<revision>": records.verifier reads it (four-eyes); whom the shadow acts as is logged by it.
    await parts.audit(incident_id, user, "verify", "started", f"r{revision}")
    await parts.view.changed(moved)
    handle = await parts.view.step_started(moved, Action.VERIFY, user)
    phases: list[PhaseTiming] = []

    async def progress(phase: PhaseTiming) -> None:
        phases.append(phase)
        await parts.view.step_progress(moved, handle, Action.VERIFY, user, phases)

    assert parts.shadow is not None and moved.diagnosis is not None
    try:
        result = await parts.shadow.verify(incident_id, moved.diagnosis, revision=revision, progress=progress, identity=identity)
    except AegisError as exc:
        back = await parts.move(incident_id, {S.VERIFYING}, checked.state, "aegis", str(exc))
        await parts.audit(incident_id, "aegis", "verify", "failed", str(exc))
        await parts.view.step_finished(back or moved, handle, Action.VERIFY, user, ok=False, reason=str(exc), phases=phases)
        if back:
            await parts.view.changed(back)
        return ActionOutcome(Action.VERIFY, False, Refusal.FAILED, str(exc))
    to = S.VERIFIED if result.passed else S.VERIFICATION_FAILED
    done = await parts.move(incident_id, {S.VERIFYING}, to, "aegis", result.reason)
    detail = result.model_dump_json(include={"passed", "outcome", "score", "reason", "namespace", "duration_ms", "representative"})
    await parts.audit(incident_id, "aegis", "verify", "passed" if result.passed else result.outcome, detail)
    final = done or moved
    await parts.view.step_finished(final, handle, Action.VERIFY, user, ok=result.passed, reason=result.reason, phases=result.phases, verification=result)
    await parts.view.changed(final)
    return ActionOutcome(Action.VERIFY, True)


async def apply(parts: Parts, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    checked = await precheck(parts, incident_id, revision, user, Action.APPLY)
    if isinstance(checked, ActionOutcome):
        return checked
    if not states.can(Action.APPLY, checked.state):
        # Applying, applied, rolled back...: a second click or a racing replica changes nothing.
        return await not_now(parts, incident_id, user, Action.APPLY)
    decision = await parts.approvals.check(user)
    verified_by = await records.verifier(parts.store, incident_id, checked.proposal_revision)
    verdict = gate.check(parts.policy, checked, approved_by=user, authorized=decision.allowed, authz_reason=decision.reason, verified_by=verified_by)
    if not verdict.allowed:
        await parts.audit(incident_id, user, "apply", "refused", verdict.reason)
        return ActionOutcome(Action.APPLY, False, Refusal.POLICY, verdict.reason)
    identity = await acting_identity(parts, incident_id, user, Action.APPLY)
    if isinstance(identity, ActionOutcome):
        return identity
    moved = await parts.move(incident_id, parts.policy.applicable_states(), S.APPLYING, user, "apply approved", mine=True)
    if moved is None:
        return await not_now(parts, incident_id, user, Action.APPLY)
    await parts.audit(incident_id, user, "apply", "approved", f"{verdict.reason}; as {identity or 'AEGIS'}")
    await parts.view.changed(moved)
    handle = await parts.view.step_started(moved, Action.APPLY, user)
    assert parts.remediator is not None and moved.diagnosis is not None and moved.diagnosis.fix is not None

    async def write_ahead(record: AppliedRecord) -> None:
        await records.write_intent(parts.store, incident_id, records.Intent(step="apply", record=record, from_state=checked.state, actor=user))

    log = telemetry.get_logger(incident_id=incident_id)
    result = await parts.remediator.acting_as(identity).apply(moved.diagnosis.fix, revision=revision, log=log, write_ahead=write_ahead)
    if result.record is not None:
        await records.keep_applied(parts.store, incident_id, result.record)
    # conflict or failed: nothing changed in the cluster, so the incident goes back to where it was.
    to = checked.state if result.outcome in ("conflict", "failed") else S.APPLIED if result.ok else S.APPLY_FAILED
    done = await parts.move(incident_id, {S.APPLYING}, to, "aegis", result.reason)
    await parts.audit(incident_id, user, "apply", "ok" if result.ok else result.outcome, result.reason[:1000])
    if result.outcome in ("conflict", "failed"):
        await parts.store.update(incident_id, last_error=result.reason[:500])
    final = await parts.fresh(done or moved)
    await parts.view.step_finished(final, handle, Action.APPLY, user, ok=result.ok, reason=result.reason, phases=result.phases)
    await parts.view.changed(final)
    return ActionOutcome(Action.APPLY, result.ok, None if result.ok else Refusal.FAILED, "" if result.ok else result.reason)


async def rollback(parts: Parts, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
    checked = await precheck(parts, incident_id, revision, user, Action.ROLLBACK, needs_fix=False)
    if isinstance(checked, ActionOutcome):
        return checked
    identity = await acting_identity(parts, incident_id, user, Action.ROLLBACK)
    if isinstance(identity, ActionOutcome):
        return identity
    return await _roll_back(parts, checked, actor=user, reason="rolling back", identity=identity)


async def rollback_on_behalf(parts: Parts, incident_id: IncidentId, *, approver: str, why: str) -> ActionOutcome:
    """The watch's own Roll back (AEGIS_AUTO_ROLLBACK): audited as AEGIS acting for the approver of the Apply.

    The person's checks ran when they approved; the namespace's mode must still allow Roll back now."""
    incident = await parts.store.get(incident_id)
    if incident is None:
        return ActionOutcome(Action.ROLLBACK, False, Refusal.UNKNOWN_INCIDENT, incident_id)
    if not parts.policy.permits(Action.ROLLBACK, namespace_of(incident)):
        await parts.audit(incident_id, "aegis", "rollback", "refused", f"auto roll back: mode {parts.policy.mode_for(namespace_of(incident)).value}")
        return ActionOutcome(Action.ROLLBACK, False, Refusal.MODE, f"{parts.policy.mode_for(namespace_of(incident)).value} {namespace_of(incident)}")
    identity = await acting_identity(parts, incident_id, approver, Action.ROLLBACK)
    if isinstance(identity, ActionOutcome):
        return identity
    await parts.audit(incident_id, "aegis", "rollback", "auto", f"on behalf of {approver}: {why}")
    return await _roll_back(parts, incident, actor=approver, reason=f"automatic roll back on behalf of {approver}: {why}", identity=identity)


async def _roll_back(parts: Parts, checked: Incident, *, actor: str, reason: str, identity: KubeIdentity | None) -> ActionOutcome:
    incident_id, user = checked.id, actor
    record = await records.applied_record(parts.store, incident_id)
    if record is None:
        return ActionOutcome(Action.ROLLBACK, False, Refusal.NOT_NOW, checked.state.value)
    moved = await parts.move(incident_id, states.allowed_from(Action.ROLLBACK), S.APPLYING, user, reason, mine=True)
    if moved is None:
        return await not_now(parts, incident_id, user, Action.ROLLBACK)
    await parts.view.changed(moved)
    handle = await parts.view.step_started(moved, Action.ROLLBACK, user)
    assert parts.remediator is not None

    async def write_ahead(kept: AppliedRecord) -> None:
        await records.write_intent(parts.store, incident_id, records.Intent(step="rollback", record=kept, from_state=checked.state, actor=user))

    result = await parts.remediator.acting_as(identity).rollback(record, log=telemetry.get_logger(incident_id=incident_id), write_ahead=write_ahead)
    done = await parts.move(incident_id, {S.APPLYING}, S.ROLLED_BACK if result.ok else checked.state, user, result.reason)
    await parts.audit(incident_id, user, "rollback", "ok" if result.ok else result.outcome, result.reason[:1000])
    final = done or moved
    await parts.view.step_finished(final, handle, Action.ROLLBACK, user, ok=result.ok, reason=result.reason, phases=result.phases)
    await parts.view.changed(final)
    return ActionOutcome(Action.ROLLBACK, result.ok, None if result.ok else Refusal.FAILED, "" if result.ok else result.reason)
