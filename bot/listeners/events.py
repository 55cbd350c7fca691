"""/slack/events in HTTP mode: the signature first, then the body, then Bolt.

Order matters. The signature headers are checked before the body is read, and every malformed one
(missing, not an integer, huge, outside Slack's 5-minute window) fails closed with 401. The HMAC is
computed over the raw bytes, so a body that is not UTF-8 cannot crash the check. Only a signed,
fresh, never-seen request is decoded and validated (bot/listeners/payloads.py); what Bolt
dispatches is the validated payload, re-serialized, so no listener ever sees a shape it cannot
handle. Every refusal is one warning naming the reason (never the body: it may carry secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from aegis.bot.listeners import payloads
from aegis.bot.listeners.guard import BadRequestError, Handler, read_body
from aegis.core import telemetry

SLACK_EVENTS_PATH = "/slack/events"
REPLAY_WINDOW_SECONDS = 60 * 5
# Slack's timestamp is epoch seconds: ten digits today. Twelve allow for any sane clock; more is
# someone probing (a 5,000-digit "integer" is where int() itself starts raising).
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)
_FORM = ("", "application/x-www-form-urlencoded")


class ReplayGuard:
    """Refuses a signed request seen before within Slack's 5-minute window."""

    def __init__(self, window: float = REPLAY_WINDOW_SECONDS, max_entries: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._window = window
        self._max = max_entries

    def first_time(self, signature: str) -> bool:
        now = time.monotonic()
        while self._seen and (next(iter(self._seen.values())) < now - self._window or len(self._seen) > self._max):
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        self._seen[signature] = now
        return True


class Signature:
    """Slack's v0 request signature: HMAC-SHA256 of `v0:timestamp:body` with the signing secret."""

    def __init__(self, secret: str, window: float = REPLAY_WINDOW_SECONDS) -> None:
        self._secret = secret.encode()
        self._window = window

    def header_problem(self, timestamp: str | None, signature: str | None, now: float | None = None) -> str | None:
        """What is wrong with the headers alone (checked before reading the body); None when they may be valid."""
        if not timestamp:
            return "missing X-Slack-Request-Timestamp"
        if not _TIMESTAMP.fullmatch(timestamp):
            return "X-Slack-Request-Timestamp is not epoch seconds"
        if abs((time.time() if now is None else now) - int(timestamp)) > self._window:
            return "timestamp outside Slack's 5-minute window"
        if not signature:
            return "missing X-Slack-Signature"
        if not _SIGNATURE.fullmatch(signature):
            return "X-Slack-Signature is not a v0 signature"
        return None

    def matches(self, timestamp: str, signature: str, body: bytes) -> bool:
        expected = "v0=" + hmac.new(self._secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


def route(bolt: AsyncApp, secret: str, replays: ReplayGuard | None = None) -> web.RouteDef:
    return web.post(SLACK_EVENTS_PATH, handler(bolt, Signature(secret), replays or ReplayGuard()))


def handler(bolt: AsyncApp, signature: Signature, replays: ReplayGuard) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        log = telemetry.get_logger(route=SLACK_EVENTS_PATH, remote=request.remote)
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        sent = request.headers.get("X-Slack-Signature")
        problem = signature.header_problem(timestamp, sent)
        if problem is not None:
            log.warning("slack.request.refused", reason=problem)
            return web.json_response({"error": "invalid signature"}, status=401)
        assert timestamp is not None and sent is not None
        body = await read_body(request)
        if not signature.matches(timestamp, sent, body):
            # Forged or altered.
            log.warning("slack.request.refused", reason="bad signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        if not replays.first_time(sent):
            log.warning("slack.request.refused", reason="replayed")
            return web.json_response({"error": "replayed request"}, status=401)
        if request.content_type not in _FORM:
            raise BadRequestError(f"content type {request.content_type[:60]!r}: Slack's requests are form-encoded", status=415)
        try:
            # Slack sends UTF-8 whatever the charset parameter says; a bogus charset is not looked up.
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError("body is not UTF-8") from None
        try:
            parsed = payloads.parse_request(text)
        except payloads.InvalidRequestError as exc:
            log.warning("slack.request.invalid", reason=exc.reason)
            return web.json_response({"error": f"invalid request: {exc.reason}"}, status=400)
        if parsed is None:  # Slack's ssl_check ping
            return web.Response(status=200)
        bolt_request = AsyncBoltRequest(
            body=json.dumps(payloads.as_bolt_body(parsed)),
            headers={"content-type": "application/json"},
        )
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    return handle
