"""The app factory: one Bolt AsyncApp and one aiohttp server, in Socket Mode or HTTP mode.

HTTP mode serves Slack's requests on /slack/events (signature checked first with Slack's 5-minute
window, replays refused, payloads validated before Bolt sees them: bot/listeners/events.py), the
Alertmanager webhook, /healthz, /readyz and /metrics from one aiohttp application, behind one
middleware that turns unreadable input into a 400 and logs everything as structlog JSON
(bot/listeners/guard.py). Socket Mode (no public URL) receives Slack's requests over a websocket and
still serves the webhook and probes over HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web import AppRunner
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from aegis.bot.authz import Authorizer
from aegis.bot.identity import IdentityMap
from aegis.bot.listeners import actions, events, guard, slash, webhook
from aegis.bot.observability import Observability
from aegis.bot.slack_client import ChatClient
from aegis.bot.thread import SlackThread
from aegis.core import telemetry, wiring
from aegis.core.config import Settings
from aegis.core.errors import ConfigError
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.service import IncidentService
from aegis.core.investigator import Investigator
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager
from aegis.core.store.base import IncidentStore

SLACK_EVENTS_PATH = events.SLACK_EVENTS_PATH
ReplayGuard = events.ReplayGuard


@dataclass
class BotApp:
    bolt: AsyncApp
    web: web.Application
    service: IncidentService
    settings: Settings

    def runner(self) -> AppRunner:
        """The aiohttp runner `aegis serve` (and the HTTP tests) use: access log as structlog events."""
        return AppRunner(self.web, handle_signals=False, access_log_class=guard.AccessLog)


def build(
    settings: Settings,
    *,
    chat: ChatClient,
    store: IncidentStore,
    investigator: Investigator,
    socket_mode: bool = False,
    shadow: ShadowManager | None = None,
    remediator: Remediator | None = None,
    replica: str | None = None,
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
        # HTTP mode: bot/listeners/events.py checks the signature on the raw bytes before Bolt sees
        # anything, and hands Bolt the validated payload re-serialized, which no longer carries it.
        request_verification_enabled=False,
        process_before_response=False,
    )
    identities = IdentityMap.load(settings.identity_map) if settings.identity_map else None
    authorizer = Authorizer(approvers=settings.approvers, approver_groups=settings.approver_groups, chat=chat, identities=identities)
    service = incident_service(
        settings, chat=chat, store=store, investigator=investigator, authorizer=authorizer, shadow=shadow, remediator=remediator, replica=replica
    )
    slash.register(bolt, service)
    actions.register(bolt, service, chat, workspace_url=settings.slack_workspace_url)
    alert_token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    app = web.Application(client_max_size=webhook.MAX_BODY, middlewares=[guard.guard])
    app.add_routes(webhook.routes(service, alert_token))
    app.add_routes([web.get("/healthz", _healthz), web.get("/readyz", _readyz(store)), web.get("/metrics", _metrics)])
    if not socket_mode:
        assert secret is not None
        app.add_routes([events.route(bolt, secret)])
    return BotApp(bolt=bolt, web=app, service=service, settings=settings)


def incident_service(
    settings: Settings,
    *,
    chat: ChatClient,
    store: IncidentStore,
    investigator: Investigator,
    authorizer: Authorizer,
    shadow: ShadowManager | None = None,
    remediator: Remediator | None = None,
    replica: str | None = None,
    alert_channel: str | None = None,
) -> IncidentService:
    """The lifecycle with the Slack thread as its view (the app, the live demo and tests build it alike)."""
    policy = wiring.policy(settings)
    alertmanager = wiring.alertmanager(settings)
    return IncidentService(
        Parts(
            store=store,
            view=SlackThread(store, chat, Observability.from_settings(settings), policy, silencing_configured=alertmanager is not None),
            approvals=authorizer,
            investigator=investigator,
            policy=policy,
            replica=replica or wiring.replica_id(settings),
            alert_channel=alert_channel or settings.slack_channel,
            lookback_minutes=settings.incident_lookback_minutes,
            shadow=shadow,
            remediator=remediator,
            alertmanager=alertmanager,
            silencers=frozenset(settings.silencers),
        )
    )


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _readyz(store: IncidentStore) -> guard.Handler:
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
