"""`aegis serve`: run the bot until SIGTERM/SIGINT, in Socket Mode or HTTP mode.

Opens the one gateway (live cluster, or a read-only snapshot), the incident store and the Slack
client, builds the app, serves the webhook/probes/metrics (and Slack's requests in HTTP mode),
and on shutdown lets in-flight work finish before closing everything.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.observability import Observability
from aegis.bot.slack_client import SharedPacer, SlackChatClient
from aegis.core import telemetry, wiring
from aegis.core.config import Settings
from aegis.core.errors import ConfigError
from aegis.core.incidents.replica import Replica
from aegis.core.kube.gateway import KubeGateway
from aegis.core.store import open_store


async def run(settings: Settings, *, gateway: KubeGateway, http: bool, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    log = telemetry.get_logger(mode="http" if http else "socket")
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if not http and not app_token:
        raise ConfigError("SLACK_APP_TOKEN: required for Socket Mode (an xapp- token with connections:write); or run `aegis serve --http`")
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    store = await open_store(settings.store_url)
    # The Slack pace lives in the store, so it holds however many replicas share it.
    chat = SlackChatClient(token, settings.slack_api_url, pacer=SharedPacer(store))
    links = Observability.from_settings(settings).link_builder
    investigator = wiring.investigator(settings, gateway, links=links)
    if settings.llm_model:
        from aegis.core.agents import pipeline

        pipeline.from_settings(settings)
    socket_handler: Any = None
    runner: web.AppRunner | None = None
    # Verify/Apply/Roll back need a live cluster (None on a snapshot).
    shadow = wiring.shadow(settings, gateway)
    remediator = wiring.remediator(settings, gateway)
    identity = wiring.replica_id(settings)
    replica: Replica | None = None
    try:
        bot = app_factory.build(
            settings, chat=chat, store=store, investigator=investigator, socket_mode=not http, shadow=shadow, remediator=remediator, replica=identity
        )
        # Recover what this replica was doing before it stopped, then heartbeat, elect, and on the leader
        # sweep expired shadows and recover incidents of replicas that died.
        replica = Replica(bot.service, gateway, wiring.elector(settings, gateway, identity), wiring.replica_timing(settings))
        await replica.start()
        runner = bot.runner()
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        if not http:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            # The handler's methods are untyped in slack_bolt; keep it as Any.
            socket_handler = AsyncSocketModeHandler(bot.bolt, app_token)
            await socket_handler.connect_async()
        log.info("bot.serve.start", listen=f"http://{host}:{port}", source=gateway.description, read_only=gateway.read_only, replica=identity)
        stop = stop or _stop_on_signals()
        await stop.wait()
        log.info("bot.serve.stopping")
        if socket_handler is not None:
            await socket_handler.close_async()
        await bot.service.drain()
    finally:
        if replica is not None:
            await replica.stop()
        if shadow is not None:
            await shadow.aclose()
        if runner is not None:
            await runner.cleanup()
        await chat.aclose()
        await store.close()
        await gateway.close()
        log.info("bot.serve.stopped")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
