"""The Alertmanager webhook route: authenticate, validate, answer fast, work in the background."""

from __future__ import annotations

import asyncio

from aiohttp import web

from aegis.bot import alertmanager
from aegis.bot.alert_updates import from_webhook
from aegis.bot.listeners import guard
from aegis.core import telemetry
from aegis.core.errors import UsageError
from aegis.core.incidents.service import IncidentService

WEBHOOK_PATH = "/alertmanager/webhook"
MAX_BODY = 1024 * 1024
# How long the route waits for the alerts to be recorded and posted before answering 202 instead:
# short of 3 s, so Alertmanager has its answer within 3 s even while Slack is slow.
ANSWER_WITHIN_SECONDS = 2.0


def routes(service: IncidentService, token: str | None) -> list[web.RouteDef]:
    async def receive(request: web.Request) -> web.Response:
        log = telemetry.get_logger(route=WEBHOOK_PATH)
        if not token:
            log.error("alert.webhook.unconfigured", hint="set AEGIS_ALERTMANAGER_TOKEN")
            return web.json_response({"error": "webhook disabled: AEGIS_ALERTMANAGER_TOKEN is not set on the AEGIS side"}, status=503)
        if not alertmanager.authorized(request.headers.get("Authorization"), token):
            log.warning("alert.webhook.unauthorized", remote=request.remote)
            return web.json_response({"error": "unauthorized: send the bearer token (or basic-auth password) configured in AEGIS"}, status=401)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"error": f"payload larger than {MAX_BODY} bytes"}, status=413)
        body = await guard.read_body(request)
        try:
            payload = alertmanager.parse(body)
        except UsageError as exc:
            log.warning("alert.webhook.invalid", error=str(exc))
            return web.json_response({"error": str(exc)}, status=400)
        log.info("alert.webhook.received", group_key=payload.groupKey, status=payload.status, alerts=len(payload.alerts))
        if payload.truncatedAlerts:
            # Alertmanager sent only the first max_alerts alerts: the rest never reach AEGIS, so the operator must hear of it.
            log.warning(
                "alert.webhook.truncated",
                group_key=payload.groupKey,
                truncated=payload.truncatedAlerts,
                reason=f"Alertmanager left {payload.truncatedAlerts} alerts out of this notification (max_alerts in its webhook_config); remove the limit",
            )
        kept, shadow = alertmanager.without_shadow(payload)
        if shadow:
            # Not an incident: the shadow's verdict already reports the failure in the incident's own thread.
            namespaces = sorted({alertmanager.shadow_namespace(payload, a) or "" for a in shadow})
            log.info("alert.webhook.shadow_ignored", group_key=payload.groupKey, alerts=len(shadow), namespaces=namespaces)
        if kept is None:
            reason = "every alert is about an AEGIS shadow namespace (aegis-shadow-*), AEGIS's own throwaway clone"
            return web.json_response({"status": "ignored", "alerts": 0, "ignored": len(shadow), "reason": reason}, status=200)
        payload = kept
        # Wait briefly: a failure to record the alerts answers 500 so Alertmanager retries (nothing lost);
        # work still going on after the grace period (Slack rate limits) finishes in the background.
        task = service.spawn(service.handle_alerts(from_webhook(payload)), name=f"alerts:{payload.groupKey}")
        done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN_SECONDS)
        if done and task.exception() is not None:
            log.error("alert.webhook.failed", group_key=payload.groupKey, error=repr(task.exception()))
            return web.json_response({"error": "AEGIS could not record these alerts; Alertmanager will retry"}, status=500)
        answer = {"status": "recorded" if done else "accepted", "alerts": len(payload.alerts)}
        if payload.truncatedAlerts:
            answer["truncated"] = payload.truncatedAlerts
        return web.json_response(answer, status=200 if done else 202)

    return [web.post(WEBHOOK_PATH, receive)]
