"""IncidentService: what happens to an incident, from the first request to its close.

Listeners ack at once and hand work here; the service runs it in tracked background tasks,
keeps the store as the source of truth (every state change is an atomic transition there), and
re-renders the Slack thread after each change. One parent message per incident, the diagnosis
as a thread reply, the parent's status line edited in place (notes/slack-ux.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aegis.bot import fixes, messages
from aegis.bot.alertmanager import WebhookPayload, group_target
from aegis.bot.authz import Authorizer
from aegis.bot.observability import Observability
from aegis.bot.render import blocks
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.investigator import Investigator
from aegis.core.models import (
    TERMINAL_STATES,
    AuditRecord,
    Incident,
    IncidentId,
    IncidentSource,
    IncidentState,
    ObjectRef,
)
from aegis.core.remediation.policy import RemediationPolicy
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager
from aegis.core.store.base import IncidentStore

_OPEN_FOR_REJECT = set(IncidentState) - set(TERMINAL_STATES) - {IncidentState.APPLYING}


@dataclass(frozen=True)
class ActionOutcome:
    """What a button click did; `private` is the ephemeral reply for the person who clicked."""

    done: bool
    private: str | None = None


class IncidentService:
    def __init__(
        self,
        *,
        store: IncidentStore,
        chat: ChatClient,
        investigator: Investigator,
        authorizer: Authorizer,
        alert_channel: str | None,
        observability: Observability | None = None,
        shadow: ShadowManager | None = None,
        remediator: Remediator | None = None,
        remediation_policy: RemediationPolicy | None = None,
    ) -> None:
        # None (a read-only snapshot source): Verify, Apply and Roll back answer that they need a live cluster.
        self.shadow = shadow
        self.remediator = remediator
        self.remediation_policy = remediation_policy or RemediationPolicy()
        self._store = store
        self._chat = chat
        self._investigator = investigator
        self._authorizer = authorizer
        self._alert_channel = alert_channel
        self._observability = observability or Observability()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._group_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._refreshing: set[IncidentId] = set()
        self._stale: set[IncidentId] = set()
        self._new_alerts: dict[IncidentId, list[str]] = {}
        self._announcing: set[IncidentId] = set()
        # Investigations are CPU-heavy; a burst of 100 must not starve the acks of everyone else.
        self._investigations = asyncio.Semaphore(4)

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
            telemetry.get_logger(task=task.get_name()).error("bot.task.failed", error=repr(task.exception()))

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

    # --- slash command ---------------------------------------------------------------------------

    async def request_analysis(self, target: ObjectRef, *, user: str, channel: str) -> Incident:
        """Open an incident for `/aegis analyze`, post its parent, and investigate in the background."""
        now = datetime.now(UTC)
        incident = await self._store.create(
            Incident(
                id=await self._store.next_id(),
                source=IncidentSource.SLASH_COMMAND,
                title=f"{target.kind.lower()}/{target.name}",
                severity="warning",
                target=target,
                requested_by=user,
                channel=channel,
                created_at=now,
                updated_at=now,
            )
        )
        telemetry.INCIDENTS.labels(source=incident.source.value, severity=incident.severity, namespace=target.namespace).inc()
        await self._audit(incident.id, user, "analyze", "ok", str(target))
        incident = await self._post_parent(incident, channel)
        self.spawn(self.investigate(incident.id, actor=user), name=f"investigate:{incident.id}", incident_id=incident.id)
        return incident

    async def open_incidents(self) -> list[Incident]:
        return await self._store.list_open()

    # --- investigation ---------------------------------------------------------------------------

    async def investigate(self, incident_id: IncidentId, *, actor: str) -> None:
        log = telemetry.get_logger(incident_id=incident_id)
        incident = await self._store.transition(
            incident_id, allowed_from={IncidentState.OPEN}, to=IncidentState.INVESTIGATING, actor=actor, reason="analysis started"
        )
        if incident is None or incident.target is None:
            return
        await self._refresh_parent(incident)
        # A person who typed /aegis sees "Investigating…" at once; an alert's parent already says INVESTIGATING.
        reply = await self._post_in_thread(incident, blocks.investigating(incident)) if incident.source is IncidentSource.SLASH_COMMAND else None
        log.info("incident.investigate.start", target=str(incident.target))
        try:
            window = self._observability.window(incident)
            diagnosis = await self._investigator.investigate(incident.target, window=window)
        except AegisError as exc:
            telemetry.WORKFLOW_RUNS.labels(stage="analyze", outcome="failed").inc()
            log.warning("incident.investigate.failed", error=str(exc))
            await self._update(incident_id, last_error=str(exc))
            failed = await self._store.transition(
                incident_id, allowed_from={IncidentState.INVESTIGATING}, to=IncidentState.OPEN, actor="aegis", reason=f"analysis failed: {exc}"
            )
            text = messages.analysis_failed(blocks.subject(incident), str(exc))
            await self._replace_reply(
                incident, reply, blocks.SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": blocks.escape(text)}}])
            )
            await self._audit(incident_id, "aegis", "analyze", "failed", str(exc))
            if failed:
                await self._refresh_parent(failed)
            return
        incident = await self._update(incident_id, diagnosis=diagnosis, last_error=None)
        diagnosed = await self._store.transition(
            incident_id,
            allowed_from={IncidentState.INVESTIGATING},
            to=IncidentState.DIAGNOSED,
            actor="aegis",
            reason=f"{diagnosis.rca.category.value} ({diagnosis.rca.confidence:.0%})",
        )
        incident = diagnosed or incident
        telemetry.WORKFLOW_RUNS.labels(stage="analyze", outcome="ok").inc()
        message = blocks.diagnosis_reply(incident, diagnosis, self._observability.links(incident, diagnosis, window), actions=fixes.buttons(incident))
        ts = await self._replace_reply(incident, reply, message)
        if ts:
            incident = await self._update(incident_id, diagnosis_ts=ts)
        await self._audit(incident_id, "aegis", "diagnose", "ok", diagnosis.rca.category.value)
        log.info("incident.investigate.complete", category=diagnosis.rca.category.value, fix=diagnosis.fix is not None)
        await self._refresh_parent(incident)
        await self._observability.post_graph(self._chat, incident, diagnosis, window)

    # --- Alertmanager ----------------------------------------------------------------------------

    async def handle_alerts(self, payload: WebhookPayload) -> Incident | None:
        """One incident and one parent per (receiver, groupKey); repeats edit, new alerts reply, resolved closes."""
        key = (payload.receiver, payload.groupKey)
        lock = self._group_locks.setdefault(key, asyncio.Lock())
        async with lock:
            existing = await self._store.find_by_group(payload.receiver, payload.groupKey)
            closed = existing is None or existing.state in TERMINAL_STATES
            if closed and (payload.status == "resolved" or not payload.firing):
                # A late or repeated resolution of a group already closed: nothing new to tell anyone.
                telemetry.get_logger(group_key=payload.groupKey).info("alert.resolved.no_open_incident", receiver=payload.receiver)
                return existing
            if closed:
                return await self._open_alert_incident(payload)
            assert existing is not None
            return await self._update_alert_incident(existing, payload)

    async def _open_alert_incident(self, payload: WebhookPayload) -> Incident:
        now = datetime.now(UTC)
        target = group_target(payload)
        incident = await self._store.create(
            Incident(
                id=await self._store.next_id(),
                source=IncidentSource.ALERTMANAGER,
                title=payload.title,
                severity=payload.severity,
                target=target,
                channel=self._alert_channel,
                receiver=payload.receiver,
                group_key=payload.groupKey,
                alert_fingerprints=sorted({a.fingerprint for a in payload.firing if a.fingerprint}),
                labels=payload.commonLabels,
                annotations=payload.commonAnnotations,
                created_at=now,
                updated_at=now,
            )
        )
        telemetry.INCIDENTS.labels(source=incident.source.value, severity=incident.severity, namespace=target.namespace if target else "").inc()
        await self._audit(incident.id, "alertmanager", "alert", "ok", payload.title)
        if self._alert_channel:
            incident = await self._post_parent(incident, self._alert_channel)
        else:
            telemetry.get_logger(incident_id=incident.id).error("alert.post.no_channel", hint="set AEGIS_SLACK_CHANNEL")
        if target is not None:
            self.spawn(self.investigate(incident.id, actor="alertmanager"), name=f"investigate:{incident.id}", incident_id=incident.id)
        return incident

    async def _update_alert_incident(self, incident: Incident, payload: WebhookPayload) -> Incident:
        if payload.status == "resolved" or not payload.firing:
            resolved = await self._store.transition(
                incident.id,
                allowed_from=set(IncidentState) - set(TERMINAL_STATES),
                to=IncidentState.RESOLVED,
                actor="alertmanager",
                reason="all alerts resolved",
            )
            if resolved:
                await self._audit(incident.id, "alertmanager", "resolve", "ok", "all alerts resolved")
                await self._post_in_thread(resolved, blocks.SlackMessage(text=messages.resolved_by_alertmanager(), blocks=[]))
                # notes/slack-ux.md: after resolution the buttons go away (Verify/Apply on a healed workload only mislead).
                await fixes.rerender_diagnosis(self, resolved)
                await self._refresh_parent(resolved)
                return resolved
            return incident
        known = set(incident.alert_fingerprints)
        new = [a for a in payload.firing if a.fingerprint and a.fingerprint not in known]
        if new:
            fingerprints = sorted(known | {a.fingerprint for a in new})
            incident = await self._update(incident.id, alert_fingerprints=fingerprints)
            names = [a.labels.get("pod") or a.labels.get("alertname", "alert") for a in new]
            self._announce_new_alerts(incident, names)
        else:
            incident = await self._store.record_repeat(incident.id, []) or incident
        # Not awaited under the group lock: a storm of repeats coalesces into one or two edits.
        self.spawn(self._refresh_parent(incident), name=f"refresh:{incident.id}")
        return incident

    # --- actions ---------------------------------------------------------------------------------

    async def reject(self, incident_id: IncidentId, *, revision: int, user: str, reason: str) -> ActionOutcome:
        """Close the incident as rejected; a second click, a stale proposal or an unauthorized user changes nothing."""
        incident = await self._store.get(incident_id)
        if incident is None:
            return ActionOutcome(False, messages.unknown_incident(incident_id))
        decision = await self._authorizer.check(user)
        if not decision.allowed:
            await self._audit(incident_id, user, "reject", "refused", decision.reason)
            return ActionOutcome(False, messages.not_authorized("reject"))
        if revision != incident.proposal_revision:
            await self._audit(incident_id, user, "reject", "noop", f"stale proposal r{revision}")
            return ActionOutcome(False, messages.outdated_proposal(incident_id))
        rejected = await self._store.transition(incident_id, allowed_from=_OPEN_FOR_REJECT, to=IncidentState.REJECTED, actor=user, reason=reason)
        if rejected is None:
            current = await self._store.get(incident_id)
            await self._audit(incident_id, user, "reject", "noop", f"state {current.state.value if current else '?'}")
            return ActionOutcome(False, messages.already_closed(incident_id, current.state.value if current else "closed"))
        await self._audit(incident_id, user, "reject", "ok", reason)
        await self._post_in_thread(rejected, blocks.closed_note(rejected, user, "Rejected", reason, datetime.now(UTC)))
        await self._strip_buttons(rejected, f"Rejected by <@{user}>: no further actions.")
        await self._refresh_parent(rejected)
        return ActionOutcome(True)

    async def verify(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Prove the fix in a shadow copy (bot/fixes.py); the verdict and its evidence go in the thread."""
        return await fixes.verify(self, incident_id, revision=revision, user=user)

    async def apply(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Apply the fix after the policy gate, watch the rollout, keep the previous state (bot/fixes.py)."""
        return await fixes.apply(self, incident_id, revision=revision, user=user)

    async def rollback(self, incident_id: IncidentId, *, revision: int, user: str) -> ActionOutcome:
        """Restore what Apply replaced, if the workload is still as AEGIS left it (bot/fixes.py)."""
        return await fixes.rollback(self, incident_id, revision=revision, user=user)

    # --- Slack plumbing --------------------------------------------------------------------------

    def _announce_new_alerts(self, incident: Incident, names: list[str]) -> None:
        """One thread reply per batch of newly firing alerts: while a reply is being posted, later ones queue into the next."""
        self._new_alerts.setdefault(incident.id, []).extend(names)
        if incident.id not in self._announcing:
            self._announcing.add(incident.id)
            self.spawn(self._post_new_alerts(incident), name=f"new-alerts:{incident.id}")

    async def _post_new_alerts(self, incident: Incident) -> None:
        try:
            while batch := self._new_alerts.pop(incident.id, []):
                await self._post_in_thread(incident, blocks.SlackMessage(text=messages.new_alerts_firing(len(batch), batch), blocks=[]))
        finally:
            self._announcing.discard(incident.id)

    async def _post_parent(self, incident: Incident, channel: str) -> Incident:
        message = blocks.parent(incident)
        try:
            ref = await self._chat.post_message(channel, message.text, message.blocks)
        except ChatError as exc:
            await self._record_post_failure(incident, exc)
            return incident
        return await self._update(incident.id, channel=ref.channel, thread_ts=ref.ts)

    async def _refresh_parent(self, incident: Incident) -> None:
        """Re-render the parent from the store. Edits coalesce: while one is in flight (Slack paces
        a channel to about one call a second), later requests only mark it stale, and the one in
        flight renders once more at the end — a burst of 20 repeats is two edits, not twenty."""
        if incident.id in self._refreshing:
            self._stale.add(incident.id)
            return
        self._refreshing.add(incident.id)
        try:
            while True:
                self._stale.discard(incident.id)
                fresh = await self._store.get(incident.id) or incident
                if not (fresh.channel and fresh.thread_ts):
                    return
                message = blocks.parent(fresh)
                try:
                    await self._chat.update_message(fresh.channel, fresh.thread_ts, message.text, message.blocks)
                except ChatError as exc:
                    await self._record_post_failure(fresh, exc)
                if incident.id not in self._stale:
                    return
        finally:
            self._refreshing.discard(incident.id)

    async def _post_in_thread(self, incident: Incident, message: blocks.SlackMessage) -> str | None:
        fresh = await self._store.get(incident.id) or incident
        if not (fresh.channel and fresh.thread_ts):
            return None
        try:
            ref = await self._chat.post_message(fresh.channel, message.text, message.blocks or None, thread_ts=fresh.thread_ts)
        except ChatError as exc:
            await self._record_post_failure(fresh, exc)
            return None
        return ref.ts

    async def _replace_reply(self, incident: Incident, reply_ts: str | None, message: blocks.SlackMessage) -> str | None:
        """Turn the 'Investigating…' reply into the result; post anew if there was none."""
        fresh = await self._store.get(incident.id) or incident
        if reply_ts and fresh.channel:
            try:
                await self._chat.update_message(fresh.channel, reply_ts, message.text, message.blocks)
                return reply_ts
            except ChatError as exc:
                await self._record_post_failure(fresh, exc)
        return await self._post_in_thread(fresh, message)

    async def _strip_buttons(self, incident: Incident, note: str) -> None:
        if not (incident.channel and incident.diagnosis_ts and incident.diagnosis):
            return
        message = blocks.diagnosis_reply(incident, incident.diagnosis, self._observability.links(incident, incident.diagnosis), actions=())
        try:
            await self._chat.update_message(incident.channel, incident.diagnosis_ts, message.text, blocks.superseded(message.blocks, note))
        except ChatError as exc:
            await self._record_post_failure(incident, exc)

    async def _record_post_failure(self, incident: Incident, exc: ChatError) -> None:
        # Nothing is dropped silently: the failure is on the incident (and in /aegis status) and in the log.
        telemetry.get_logger(incident_id=incident.id).error("slack.post.failed", error=str(exc))
        await self._update(incident.id, last_error=messages.post_failed(str(exc)))
        await self._audit(incident.id, "aegis", "post", "failed", str(exc))

    async def _update(self, incident_id: IncidentId, **fields: Any) -> Incident:
        updated = await self._store.update(incident_id, **fields)
        if updated is None:
            raise LookupError(f"incident {incident_id} vanished from the store")
        return updated

    async def _audit(self, incident_id: IncidentId, actor: str, action: str, outcome: str, detail: str) -> None:
        await self._store.add_audit(AuditRecord(incident_id=incident_id, actor=actor, action=action, outcome=outcome, detail=detail, at=datetime.now(UTC)))
