"""IncidentService: what happens to an incident, from the first request or alert to its close.

Surfaces (the Slack listeners, the CLI, the demo) hand work here and return at once; the service
runs it in tracked background tasks, keeps the store as the source of truth (every state change is a
compare-and-set there, so replicas cannot both win), and tells the view after each change. Verify,
Apply and Roll back live in `fixing`; what a crash leaves behind, in `recovery`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from aegis.core import telemetry
from aegis.core.errors import AegisError, UsageError
from aegis.core.incidents import alerts, fixing, states, watching
from aegis.core.incidents.alerts import AlertGroupUpdate, WorkloadAlerts
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.states import Action
from aegis.core.incidents.view import ActionOutcome, Refusal
from aegis.core.models import TERMINAL_STATES, Incident, IncidentId, IncidentSource, IncidentState, ObjectRef
from aegis.core.store.base import IncidentExistsError

S = IncidentState


class IncidentService:
    def __init__(self, parts: Parts, *, max_investigations: int = 4) -> None:
        self.parts = parts
        self._tasks: set[asyncio.Task[Any]] = set()
        self._group_locks: dict[tuple[str, str], asyncio.Lock] = {}
        # Investigations are CPU-heavy; a burst of 100 must not starve the acks of everyone else.
        self._investigations = asyncio.Semaphore(max_investigations)

    # --- background work -------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str, incident_id: IncidentId | None = None) -> asyncio.Task[Any]:
        """Run work after the ack; tracked so shutdown (and tests) can wait for it. With `incident_id`,
        every log event of the work carries it (structlog context variables)."""
        context = telemetry.incident_task_context(incident_id) if incident_id else None
        task = asyncio.create_task(coro, name=name, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            telemetry.get_logger(task=task.get_name()).error("incident.task.failed", error=repr(task.exception()))

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for background work, including work it spawns (shutdown, tests); cancel what is left at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                pending = set(self._tasks)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)

    # --- opening ---------------------------------------------------------------------------------

    async def request_analysis(self, target: ObjectRef, *, user: str, channel: str) -> Incident:
        """Open an incident for a person's request, show it, and investigate in the background.

        UsageError (nothing opened, audited) when the channel may not look at the target's namespace."""
        if not self.parts.policy.serves(channel, target.namespace):
            await self.parts.audit(IncidentId("-"), user, "analyze", "refused", f"namespace {target.namespace} not served in channel {channel}")
            raise UsageError(f"namespace {target.namespace} is not served in this channel (AEGIS_CHANNEL_NAMESPACES, protected namespaces)")
        now = datetime.now(UTC)
        incident = await self.parts.store.create(
            Incident(
                id=await self.parts.store.next_id(),
                source=IncidentSource.SLASH_COMMAND,
                title=f"{target.kind.lower()}/{target.name}",
                severity="warning",
                target=target,
                requested_by=user,
                channel=channel,
                worker=self.parts.replica,  # this replica shows it and starts its investigation
                created_at=now,
                updated_at=now,
            )
        )
        telemetry.INCIDENTS.labels(source=incident.source.value, severity=incident.severity, namespace=target.namespace).inc()
        await self.parts.audit(incident.id, user, "analyze", "ok", str(target))
        incident = await self.parts.view.opened(incident)
        self.spawn(self.investigate(incident.id, actor=user), name=f"investigate:{incident.id}", incident_id=incident.id)
        return incident

    async def reanalyze(self, incident_id: IncidentId, *, user: str, channel: str) -> Incident | None:
        """A new analysis of an incident's target (its proposal expired or the workload changed); None when unknown."""
        old = await self.parts.store.get(incident_id)
        if old is None or old.target is None:
            return None
        await self.parts.audit(incident_id, user, "reanalyze", "ok", str(old.target))
        return await self.request_analysis(old.target, user=user, channel=channel)

    async def open_incidents(self) -> list[Incident]:
        return await self.parts.store.list_open()

    # --- investigation ---------------------------------------------------------------------------

    async def investigate(self, incident_id: IncidentId, *, actor: str) -> None:
        parts = self.parts
        log = telemetry.get_logger(incident_id=incident_id)
        incident = await parts.move(incident_id, states.allowed_from(Action.INVESTIGATE), S.INVESTIGATING, actor, "analysis started", mine=True)
        if incident is None or incident.target is None:
            return
        # The parent's edit waits its turn in Slack's pace; the investigation does not wait for it.
        self.spawn(parts.view.changed(incident), name=f"refresh:{incident.id}", incident_id=incident.id)
        handle = await parts.view.investigating(incident)
        log.info("incident.investigate.start", target=str(incident.target))
        try:
            async with self._investigations:
                diagnosis = await parts.investigator.investigate(incident.target, window=parts.window(incident))
        except AegisError as exc:
            telemetry.WORKFLOW_RUNS.labels(stage="analyze", outcome="failed").inc()
            log.warning("incident.investigate.failed", error=str(exc))
            await parts.store.update(incident_id, last_error=str(exc))
            failed = await parts.move(incident_id, {S.INVESTIGATING}, S.OPEN, "aegis", f"analysis failed: {exc}")
            await parts.view.analysis_failed(failed or incident, handle, str(exc))
            await parts.audit(incident_id, "aegis", "analyze", "failed", str(exc))
            if failed:
                await parts.view.changed(failed)
            return
        await parts.store.update(incident_id, diagnosis=diagnosis, last_error=None)
        reason = f"{diagnosis.rca.category.value} ({diagnosis.rca.confidence:.0%})"
        diagnosed = await parts.move(incident_id, {S.INVESTIGATING}, S.DIAGNOSED, "aegis", reason)
        telemetry.WORKFLOW_RUNS.labels(stage="analyze", outcome="ok").inc()
        await parts.view.diagnosed(diagnosed or await parts.fresh(incident), handle)
        await parts.audit(incident_id, "aegis", "diagnose", "ok", diagnosis.rca.category.value)
        log.info("incident.investigate.complete", category=diagnosis.rca.category.value, fix=diagnosis.fix is not None)

    # --- Alertmanager ----------------------------------------------------------------------------

    async def handle_alerts(self, update: AlertGroupUpdate) -> list[Incident]:
        """Each workload's alerts join its one incident, under any alert name: new alerts reply once,
        repeats edit, and the parent is edited when every alert of it has resolved."""
        handled = []
        for part in await self._by_workload(update):
            incident = await self._handle_workload_alerts(update, part)
            if incident is not None:
                handled.append(incident)
        return handled

    async def _by_workload(self, update: AlertGroupUpdate) -> list[WorkloadAlerts]:
        """The notification's alerts split by the workload their pod belongs to; alerts naming none stay with their group."""
        parts: dict[str, WorkloadAlerts] = {}
        owners: dict[str, ObjectRef] = {}
        for alert in update.alerts:
            workload = alert.target
            if workload is not None and self.parts.policy.serves(self.parts.alert_channel, workload.namespace):
                # Not looked up in a namespace this channel does not serve: the incident only records it.
                if str(workload) not in owners:
                    owners[str(workload)] = await self.parts.investigator.workload_of(workload)
                workload = owners[str(workload)]
            key = alerts.workload_key(workload) if workload is not None else update.group_key
            parts.setdefault(key, WorkloadAlerts(key=key, target=workload, alerts=[])).alerts.append(alert)
        return list(parts.values())

    async def _handle_workload_alerts(self, update: AlertGroupUpdate, part: WorkloadAlerts) -> Incident | None:
        lock = self._group_locks.setdefault((update.receiver, part.key), asyncio.Lock())
        async with lock:
            existing = await self.parts.store.find_by_group(update.receiver, part.key)
            firing = [a for a in part.alerts if a.firing and not update.resolved]
            if existing is not None and existing.state in TERMINAL_STATES:
                known = set(existing.alert_fingerprints)
                if existing.state is not S.RESOLVED and firing and all(a.fingerprint in known for a in firing):
                    # Alerts a person already closed (rejected, rolled back) firing on: a repeat, never a new thread.
                    return await self._update_alert_incident(existing, update, part)
                if not firing:
                    # A late or repeated resolution of an incident already closed: nothing new to tell anyone.
                    telemetry.get_logger(incident_id=existing.id).info("alert.resolved.already_closed", key=part.key)
                    return existing
                existing = None
            if existing is None:
                if not firing:
                    telemetry.get_logger(group_key=update.group_key).info("alert.resolved.no_open_incident", receiver=update.receiver, key=part.key)
                    return None
                try:
                    return await self._open_alert_incident(update, part)
                except IncidentExistsError:
                    # Another replica opened it a moment ago: this notification joins that incident.
                    existing = await self.parts.store.find_by_group(update.receiver, part.key)
                    if existing is None:
                        raise
                    telemetry.get_logger(incident_id=existing.id).info("alert.open.joined_other_replica", key=part.key)
            return await self._update_alert_incident(existing, update, part)

    async def _open_alert_incident(self, update: AlertGroupUpdate, part: WorkloadAlerts) -> Incident:
        now = datetime.now(UTC)
        target, title = part.target, update.title
        if target is not None and not self.parts.policy.serves(self.parts.alert_channel, target.namespace):
            # Recorded (and its thread says why), not investigated: the alert channel does not serve that namespace.
            title = f"{update.title} (namespace {target.namespace} not served here)"
            target = None
        known, _ = alerts.merged([], part.alerts, all_resolved=update.resolved)
        incident = await self.parts.store.create(
            Incident(
                id=await self.parts.store.next_id(),
                source=IncidentSource.ALERTMANAGER,
                title=title,
                severity=update.severity,
                target=target,
                channel=self.parts.alert_channel,
                receiver=update.receiver,
                group_key=part.key,
                alert_fingerprints=sorted({a.fingerprint for a in part.alerts}),
                alerts=known,
                labels=update.labels,
                annotations=update.annotations,
                alertmanager_url=update.external_url or None,
                generator_url=update.generator_url or None,
                worker=self.parts.replica,  # this replica shows it and starts its investigation
                created_at=now,
                updated_at=now,
            )
        )
        telemetry.INCIDENTS.labels(source=incident.source.value, severity=incident.severity, namespace=target.namespace if target else "").inc()
        await self.parts.audit(incident.id, "alertmanager", "alert", "ok", title)
        if self.parts.alert_channel:
            incident = await self.parts.view.opened(incident)
        else:
            telemetry.get_logger(incident_id=incident.id).error("alert.post.no_channel", hint="set AEGIS_SLACK_CHANNEL")
        if target is not None:
            self.spawn(self.investigate(incident.id, actor="alertmanager"), name=f"investigate:{incident.id}", incident_id=incident.id)
        return incident

    async def _update_alert_incident(self, incident: Incident, update: AlertGroupUpdate, part: WorkloadAlerts) -> Incident:
        parts = self.parts
        if unshown(incident):
            # Its first showing failed (Slack down, a bad message): this notification shows it now.
            incident = await self.show_again(incident)
        known, new = alerts.merged(incident.alerts, part.alerts, all_resolved=update.resolved)
        fingerprints = sorted(set(incident.alert_fingerprints) | {a.fingerprint for a in part.alerts})
        if known != incident.alerts or fingerprints != incident.alert_fingerprints:
            incident = await parts.store.update(incident.id, alerts=known, alert_fingerprints=fingerprints) or incident
        else:
            incident = await parts.store.record_repeat(incident.id, []) or incident
        if learned := alerts.links_learned(incident, update):
            incident = await parts.store.update(incident.id, **learned) or incident
        if incident.state not in TERMINAL_STATES and not any(a.firing for a in known):
            resolved = await parts.move(incident.id, states.allowed_from(Action.RESOLVE), S.RESOLVED, "alertmanager", "all alerts resolved")
            if resolved is None:
                # Mid-apply: the apply finishes first; the resolution is recorded, not lost.
                await parts.audit(incident.id, "alertmanager", "resolve", "deferred", f"state {incident.state.value}")
                return incident
            await parts.audit(incident.id, "alertmanager", "resolve", "ok", "all alerts resolved")
            await parts.view.closed(resolved, actor="alertmanager", how="resolved", reason="all alerts resolved")
            return resolved
        if new:
            await parts.audit(incident.id, "alertmanager", "alert", "joined", ", ".join(sorted({f"{a.alertname} {a.pod}".strip() for a in new}))[:300])
            self.spawn(
                parts.view.alerts_added(incident, [f"{a.alertname} on {a.pod}" if a.pod else a.alertname for a in new]), name=f"new-alerts:{incident.id}"
            )
        # Not awaited under the lock: a storm of repeats coalesces into one or two edits.
        self.spawn(parts.view.changed(incident), name=f"refresh:{incident.id}")
        return incident

    async def show_again(self, incident: Incident) -> Incident:
        """Show an incident whose first showing failed, with its diagnosis if it has one."""
        shown = await self.parts.view.opened(incident)
        if shown.thread_ts and shown.diagnosis is not None and not shown.diagnosis_ts:
            await self.parts.view.diagnosed(shown, None)
            shown = await self.parts.fresh(shown)
        return shown

    # --- a person's actions ----------------------------------------------------------------------

    async def reject(self, incident_id: IncidentId, *, revision: int, user: str, reason: str) -> ActionOutcome:
        """Close the incident as rejected; a second click, a stale proposal or an unauthorized user changes nothing."""
        parts = self.parts
        checked = await fixing.precheck(parts, incident_id, revision, user, Action.REJECT, needs_fix=False, needs_cluster=False)
        if isinstance(checked, ActionOutcome):
            return checked
        rejected = await parts.move(incident_id, states.allowed_from(Action.REJECT), S.REJECTED, user, reason)
        if rejected is None:
            return await fixing.not_now(parts, incident_id, user, Action.REJECT)
        await parts.audit(incident_id, user, "reject", "ok", reason)
        await parts.view.closed(rejected, actor=user, how="rejected", reason=reason)
        return ActionOutcome(Action.REJECT, True)

    async def verify(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Prove the fix in a shadow copy; the verdict and its evidence go to the view."""
        return await fixing.verify(self.parts, incident_id, revision=revision, user=user)

    async def apply(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Apply the fix after the policy gate, with a write-ahead record, watch the rollout, then watch that it holds."""
        outcome = await fixing.apply(self.parts, incident_id, revision=revision, user=user)
        if outcome.done:
            self.spawn(watching.watch_after_apply(self.parts, incident_id, approver=user), name=f"watch:{incident_id}", incident_id=incident_id)
        return outcome

    async def rollback(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Restore what Apply replaced, if the workload is still as AEGIS left it."""
        return await fixing.rollback(self.parts, incident_id, revision=revision, user=user)


def unshown(incident: Incident, live: frozenset[str] | None = None) -> bool:
    """An incident whose parent never made it to its channel: the post failed (recorded as last_error), or the
    replica that was showing it is gone (`live`: the replicas alive, when known). One still queued behind
    Slack's pace on a live replica is not unshown: showing it again would open a second thread."""
    if not incident.channel or incident.thread_ts:
        return False
    # Its parent is posted before its investigation starts: one that got past investigating without a thread failed to post.
    past_first_showing = incident.state not in (S.OPEN, S.INVESTIGATING)
    return incident.last_error is not None or past_first_showing or (live is not None and incident.worker not in live)


__all__ = ["ActionOutcome", "IncidentService", "Refusal", "unshown"]
