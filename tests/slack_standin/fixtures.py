"""pytest fixtures for the Slack stand-in; load with `pytest_plugins = ["tests.slack_standin.fixtures"]` in the root conftest.

    async def test_posts(slack_standin, slack_client):
        ref = await slack_client.post_message("C1", "hello")
        assert slack_standin.recorder.messages("C1")[0].ts == ref.ts

`slack_standin` is a started `SlackStandIn` (configure it by attribute); `slack_client` is a
`SlackChatClient` pointed at it with the right token, closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aegis.bot.slack_client import SlackChatClient
from tests.slack_standin.server import SlackStandIn


@pytest_asyncio.fixture
async def slack_standin() -> AsyncIterator[SlackStandIn]:
    """A Slack Web API stand-in on 127.0.0.1 (a free port) for one test."""
    async with SlackStandIn().serve() as standin:
        yield standin


@pytest_asyncio.fixture
async def slack_client(slack_standin: SlackStandIn) -> AsyncIterator[SlackChatClient]:
    """The real SlackChatClient talking HTTP to the stand-in."""
    async with SlackChatClient(slack_standin.token, base_url=slack_standin.url) as client:
        yield client
