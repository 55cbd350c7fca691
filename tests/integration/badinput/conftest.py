"""The bot as `aegis serve --http` runs it (same app, same runner, JSON logs), fed malformed input.

`bot` starts the app on loopback against the Slack stand-in with a SQLite store, and captures
everything the bot logs as JSON lines (`bot.events`). Each case's answer time is recorded, and the
run ends with one summary line: cases, 5xx answers, tracebacks, the slowest answer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import structlog
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config, telemetry
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.store import open_store
from tests.integration.badinput.harness import RESULTS, Bot
from tests.integration.bot.test_slack_http import ALERT_TOKEN, APPROVER, CHANNEL, SECRET, SNAPSHOT
from tests.slack_standin.server import SlackStandIn


def _restore_logging() -> None:
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, telemetry.StdlibBridge)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.NOTSET)


@pytest_asyncio.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    """The bot at info level with JSON logs into a buffer, as `aegis serve --http` configures it."""
    out = io.StringIO()
    telemetry.configure_logging("json", "info", stream=out)
    try:
        async with SlackStandIn(rate_per_second=None).serve() as standin:
            settings = config.load(
                slack_bot_token=standin.token,
                slack_signing_secret=SECRET,
                slack_api_url=standin.url,
                slack_channel=CHANNEL,
                alertmanager_token=ALERT_TOKEN,
                approvers=[APPROVER],
                store_url=str(tmp_path / "aegis.db"),
            )
            store = await open_store(settings.store_url)
            chat = SlackChatClient(standin.token, standin.url, per_channel_interval=0.0)
            built = app_factory.build(settings, chat=chat, store=store, investigator=Investigator(SnapshotGateway.open(SNAPSHOT)))
            runner = built.runner()
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            try:
                async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as http:
                    yield Bot(built, host, port, standin, store, http, out)
                await built.service.drain()
            finally:
                await runner.cleanup()
                await chat.aclose()
                await store.close()
    finally:
        _restore_logging()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    slowest = max(RESULTS, key=lambda r: r.seconds)
    errors = sum(1 for r in RESULTS if r.status is not None and r.status >= 500)
    tracebacks = sum(r.tracebacks for r in RESULTS)
    terminalreporter.write_line(
        f"malformed-input table: {len(RESULTS)} inputs, {errors} answers of 5xx, {tracebacks} tracebacks, "
        f"slowest answer {slowest.seconds * 1000:.0f} ms ({slowest.case})"
    )
