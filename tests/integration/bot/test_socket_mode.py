"""Socket Mode end to end: `aegis serve` as its own process, Slack's requests over a real websocket.

The stand-in plays both halves of Slack: `apps.connections.open` (app-level token) hands out the
websocket URL, the hub pushes envelopes the way Slack does and times each ack; the Web API half
records what the bot posts. The investigation reads an example snapshot (`--snapshot`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.integration.bot.test_slack_http import CHANNEL, SNAPSHOT, block_actions, latest
from tests.integration.observability.prometheus import free_port, poll
from tests.slack_standin.server import Message, SlackStandIn

pytestmark = pytest.mark.integration

AEGIS = Path(sys.executable).parent / "aegis"


def slash(text: str, user: str = "U0ALICE") -> dict[str, Any]:
    """A slash command's payload as Socket Mode carries it: the form fields of the HTTP request, as JSON."""
    return {
        "token": "legacy", "team_id": "T1", "team_domain": "acme", "channel_id": CHANNEL, "channel_name": "incidents",
        "user_id": user, "user_name": "alice", "command": "/aegis", "text": text, "api_app_id": "A1",
        "response_url": "https://hooks.slack.invalid/commands/1", "trigger_id": f"trig-{user}",
    }  # fmt: skip


@pytest_asyncio.fixture
async def socket_bot(tmp_path: Path) -> AsyncIterator[tuple[SlackStandIn, asyncio.subprocess.Process, str]]:
    """The stand-in, and `aegis serve --snapshot` in Socket Mode (the default) connected to it; the bot's HTTP base for probes."""
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        port = free_port()
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": standin.token, "SLACK_APP_TOKEN": standin.socket_mode.app_token, "AEGIS_SLACK_API_URL": standin.url,
            "AEGIS_SLACK_CHANNEL": CHANNEL, "AEGIS_STORE_URL": str(tmp_path / "aegis.db"), "AEGIS_APPROVERS": "U0APPROVER",
            "AEGIS_LOG_FORMAT": "json",
        }  # fmt: skip
        env.pop("SLACK_SIGNING_SECRET", None)  # Socket Mode needs none
        log = (tmp_path / "aegis.log").open("w")
        bot = await asyncio.create_subprocess_exec(
            str(AEGIS), "serve", "--port", str(port), "--snapshot", str(SNAPSHOT), env=env, cwd=tmp_path, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        try:
            try:
                await standin.socket_mode.wait_connections(1, timeout=30)
            except TimeoutError:
                raise AssertionError(f"the bot never opened a Socket Mode connection:\n{(tmp_path / 'aegis.log').read_text()[-3000:]}") from None
            yield standin, bot, f"http://127.0.0.1:{port}"
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.wait(), timeout=30)
            log.close()


def thread_of(standin: SlackStandIn) -> tuple[Message, list[dict[str, Any]]] | None:
    parents = [m for m in standin.recorder.messages(CHANNEL) if m.thread_ts is None]
    if not parents:
        return None
    replies = [latest(m) for m in standin.recorder.thread(CHANNEL, parents[-1].ts)]
    return (parents[-1], replies) if any("missing_env_var" in r["text"] for r in replies) else None


async def test_slash_command_button_and_modal_over_the_websocket(socket_bot: tuple[SlackStandIn, asyncio.subprocess.Process, str]) -> None:
    """`/aegis analyze` is acked within Slack's 3 s and diagnosed in a thread; Reject's modal works; a refresh loses nothing."""
    standin, bot, http_base = socket_bot
    hub = standin.socket_mode
    assert hub.opened == 1
    # The app-level token opened the connection; the bot token is refused for it, as Slack does.
    async with httpx.AsyncClient() as http:
        refused = (await http.post(f"{standin.url}apps.connections.open", headers={"Authorization": f"Bearer {standin.token}"})).json()
        assert refused == {"ok": False, "error": "not_allowed_token_type"}
        # Socket Mode serves no Slack endpoint over HTTP: nothing there to forge.
        assert (await http.post(f"{http_base}/slack/events", content=b"x")).status_code == 404

    ack = await hub.send("slash_commands", slash("analyze deploy/checkout -n shop"))
    assert ack.seconds < 3.0 and ack.payload is not None and "checkout" in ack.payload["text"], ack
    parent, replies = await poll("the diagnosed thread in the stand-in", lambda: _async(thread_of(standin)), timeout=30)
    diagnosis = next(r for r in replies if "missing_env_var" in r["text"])
    assert "DATABASE_URL" in json.dumps(diagnosis)

    # Slack asks for a fresh connection every few hours: the bot reconnects, and the next request is served there.
    await hub.refresh()
    assert hub.opened == 2
    help_ack = await hub.send("slash_commands", slash("help"))
    assert help_ack.payload is not None and "/aegis analyze" in help_ack.payload["text"]

    # Reject: the button's value comes from the posted message, exactly what Slack would send back.
    (button,) = [e for b in diagnosis["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "aegis.reject"]
    click = block_actions("aegis.reject", button["value"], "U0APPROVER", parent.ts, trigger_id="trig-reject")
    assert (await hub.send("interactive", click)).seconds < 3.0
    view = await poll("the Reject modal (views.open)", lambda: _async(standin.recorder.views[-1] if standin.recorder.views else None), timeout=10)
    submit = {
        "type": "view_submission", "user": {"id": "U0APPROVER"}, "team": {"id": "T1"}, "api_app_id": "A1",
        "view": {"id": "V1", "type": "modal", "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "known issue"}}}}},
    }  # fmt: skip
    assert (await hub.send("interactive", submit)).seconds < 3.0

    async def parent_says_rejected() -> bool:
        return "REJECTED" in latest(standin.recorder.message(CHANNEL, parent.ts))["text"].upper()

    await poll("the parent edited to rejected", parent_says_rejected, timeout=10)
    assert all(a.seconds < 3.0 for a in hub.acks), [a.seconds for a in hub.acks]

    # SIGTERM: the bot closes its websocket and exits cleanly.
    bot.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(bot.wait(), timeout=30) == 0
    await poll("the websocket closed", lambda: _async(not hub.live), timeout=10)


async def _async(value: Any) -> Any:
    return value
