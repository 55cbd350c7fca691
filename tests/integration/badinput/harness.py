"""What the malformed-input tier's fixture and table share (one module object, so results add up)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import httpx

from aegis.bot.app import BotApp
from aegis.core.store.base import IncidentStore
from tests.slack_standin.server import SlackStandIn


@dataclass
class Outcome:
    case: str
    status: int | None
    seconds: float
    tracebacks: int


RESULTS: list[Outcome] = []


@dataclass
class Bot:
    app: BotApp
    host: str
    port: int
    standin: SlackStandIn
    store: IncidentStore
    http: httpx.AsyncClient
    log: io.StringIO

    @property
    def lines(self) -> list[str]:
        return [line for line in self.log.getvalue().splitlines() if line.strip()]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every line the bot logged, parsed as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.lines]

    async def settle(self) -> None:
        await self.app.service.drain()
