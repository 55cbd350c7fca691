"""The app factory: one Bolt AsyncApp and one aiohttp server, in Socket Mode or HTTP mode.

HTTP mode serves Slack's requests on /slack/events (signature checked with Slack's 5-minute
window, replays refused), the Alertmanager webhook, /healthz, /readyz and /metrics from one
aiohttp application. Socket Mode (no public URL) receives Slack's requests over a websocket and
still serves the webhook and probes over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from aegis.bot.authz import Authorizer
from aegis.bot.incidents import IncidentService
from aegis.bot.listeners import actions, slash, webhook
from aegis.bot.observability import Observability
from aegis.bot.slack_client import ChatClient
from aegis.core import telemetry
from aegis.core.config import Settings
from aegis.core.errors import ConfigError
from aegis.core.investigator import Investigator
from aegis.core.remediation.policy import RemediationPolicy
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager
from aegis.core.store.base import IncidentStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SLACK_EVENTS_PATH = "/slack/events"
_REPLAY_WINDOW_SECONDS = 60 * 5


class ReplayGuard:
    """Refuses a signed request seen before within Slack's 5-minute window."""

    def __init__(self, window: float = _REPLAY_WINDOW_SECONDS, max_entries: int = 100_000) -> None:
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


@dataclass
class BotApp:
    bolt: AsyncApp
    web: web.Application
    service: IncidentService
    settings: Settings


def build(
    settings: Settings,
    *,
    chat: ChatClient,
    store: IncidentStore,
    investigator: Investigator,
    socket_mode: bool = False,
    shadow: ShadowManager | None = None,
    remediator: Remediator | None = None,
) -> BotApp:
    """Wire the app from one Settings; ConfigError names the missing setting."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    if not token:
        raise ConfigError("SLACK_BOT_TOKEN: required to run the bot (the xoxb- token from the Slack app's OAuth page)")
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    if not socket_mode and not secret:
        raise ConfigError("SLACK_SIGNING_SECRET: required in HTTP mode (Slack app → Basic Information → Signing Secret)")
    bolt = AsyncApp(
        signing_secret=secret or "socket-mode-does-not-sign",
        client=AsyncWebClient(token=token, base_url=settings.slack_api_url),
        request_verification_enabled=not socket_mode,
        process_before_response=False,
    )
    authorizer = Authorizer(approvers=settings.approvers, approver_groups=settings.approver_groups, chat=chat)
    service = IncidentService(
        store=store,
        chat=chat,
        investigator=investigator,
        authorizer=authorizer,
        alert_channel=settings.slack_channel,
        observability=Observability.from_settings(settings),
        shadow=shadow,
        remediator=remediator,
        remediation_policy=RemediationPolicy.from_settings(settings),
    )
    slash.register(bolt, service)
    actions.register(bolt, service, chat)
    alert_token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    app = web.Application(client_max_size=webhook.MAX_BODY)
    app.add_routes(webhook.routes(service, alert_token))
    app.add_routes([web.get("/healthz", _healthz), web.get("/readyz", _readyz(store)), web.get("/metrics", _metrics)])
    if not socket_mode:
        app.add_routes([web.post(SLACK_EVENTS_PATH, _slack_events(bolt, SignatureVerifier(secret or ""), ReplayGuard()))])
    return BotApp(bolt=bolt, web=app, service=service, settings=settings)


def _slack_events(bolt: AsyncApp, verifier: SignatureVerifier, replays: ReplayGuard) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        log = telemetry.get_logger(route=SLACK_EVENTS_PATH)
        if not verifier.is_valid(body, timestamp, signature):
            # Forged, altered, or older than Slack's 5-minute window.
            log.warning("slack.request.refused", reason="bad or expired signature", remote=request.remote)
            return web.json_response({"error": "invalid signature"}, status=401)
        if not replays.first_time(signature):
            log.warning("slack.request.refused", reason="replayed", remote=request.remote)
            return web.json_response({"error": "replayed request"}, status=401)
        bolt_response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    return handle


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _readyz(store: IncidentStore) -> Handler:
    async def ready(_: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(store.list_open(limit=1), timeout=2.0)
        except Exception as exc:  # any failure of the store means not ready; say which
            return web.json_response({"status": "not ready", "store": repr(exc)}, status=503)
        return web.json_response({"status": "ready"})

    return ready


async def _metrics(_: web.Request) -> web.Response:
    telemetry.register_metrics()  # AEGIS's metrics are made on first use; a scrape shows every series, at zero before its first event
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
