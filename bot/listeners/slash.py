"""`/aegis analyze TARGET [-n NS]`, `/aegis status`, `/aegis help`: parsed, acked within Slack's 3 s."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp

from aegis.bot import messages
from aegis.bot.listeners import payloads
from aegis.bot.render import blocks
from aegis.core import telemetry
from aegis.core.errors import UsageError
from aegis.core.incidents.service import IncidentService
from aegis.core.models import ObjectRef
from aegis.core.targets import parse_target

# An alert's title can be thousands of characters; a status line shows the start of it.
_STATUS_SUBJECT = 200
_STATUS_TEXT = 3000


@dataclass(frozen=True)
class SlashCommand:
    verb: str
    target: ObjectRef | None = None


def parse(text: str) -> SlashCommand:
    """The command's text → what to do; UsageError with how to write it."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(messages.bad_command(f"I could not read that ({exc}).")) from None
    if not words or words[0] in ("help", "-h", "--help"):
        return SlashCommand("help")
    verb, rest = words[0].lower(), words[1:]
    if verb == "status":
        return SlashCommand("status")
    if verb != "analyze":
        raise UsageError(messages.unknown_subcommand(words[0]))
    namespace: str | None = None
    positional: list[str] = []
    index = 0
    while index < len(rest):
        word = rest[index]
        if word in ("-n", "--namespace"):
            if index + 1 >= len(rest):
                raise UsageError(messages.bad_command("`-n` needs a namespace after it."))
            namespace, index = rest[index + 1], index + 2
            continue
        if word.startswith("--namespace="):
            namespace = word.split("=", 1)[1]
        elif word.startswith("-"):
            raise UsageError(messages.bad_command(f"I don't know the option `{word}`."))
        else:
            positional.append(word)
        index += 1
    if len(positional) != 1:
        raise UsageError(messages.bad_command("Give exactly one target." if positional else "No target given."))
    try:
        return SlashCommand("analyze", parse_target(positional[0], namespace))
    except UsageError as exc:
        raise UsageError(messages.bad_command(str(exc))) from None


def register(app: AsyncApp, service: IncidentService) -> None:
    @app.command(payloads.COMMAND)
    async def aegis_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            request = payloads.SlashCommand.model_validate(command)
        except ValidationError as exc:
            # HTTP mode refuses this at the door (payloads.parse_request); Socket Mode delivers as is.
            telemetry.get_logger().warning("slack.payload.invalid", reason=payloads.first_error(exc))
            await ack(response_type="ephemeral", text=messages.bad_command("AEGIS could not read that request."))
            return
        try:
            parsed = parse(request.text)
        except UsageError as exc:
            await ack(response_type="ephemeral", text=str(exc))
            return
        if parsed.verb == "help":
            await ack(response_type="ephemeral", text=messages.HELP)
            return
        if parsed.verb == "status":
            incidents = await service.open_incidents()
            lines = [f"• {i.id} {blocks.status_word(i.state)} — {blocks.escape(blocks.clip(blocks.subject(i), _STATUS_SUBJECT))}" for i in incidents]
            await ack(response_type="ephemeral", text=blocks.clip("\n".join(lines), _STATUS_TEXT) if lines else messages.no_open_incidents())
            return
        assert parsed.target is not None
        target = parsed.target
        if not service.parts.policy.serves(request.channel_id, target.namespace):
            await ack(response_type="ephemeral", text=messages.namespace_not_served(target.namespace))
            return
        # Schedule before acking: the work is tracked by the service from the moment Slack has its answer.
        service.spawn(_open(service, target, user=request.user_id, channel=request.channel_id), name=f"slash:{target}")
        await ack(response_type="ephemeral", text=messages.ack_analyzing(f"{target.kind.lower()}/{target.name} -n {target.namespace}"))


async def _open(service: IncidentService, target: ObjectRef, *, user: str, channel: str) -> None:
    await service.request_analysis(target, user=user, channel=channel)
