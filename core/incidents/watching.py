"""The watch after Apply: for AEGIS_APPLY_WATCH_SECONDS, does the fix hold?

Restarts stay flat, the pods stay Ready, no Warning that means they cannot be healthy, and for an
incident that came from an alert, the alert resolves. A regression is posted with its evidence and,
with AEGIS_AUTO_ROLLBACK, rolled back by AEGIS on the approver's behalf (otherwise Roll back is offered,
as it is for any applied incident). Only after the whole window does the parent say the fix held.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.incidents import fixing
from aegis.core.incidents.parts import Parts
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState
from aegis.core.remediation import watch

S = IncidentState


async def watch_after_apply(parts: Parts, incident_id: IncidentId, *, approver: str) -> None:
    seconds = parts.policy.apply_watch_seconds
    incident = await parts.store.get(incident_id)
    if seconds <= 0 or parts.remediator is None or incident is None or incident.diagnosis is None or incident.diagnosis.fix is None:
        return
    log = telemetry.get_logger(incident_id=incident_id)
    ref = incident.diagnosis.fix.target
    started = datetime.now(UTC)
    until = started + timedelta(seconds=seconds)
    watched = await parts.store.update(incident_id, watch=f"watching the fix until {until.strftime('%H:%M:%S')} UTC") or incident
    await parts.view.changed(watched)
    log.info("remediation.watch.start", seconds=seconds, target=str(ref))
    interval = min(5.0, max(0.5, seconds / 20))
    ready_grace = min(60.0, seconds / 3)
    try:
        baseline = await parts.remediator.observe(ref, started)
        short_since: float | None = None
        while datetime.now(UTC) < until:
            await asyncio.sleep(interval)
            current = await parts.store.get(incident_id)
            if current is None or current.state not in (S.APPLIED, S.RESOLVED):
                log.info("remediation.watch.ended", reason=f"state {current.state.value if current else '?'}")
                return  # rolled back (or otherwise moved on) by a person: nothing left to watch
            seen = await parts.remediator.observe(ref, started)
            short_since = (short_since or time.monotonic()) if seen.ready < seen.desired else None
            why = watch.regression(baseline, seen, not_ready_for=time.monotonic() - short_since if short_since else 0.0, ready_grace=ready_grace)
            if why:
                await _regressed(parts, current, approver, why, seen)
                return
    except AegisError as exc:
        # The API server went away mid-watch: say the fix was not confirmed, rather than that it held.
        log.warning("remediation.watch.failed", error=str(exc))
        failed = await parts.store.update(incident_id, watch=f"not confirmed: the watch failed ({exc})")
        if failed:
            await parts.view.changed(failed)
        return
    final = await parts.store.get(incident_id)
    if final is None:
        return
    if final.source is IncidentSource.ALERTMANAGER and final.state is not S.RESOLVED:
        await _regressed(parts, final, approver, f"the alert is still firing {seconds:.0f}s after the fix", None)
        return
    held = await parts.store.update(incident_id, watch=f"held for {seconds:.0f}s after Apply") or final
    await parts.audit(incident_id, "aegis", "watch", "held", f"{seconds:.0f}s: restarts flat, pods Ready, no Warning")
    log.info("remediation.watch.held", seconds=seconds)
    await parts.view.watch_finished(held, held=True, note=f"The fix held for {seconds:.0f}s: restarts flat, pods Ready, no Warning events.")


async def _regressed(parts: Parts, incident: Incident, approver: str, why: str, seen: watch.Observation | None) -> None:
    evidence = f"{why}." + (f" Now: {seen.ready}/{seen.desired} Ready, {seen.restarts} restarts." if seen else "")
    telemetry.get_logger(incident_id=incident.id).warning("remediation.watch.regressed", reason=why)
    await parts.audit(incident.id, "aegis", "watch", "regressed", evidence)
    updated = await parts.store.update(incident.id, watch=f"regressed: {why}") or incident
    auto = parts.policy.auto_rollback and updated.state is S.APPLIED
    next_step = " AEGIS rolls it back (AEGIS_AUTO_ROLLBACK)." if auto else " Roll back is offered on the diagnosis." if updated.state is S.APPLIED else ""
    await parts.view.watch_finished(updated, held=False, note=f"The fix did not hold: {evidence}{next_step}")
    if auto:
        await fixing.rollback_on_behalf(parts, incident.id, approver=approver, why=why)
