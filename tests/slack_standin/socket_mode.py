"""Socket Mode for the Slack stand-in: `apps.connections.open` and the websocket Slack pushes requests over.

As Slack does it: `apps.connections.open` takes the app-level token (xapp-; a bot token is
`not_allowed_token_type`) and answers a one-time websocket URL; on connect the server sends
`hello`; each request is an envelope `{envelope_id, type, payload, accepts_response_payload}` that
the app must acknowledge by sending `{envelope_id[, payload]}` back (Slack retries an envelope not
acknowledged within 3 seconds; `send` fails instead, so a test sees the miss). `refresh` sends
the `disconnect`/`refresh_requested` message Slack sends every few hours: the app must open a new
connection, and envelopes go to the newest one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DEFAULT_APP_TOKEN = "xapp-1-A0AEGIS-0000-aegis-standin-app-token"
SOCKET_MODE_PATH = "/socket-mode/link"


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float  # from sending the envelope to receiving its ack


@dataclass
class SocketModeHub:
    app_token: str = DEFAULT_APP_TOKEN
    base: str = ""  # ws://host:port, set when the stand-in serves
    opened: int = 0  # successful apps.connections.open calls
    connections: list[web.WebSocketResponse] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    _tickets: set[str] = field(default_factory=set)
    _pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _connected: asyncio.Condition = field(default_factory=asyncio.Condition)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def open(self, token: str) -> tuple[int, dict[str, Any]]:
        """apps.connections.open: a one-time URL for the app token; Slack's errors otherwise."""
        if token != self.app_token:
            return 200, {"ok": False, "error": "not_allowed_token_type" if token.startswith("xoxb-") else "invalid_auth"}
        ticket = f"{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        self._tickets.add(ticket)
        self.opened += 1
        return 200, {"ok": True, "url": f"{self.base}{SOCKET_MODE_PATH}?ticket={ticket}"}

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="unknown or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": len(self.live) + 1, "connection_info": {"app_id": "A0AEGIS"}})
        async with self._connected:
            self.connections.append(ws)
            self._connected.notify_all()
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            waiter = self._pending.pop(str(body.get("envelope_id", "")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(body)
        return ws

    @property
    def live(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.connections if not ws.closed]

    async def wait_connections(self, count: int, timeout: float = 10.0) -> web.WebSocketResponse:
        """Until `count` connections were made in all; the newest one."""
        async with asyncio.timeout(timeout), self._connected:
            await self._connected.wait_for(lambda: len(self.connections) >= count and not self.connections[-1].closed)
            return self.connections[-1]

    async def send(self, kind: str, payload: dict[str, Any], *, timeout: float = 3.0) -> Ack:
        """Push one envelope on the newest connection; its ack, or AssertionError after Slack's 3 seconds."""
        ws = await self.wait_connections(max(1, len(self.connections)))
        envelope_id = str(uuid.uuid4())
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiter
        loop = asyncio.get_running_loop()
        sent = loop.time()
        await ws.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": kind != "events_api", "retry_attempt": 0})
        try:
            body = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._pending.pop(envelope_id, None)
            raise AssertionError(f"no ack for the {kind} envelope within {timeout:.0f}s") from None
        ack = Ack(envelope_id, body.get("payload"), loop.time() - sent)
        self.acks.append(ack)
        return ack

    async def refresh(self) -> web.WebSocketResponse:
        """Slack's `disconnect` (refresh_requested) on the newest connection; the connection the app opens in its place."""
        old = await self.wait_connections(max(1, len(self.connections)))
        before = len(self.connections)
        await old.send_json({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "aegis-standin"}})
        return await self.wait_connections(before + 1)

    async def close(self) -> None:
        for ws in self.live:
            await ws.close()
