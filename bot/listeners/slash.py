"""`/aegis analyze TARGET [-n NS]`, `/aegis status`, `/aegis help`: parsed, acked within Slack's 3 s."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from aegis.bot import messages
from aegis.bot.render import blocks
from aegis.core.errors import UsageError
from aegis.core.incidents.service import IncidentService
from aegis.core.models import ObjectRef
from aegis.core.targets import parse_target


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
    @app.command("/aegis")
    async def aegis_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            parsed = parse(str(command.get("text", "")))
        except UsageError as exc:
            await ack(response_type="ephemeral", text=str(exc))
            return
        if parsed.verb == "help":
            await ack(response_type="ephemeral", text=messages.HELP)
            return
        if parsed.verb == "status":
            incidents = await service.open_incidents()
            lines = [f"• {i.id} {blocks.status_word(i.state)} — {blocks.escape(blocks.subject(i))}" for i in incidents]
            await ack(response_type="ephemeral", text="\n".join(lines) if lines else messages.no_open_incidents())
            return
        assert parsed.target is not None
        target = parsed.target
        # Schedule before acking: the work is tracked by the service from the moment Slack has its answer.
        service.spawn(
            _open(service, target, user=str(command.get("user_id", "")), channel=str(command.get("channel_id", ""))),
            name=f"slash:{target}",
        )
        await ack(response_type="ephemeral", text=messages.ack_analyzing(f"{target.kind.lower()}/{target.name} -n {target.namespace}"))


async def _open(service: IncidentService, target: ObjectRef, *, user: str, channel: str) -> None:
    await service.request_analysis(target, user=user, channel=channel)
