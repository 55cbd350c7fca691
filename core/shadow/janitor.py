"""The shadow janitor: deletes shadow namespaces whose expiry has passed.

A shadow deletes itself when its run ends; the janitor covers what a killed process, a lost
connection or a failed delete leaves behind. It finds shadows by label
(`app.kubernetes.io/managed-by=aegis` with `aegis.dev/shadow`) and reads the expiry annotation;
a namespace already terminating is left to the namespace controller. `aegis serve` sweeps at
start-up and then periodically; `aegis shadow gc` sweeps once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from aegis.core import objects, telemetry
from aegis.core.errors import AegisError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import Model
from aegis.core.shadow import cloning


class ShadowInfo(Model):
    """One shadow namespace as `aegis shadow list` shows it."""

    namespace: str
    incident: str
    source: str
    created_at: datetime | None
    expires_at: datetime | None
    phase: str
    expired: bool


async def list_shadows(gateway: KubeGateway, now: datetime | None = None) -> list[ShadowInfo]:
    moment = now or datetime.now(UTC)
    found = await gateway.list_objects("Namespace", None, cloning.SHADOW_SELECTOR)
    return [
        ShadowInfo(
            namespace=objects.name(ns),
            incident=objects.labels(ns).get(cloning.INCIDENT_LABEL, "?"),
            source=objects.annotations(ns).get(cloning.SOURCE_ANNOTATION, ""),
            created_at=objects.parse_time(objects.meta(ns).get("creationTimestamp")),
            expires_at=objects.parse_time(objects.annotations(ns).get(cloning.EXPIRES_ANNOTATION)),
            phase=str((ns.get("status") or {}).get("phase", "")),
            expired=cloning.expired(ns, moment),
        )
        for ns in sorted(found, key=objects.name)
    ]


async def sweep(gateway: KubeGateway, now: datetime | None = None) -> list[str]:
    """Delete every expired shadow namespace that is not already terminating; the names deleted."""
    log = telemetry.get_logger()
    deleted: list[str] = []
    for shadow in await list_shadows(gateway, now):
        if not shadow.expired or shadow.phase == "Terminating":
            continue
        if await gateway.delete("Namespace", None, shadow.namespace, propagation="Background"):
            deleted.append(shadow.namespace)
            log.info("shadow.janitor.deleted", shadow_namespace=shadow.namespace, incident_id=shadow.incident, expired_at=str(shadow.expires_at))
    log.info("shadow.janitor.sweep", deleted=len(deleted))
    return deleted


async def remove_for(gateway: KubeGateway, incident_id: str) -> list[str]:
    """Delete the shadow namespaces of one incident, expired or not (its verification was interrupted); the names deleted."""
    deleted: list[str] = []
    for shadow in await list_shadows(gateway):
        if shadow.incident != incident_id or shadow.phase == "Terminating":
            continue
        if await gateway.delete("Namespace", None, shadow.namespace, propagation="Background"):
            deleted.append(shadow.namespace)
            telemetry.get_logger(incident_id=incident_id).info("shadow.janitor.deleted", shadow_namespace=shadow.namespace, reason="interrupted")
    return deleted


async def run_forever(gateway: KubeGateway, interval: float, stop: asyncio.Event) -> None:
    """Sweep now, then every `interval` seconds until `stop` is set; a failed sweep is logged and retried."""
    log = telemetry.get_logger()
    while not stop.is_set():
        try:
            await sweep(gateway)
        except AegisError as exc:
            log.warning("shadow.janitor.failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
