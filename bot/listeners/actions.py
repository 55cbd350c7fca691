"""Buttons and modals on incident threads. Acks at once; refusals go privately to the clicker."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from aegis.bot import messages
from aegis.bot.listeners import payloads
from aegis.bot.mcp.results import thread_link
from aegis.bot.render import blocks
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.incidents import silencing
from aegis.core.incidents.service import IncidentService
from aegis.core.incidents.view import ActionOutcome, Refusal
from aegis.core.models import IncidentId

REJECT_MODAL = payloads.REJECT_MODAL
parse_value = payloads.parse_value


def reject_modal(incident_id: str, revision: int, channel: str, thread_ts: str | None = None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL,
        "private_metadata": json.dumps({"incident": incident_id, "rev": revision, "channel": channel, "thread": thread_ts}),
        "title": {"type": "plain_text", "text": "Reject the proposal"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"Close *{incident_id}* as rejected. Nothing in the cluster changes."}},
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True, "max_length": 500},
            },
        ],
    }


def register(app: AsyncApp, service: IncidentService, chat: ChatClient, *, workspace_url: str | None = None) -> None:
    @app.action(blocks.ACTION_REJECT)
    async def reject_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = _click(body)
        if click is not None:
            service.spawn(_open_reject_modal(chat, click), name="reject:modal")

    for action_id, run in ((blocks.ACTION_VERIFY, service.verify), (blocks.ACTION_APPLY, service.apply), (blocks.ACTION_ROLLBACK, service.rollback)):
        app.action(action_id)(_fix_action(service, chat, action_id, run))

    for hours, action_id in blocks.ACTION_SILENCE.items():
        app.action(action_id)(_parent_action(service, chat, action_id, _silence(service, hours, workspace_url)))
    app.action(blocks.ACTION_UNSILENCE)(_parent_action(service, chat, blocks.ACTION_UNSILENCE, _unsilence(service)))
    app.action(blocks.ACTION_ACK)(_parent_action(service, chat, blocks.ACTION_ACK, _ack(service)))

    @app.action(blocks.ACTION_REANALYZE)
    async def reanalyze_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = _click(body)
        parsed = _button(click) if click is not None else None
        if click is None or parsed is None:
            return
        user, channel = click.user.id, click.channel.id

        async def work() -> None:
            opened = await service.reanalyze(parsed[0], user=user, channel=channel)
            if opened is None:
                await _tell(chat, channel, user, messages.unknown_incident(parsed[0]), click.thread_ts)

        service.spawn(work(), name=f"reanalyze:{parsed[0]}")

    @app.view(REJECT_MODAL)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        log = telemetry.get_logger(callback_id=REJECT_MODAL)
        try:
            submission = payloads.ViewSubmission.model_validate(body)
        except ValidationError as exc:
            # HTTP mode refuses this at the door (payloads.parse_request); Socket Mode delivers as is.
            log.warning("slack.payload.invalid", reason=payloads.first_error(exc))
            await ack(response_action="errors", errors={"reason": messages.bad_submission()})
            return
        meta = payloads.parse_metadata(submission.view.private_metadata)
        if meta is None:
            log.warning("slack.payload.invalid", reason="reject dialog metadata is not AEGIS's", user=submission.user.id)
            await ack(response_action="errors", errors={"reason": messages.bad_submission()})
            return
        user, reason = submission.user.id, submission.view.input_value("reason", "reason")
        service.spawn(
            _reject(service, chat, IncidentId(meta.incident), meta.rev, user, reason, meta.channel, meta.thread),
            name=f"reject:{meta.incident}",
        )
        await ack()


def _click(body: dict[str, Any]) -> payloads.BlockActions | None:
    """The click, validated; None (logged) when it is not a shape Slack sends."""
    try:
        return payloads.BlockActions.model_validate(body)
    except ValidationError as exc:
        # HTTP mode refuses this at the door (payloads.parse_request); Socket Mode delivers as is.
        telemetry.get_logger().warning("slack.payload.invalid", reason=payloads.first_error(exc))
        return None


async def _open_reject_modal(chat: ChatClient, click: payloads.BlockActions) -> None:
    user, channel = click.user.id, click.channel.id
    parsed = _button(click)
    if parsed is None:
        await _tell(chat, channel, user, messages.unknown_button(), click.thread_ts)
        return
    incident_id, revision = parsed
    try:
        await chat.open_view(click.trigger_id, reject_modal(incident_id, revision, channel, click.thread_ts))
    except ChatError as exc:
        await _tell(chat, channel, user, messages.reject_dialog_failed(str(exc)), click.thread_ts)


def _button(click: payloads.BlockActions) -> tuple[IncidentId, int] | None:
    parsed = payloads.parse_value(click.action.value)
    if parsed is None:
        telemetry.get_logger(user=click.user.id).warning("slack.action.invalid", action=click.action.action_id, reason="button value is not one AEGIS wrote")
    return parsed


FixRun = Callable[..., Awaitable[ActionOutcome]]


def _fix_action(service: IncidentService, chat: ChatClient, action_id: str, run: FixRun) -> Callable[..., Awaitable[None]]:
    """One listener per fix button (Verify, Apply, Roll back): ack now, run in the background, refusals privately."""

    async def clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = _click(body)
        if click is None:
            return
        user, channel, thread_ts = click.user.id, click.channel.id, click.thread_ts
        parsed = _button(click)
        if parsed is None:
            # Tracked like any work after the ack, so shutdown (and tests) wait for the reply.
            service.spawn(_tell(chat, channel, user, messages.unknown_button(), thread_ts), name=f"{action_id}:refused")
            return
        incident_id, revision = parsed

        async def work() -> None:
            await _answer(chat, channel, user, await run(incident_id, revision=revision, user=user), thread_ts)

        service.spawn(work(), name=f"{action_id}:{incident_id}", incident_id=incident_id)

    return clicked


ParentRun = Callable[[IncidentId, payloads.BlockActions], Awaitable[ActionOutcome]]


def _parent_action(service: IncidentService, chat: ChatClient, action_id: str, run: ParentRun) -> Callable[..., Awaitable[None]]:
    """One listener per parent button (I'm on it, Silence, Unsilence): ack now, run in the background, refusals privately."""

    async def clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = _click(body)
        if click is None:
            return
        parsed = _button(click)
        if parsed is None:
            service.spawn(_tell(chat, click.channel.id, click.user.id, messages.unknown_button(), click.thread_ts), name=f"{action_id}:refused")
            return
        incident_id = parsed[0]

        async def work() -> None:
            await _answer(chat, click.channel.id, click.user.id, await run(incident_id, click), click.thread_ts)

        service.spawn(work(), name=f"{action_id}:{incident_id}", incident_id=incident_id)

    return clicked


def _silence(service: IncidentService, hours: int, workspace_url: str | None) -> ParentRun:
    async def run(incident_id: IncidentId, click: payloads.BlockActions) -> ActionOutcome:
        incident = await service.parts.store.get(incident_id)
        # The silence's comment links the thread, so whoever finds it in Alertmanager finds the discussion.
        link = thread_link(incident, workspace_url) if incident is not None else None
        name = click.user.name or click.user.username
        return await silencing.silence(service.parts, incident_id, user=click.user.id, user_name=name, hours=hours, thread_url=link)

    return run


def _unsilence(service: IncidentService) -> ParentRun:
    async def run(incident_id: IncidentId, click: payloads.BlockActions) -> ActionOutcome:
        return await silencing.unsilence(service.parts, incident_id, user=click.user.id)

    return run


def _ack(service: IncidentService) -> ParentRun:
    async def run(incident_id: IncidentId, click: payloads.BlockActions) -> ActionOutcome:
        return await silencing.acknowledge(service.parts, incident_id, user=click.user.id)

    return run


async def _reject(
    service: IncidentService, chat: ChatClient, incident_id: IncidentId, revision: int, user: str, reason: str, channel: str, thread_ts: str | None
) -> None:
    await _answer(chat, channel, user, await service.reject(incident_id, revision=revision, user=user, reason=reason or "no reason given"), thread_ts)


async def _answer(chat: ChatClient, channel: str, user: str, outcome: ActionOutcome, thread_ts: str | None = None) -> None:
    """A refused or failed click is told privately to the person who clicked, in the thread of the click; a done one shows in the thread."""
    if outcome.refusal is None:
        return
    text = messages.outcome(outcome.action.value, outcome.refusal.value, outcome.detail)
    if outcome.refusal in (Refusal.EXPIRED, Refusal.CHANGED):
        prompt = blocks.reanalyze_prompt(text, outcome.detail, 0)
        try:
            await chat.post_ephemeral(channel, user, prompt.text, prompt.blocks, thread_ts)
        except ChatError as exc:
            telemetry.get_logger(user=user).warning("slack.ephemeral.failed", error=str(exc), text=text)
        return
    await _tell(chat, channel, user, text, thread_ts)


async def _tell(chat: ChatClient, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
    try:
        await chat.post_ephemeral(channel, user, text, thread_ts=thread_ts)
    except ChatError as exc:
        telemetry.get_logger(user=user).warning("slack.ephemeral.failed", error=str(exc), text=text)
