"""Buttons and modals on incident threads. Acks at once; refusals go privately to the clicker."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from aegis.bot import messages
from aegis.bot.render import blocks
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.incidents.service import IncidentService
from aegis.core.incidents.view import ActionOutcome
from aegis.core.models import IncidentId

REJECT_MODAL = "aegis.reject_modal"


def parse_value(value: str) -> tuple[IncidentId, int] | None:
    """A button's value: {"incident": "INC-1", "rev": 0}; None when it is not ours."""
    try:
        data = json.loads(value)
        return IncidentId(str(data["incident"])), int(data["rev"])
    except (ValueError, KeyError, TypeError):
        return None


def reject_modal(incident_id: str, revision: int, channel: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REJECT_MODAL,
        "private_metadata": json.dumps({"incident": incident_id, "rev": revision, "channel": channel}),
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


def register(app: AsyncApp, service: IncidentService, chat: ChatClient) -> None:
    @app.action(blocks.ACTION_REJECT)
    async def reject_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        service.spawn(_open_reject_modal(chat, body), name="reject:modal")
        await ack()

    for action_id, run in ((blocks.ACTION_VERIFY, service.verify), (blocks.ACTION_APPLY, service.apply), (blocks.ACTION_ROLLBACK, service.rollback)):
        app.action(action_id)(_fix_action(service, chat, action_id, run))

    @app.view(REJECT_MODAL)
    async def reject_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = str(body.get("user", {}).get("id", ""))
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = str(view.get("state", {}).get("values", {}).get("reason", {}).get("reason", {}).get("value") or "").strip()
        service.spawn(
            _reject(service, chat, IncidentId(meta.get("incident", "")), int(meta.get("rev", -1)), user, reason, str(meta.get("channel", ""))),
            name=f"reject:{meta.get('incident')}",
        )
        await ack()


async def _open_reject_modal(chat: ChatClient, body: dict[str, Any]) -> None:
    user = str(body.get("user", {}).get("id", ""))
    channel = str(body.get("channel", {}).get("id", ""))
    parsed = parse_value(str((body.get("actions") or [{}])[0].get("value", "")))
    if parsed is None:
        await _tell(chat, channel, user, "That button is not an AEGIS action I understand: nothing changed.")
        return
    incident_id, revision = parsed
    try:
        await chat.open_view(str(body.get("trigger_id", "")), reject_modal(incident_id, revision, channel))
    except ChatError as exc:
        await _tell(chat, channel, user, f"Could not open the reject dialog ({exc}): nothing changed.")


FixRun = Callable[..., Awaitable[ActionOutcome]]


def _fix_action(service: IncidentService, chat: ChatClient, action_id: str, run: FixRun) -> Callable[..., Awaitable[None]]:
    """One listener per fix button (Verify, Apply, Roll back): ack now, run in the background, refusals privately."""

    async def clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str(body.get("channel", {}).get("id", ""))
        parsed = parse_value(str((body.get("actions") or [{}])[0].get("value", "")))
        if parsed is None:
            await _tell(chat, channel, user, "That button is not an AEGIS action I understand: nothing changed.")
            return
        incident_id, revision = parsed

        async def work() -> None:
            await _answer(chat, channel, user, await run(incident_id, revision=revision, user=user))

        service.spawn(work(), name=f"{action_id}:{incident_id}", incident_id=incident_id)

    return clicked


async def _reject(service: IncidentService, chat: ChatClient, incident_id: IncidentId, revision: int, user: str, reason: str, channel: str) -> None:
    await _answer(chat, channel, user, await service.reject(incident_id, revision=revision, user=user, reason=reason or "no reason given"))


async def _answer(chat: ChatClient, channel: str, user: str, outcome: ActionOutcome) -> None:
    """A refused or failed click is told privately to the person who clicked; a done one shows in the thread."""
    if outcome.refusal is not None:
        await _tell(chat, channel, user, messages.outcome(outcome.action.value, outcome.refusal.value, outcome.detail))


async def _tell(chat: ChatClient, channel: str, user: str, text: str) -> None:
    try:
        await chat.post_ephemeral(channel, user, text)
    except ChatError as exc:
        telemetry.get_logger(user=user).warning("slack.ephemeral.failed", error=str(exc), text=text)
