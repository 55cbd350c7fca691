"""SlackThread: an incident's Slack view. Core's lifecycle tells it what changed; it renders and posts.

One parent message per incident, edited in place as the state changes (edits coalesce: while one is in
flight, later ones only mark it stale, so a burst of 20 repeats is two edits); the investigation, the
diagnosis with the buttons of the current state, each Verify / Apply / Roll back and its result as thread
replies (notes/slack-ux.md). A post that fails is recorded on the incident, never raised: the lifecycle
goes on, and a later notification or recovery shows what could not be posted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from aegis.bot import messages
from aegis.bot.observability import Observability
from aegis.bot.render import blocks, lifecycle
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.incidents import fixing, records, silencing
from aegis.core.incidents.states import Action
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState, PhaseTiming, VerificationResult
from aegis.core.remediation.policy import RemediationPolicy
from aegis.core.store.base import IncidentStore

ACTION_IDS: dict[Action, str] = {
    Action.VERIFY: blocks.ACTION_VERIFY,
    Action.APPLY: blocks.ACTION_APPLY,
    Action.ROLLBACK: blocks.ACTION_ROLLBACK,
    Action.REJECT: blocks.ACTION_REJECT,
}
ACTIONS_BY_ID = {action_id: action for action, action_id in ACTION_IDS.items()}
_VERBS = {Action.VERIFY: "Verify in shadow", Action.APPLY: "Apply fix", Action.ROLLBACK: "Roll back"}
_WORKING = {Action.APPLY: "Applying the fix to", Action.ROLLBACK: "Rolling back"}


def buttons(incident: Incident, policy: RemediationPolicy) -> tuple[str, ...]:
    """The action ids of the buttons to show: the lifecycle table's for the state, narrowed by the namespace's mode."""
    return tuple(ACTION_IDS[a] for a in fixing.offered(policy, incident))


def parent_buttons(incident: Incident, *, silencing_configured: bool) -> tuple[str, ...]:
    """The action ids of the parent's buttons: I'm on it, Silence 1 h / 4 h / 24 h or Unsilence (silencing.offered)."""
    ids: list[str] = []
    for action in silencing.offered(incident, configured=silencing_configured):
        if action is Action.SILENCE:
            ids.extend(blocks.ACTION_SILENCE.values())
        else:
            ids.append(blocks.ACTION_ACK if action is Action.ACK else blocks.ACTION_UNSILENCE)
    return tuple(ids)


class SlackThread:
    """IncidentView on Slack."""

    def __init__(
        self,
        store: IncidentStore,
        chat: ChatClient,
        observability: Observability | None = None,
        policy: RemediationPolicy | None = None,
        *,
        silencing_configured: bool = False,
    ) -> None:
        self._store = store
        # Whether Alertmanager's API is configured (AEGIS_ALERTMANAGER_URL): the Silence buttons only then.
        self._silencing = silencing_configured
        self._policy = policy or RemediationPolicy()
        self._chat = chat
        self._observability = observability or Observability()
        self._refreshing: set[IncidentId] = set()
        self._stale: set[IncidentId] = set()
        self._new_alerts: dict[IncidentId, list[str]] = {}
        self._announcing: set[IncidentId] = set()
        # What each diagnosis reply shows now: a repeat alert changes none of it, so it costs no edit.
        self._diagnosis_shown: dict[IncidentId, tuple[object, ...]] = {}

    # --- IncidentView ----------------------------------------------------------------------------

    async def opened(self, incident: Incident) -> Incident:
        if not incident.channel:
            return incident
        message = self._parent(incident)
        try:
            ref = await self._chat.post_message(incident.channel, message.text, message.blocks)
        except ChatError as exc:
            await self._post_failed(incident, exc)
            return await self._fresh(incident)
        return await self._store.update(incident.id, channel=ref.channel, thread_ts=ref.ts, last_error=None) or incident

    async def changed(self, incident: Incident) -> None:
        await self._refresh_parent(incident)
        await self._rerender_diagnosis(await self._fresh(incident))

    async def investigating(self, incident: Incident) -> str | None:
        # A person who typed /aegis sees "Investigating…" at once; an alert's parent already says so.
        if incident.source is not IncidentSource.SLASH_COMMAND:
            return None
        return await self._reply(incident, blocks.investigating(incident))

    async def diagnosed(self, incident: Incident, handle: str | None) -> None:
        fresh = await self._fresh(incident)
        diagnosis = fresh.diagnosis
        if diagnosis is None:
            return
        window = self._observability.window(fresh)
        message = blocks.diagnosis_reply(fresh, diagnosis, self._observability.links(fresh, diagnosis, window), actions=buttons(fresh, self._policy))
        ts = await self._replace(fresh, handle, message)
        if ts:
            fresh = await self._store.update(fresh.id, diagnosis_ts=ts) or fresh
            self._diagnosis_shown[fresh.id] = (fresh.state, fresh.proposal_revision, fresh.diagnosis_ts, buttons(fresh, self._policy))
        await self._refresh_parent(fresh)
        await self._observability.post_graph(self._chat, fresh, diagnosis, window)

    async def analysis_failed(self, incident: Incident, handle: str | None, error: str) -> None:
        text = messages.analysis_failed(blocks.subject(incident), error)
        message = blocks.SlackMessage(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": blocks.escape(text)}}])
        await self._replace(incident, handle, message)

    async def alerts_added(self, incident: Incident, names: Sequence[str]) -> None:
        """One thread reply per batch of newly joined alerts, once the diagnosis is out: alerts arriving while
        it is being posted, or while the incident is still investigating, queue into the same reply."""
        self._new_alerts.setdefault(incident.id, []).extend(names)
        if incident.id in self._announcing:
            return
        self._announcing.add(incident.id)
        try:
            await self._until_answered(incident)
            while batch := self._new_alerts.pop(incident.id, []):
                await self._reply(incident, blocks.SlackMessage(text=messages.new_alerts_firing(len(batch), batch), blocks=[]), urgent=False)
        finally:
            self._announcing.discard(incident.id)

    async def _until_answered(self, incident: Incident, poll: float = 2.0, limit: float = 300.0) -> None:
        # The diagnosis is what the on-call waits for; a note about more alerts goes after it. Polled
        # in the store, since another replica may be the one investigating.
        waited = 0.0
        while waited < limit:
            fresh = await self._fresh(incident)
            if fresh.diagnosis_ts or fresh.state not in (IncidentState.OPEN, IncidentState.INVESTIGATING) or fresh.last_error:
                return
            await asyncio.sleep(poll)
            waited += poll

    async def closed(self, incident: Incident, *, actor: str, how: str, reason: str) -> None:
        if how == "resolved" and actor == "alertmanager":
            await self._reply(incident, blocks.SlackMessage(text=messages.resolved_by_alertmanager(), blocks=[]))
        else:
            await self._reply(incident, blocks.closed_note(incident, actor, how.capitalize(), reason, datetime.now(UTC)))
        # notes/slack-ux.md: after the close the buttons go away (Verify/Apply on a closed incident only mislead).
        await self.changed(incident)

    async def step_started(self, incident: Incident, step: Action, actor: str) -> str | None:
        if step is Action.VERIFY:
            return await self._reply(incident, lifecycle.verifying(incident, [], actor))
        return await self._reply(incident, lifecycle.working(incident, _WORKING[step], actor))

    async def step_progress(self, incident: Incident, handle: str | None, step: Action, actor: str, phases: Sequence[PhaseTiming]) -> None:
        if handle is not None and step is Action.VERIFY:  # without a progress reply to edit, only the verdict is posted
            await self._replace(incident, handle, lifecycle.verifying(incident, phases, actor))

    async def step_finished(
        self,
        incident: Incident,
        handle: str | None,
        step: Action,
        actor: str,
        *,
        ok: bool,
        reason: str,
        phases: Sequence[PhaseTiming],
        verification: VerificationResult | None = None,
    ) -> None:
        message = lifecycle.verdict(incident, verification) if verification else lifecycle.action_result(incident, _VERBS[step], actor, ok, reason, phases)
        await self._replace(incident, handle, message)

    async def watch_finished(self, incident: Incident, *, held: bool, note: str) -> None:
        await self._reply(incident, blocks.SlackMessage(text=messages.watch_result(incident.id, held, note), blocks=[]))
        await self.changed(incident)

    async def interrupted(self, incident: Incident, step: Action, note: str) -> None:
        await self._reply(incident, blocks.SlackMessage(text=messages.step_interrupted(incident.id, note), blocks=[]))

    async def noted(self, incident: Incident, action: Action, actor: str, *, previous: str | None = None) -> None:
        # The parent carries the state (owner, "silenced until"); the reply records who did it, when.
        await self._refresh_parent(incident)
        if action is Action.SILENCE and incident.silence is not None:
            text = messages.silenced(actor, blocks.date_token(incident.silence.until), blocks.link_url(incident.silence.url or ""))
        elif action is Action.UNSILENCE:
            text = messages.unsilenced(actor)
        else:
            text = messages.owner_taken(actor, previous)
        await self._reply(incident, blocks.note(text))

    # --- Slack plumbing --------------------------------------------------------------------------

    async def _fresh(self, incident: Incident) -> Incident:
        return await self._store.get(incident.id) or incident

    def _parent(self, incident: Incident) -> blocks.SlackMessage:
        return blocks.parent(incident, parent_buttons(incident, silencing_configured=self._silencing))

    async def _refresh_parent(self, incident: Incident) -> None:
        if incident.id in self._refreshing:
            self._stale.add(incident.id)
            return
        self._refreshing.add(incident.id)
        try:
            while True:
                self._stale.discard(incident.id)
                fresh = await self._fresh(incident)
                if not (fresh.channel and fresh.thread_ts):
                    return
                message = self._parent(fresh)
                try:
                    await self._chat.update_message(fresh.channel, fresh.thread_ts, message.text, message.blocks)
                except ChatError as exc:
                    await self._post_failed(fresh, exc)
                if incident.id not in self._stale:
                    return
        finally:
            self._refreshing.discard(incident.id)

    async def _rerender_diagnosis(self, incident: Incident) -> None:
        """The diagnosis reply with the buttons of the current state; none left once nothing can be done."""
        if not (incident.channel and incident.diagnosis_ts and incident.diagnosis):
            return
        actions = buttons(incident, self._policy)
        shown = (incident.state, incident.proposal_revision, incident.diagnosis_ts, actions)
        if self._diagnosis_shown.get(incident.id) == shown:
            return
        message = blocks.diagnosis_reply(incident, incident.diagnosis, self._observability.links(incident, incident.diagnosis), actions=actions)
        note = f"{blocks.status_word(incident.state)} since {blocks.date_token(datetime.now(UTC), '{time}')}"
        body = message.blocks if actions else blocks.superseded(message.blocks, note)
        try:
            await self._chat.update_message(incident.channel, incident.diagnosis_ts, message.text, body)
            self._diagnosis_shown[incident.id] = shown
        except ChatError as exc:
            await self._post_failed(incident, exc)

    async def _reply(self, incident: Incident, message: blocks.SlackMessage, *, urgent: bool = True) -> str | None:
        fresh = await self._fresh(incident)
        if not (fresh.channel and fresh.thread_ts):
            return None
        try:
            ref = await self._chat.post_message(fresh.channel, message.text, message.blocks or None, thread_ts=fresh.thread_ts, urgent=urgent)
        except ChatError as exc:
            await self._post_failed(fresh, exc)
            return None
        return ref.ts

    async def _replace(self, incident: Incident, handle: str | None, message: blocks.SlackMessage) -> str | None:
        """Turn a reply (e.g. 'Investigating…') into the result; post anew if there was none."""
        fresh = await self._fresh(incident)
        if handle and fresh.channel:
            try:
                await self._chat.update_message(fresh.channel, handle, message.text, message.blocks)
                return handle
            except ChatError as exc:
                await self._post_failed(fresh, exc)
        return await self._reply(fresh, message)

    async def _post_failed(self, incident: Incident, exc: ChatError) -> None:
        # Nothing is dropped silently: the failure is on the incident (and in /aegis status) and in the log.
        telemetry.get_logger(incident_id=incident.id).error("slack.post.failed", error=str(exc))
        await self._store.update(incident.id, last_error=messages.post_failed(str(exc)))
        await records.add(self._store, incident.id, "aegis", "post", "failed", str(exc))
