"""The one place that builds the parts from settings: the investigator, the shadow manager, the
remediator, Alertmanager's API client, this replica's identity and its leader elector. `aegis serve`,
`analyze`, `verify`, `mcp` and the live demo all build them here, so a setting means the same thing everywhere.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from aegis.core.config import Settings
from aegis.core.evidence.scope import LinkBuilder
from aegis.core.incidents.leader import LeaderElector
from aegis.core.incidents.replica import ReplicaTiming
from aegis.core.investigator import Investigator
from aegis.core.kube.gateway import KubeGateway
from aegis.core.remediation.policy import RemediationPolicy
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy

if TYPE_CHECKING:  # httpx loads only where Alertmanager is used, not on `aegis analyze --snapshot`
    from aegis.core.alertmanager_api import AlertmanagerApi


def investigator(settings: Settings, gateway: KubeGateway, *, links: LinkBuilder | None = None) -> Investigator:
    return Investigator(gateway, policy=settings.analysis_policy, log_tail_lines=settings.log_tail_lines, settings=settings, links=links)


def shadow(settings: Settings, gateway: KubeGateway) -> ShadowManager | None:
    """None for a read-only source (a snapshot): nothing can be verified there."""
    return None if gateway.read_only else ShadowManager(gateway, ShadowPolicy.from_settings(settings))


def remediator(settings: Settings, gateway: KubeGateway) -> Remediator | None:
    return None if gateway.read_only else Remediator(gateway, rollout_timeout=settings.rollout_timeout_seconds)


def policy(settings: Settings) -> RemediationPolicy:
    return RemediationPolicy.from_settings(settings)


def alertmanager(settings: Settings) -> AlertmanagerApi | None:
    """Alertmanager's API for silences from the thread; None when AEGIS_ALERTMANAGER_URL is unset."""
    if not settings.alertmanager_url:
        return None
    from aegis.core.alertmanager_api import AlertmanagerApi

    return AlertmanagerApi(
        settings.alertmanager_url,
        bearer_token=settings.alertmanager_bearer_token,
        username=settings.alertmanager_username,
        password=settings.alertmanager_password,
    )


def replica_id(settings: Settings) -> str:
    """Stable across a restart of the same pod (its hostname), so the restarted replica recovers its own incidents."""
    return settings.replica_id or os.environ.get("HOSTNAME") or socket.gethostname()


def elector(settings: Settings, gateway: KubeGateway, identity: str) -> LeaderElector | None:
    """None for a read-only source: no Lease to hold, and nothing a second replica could race on."""
    if gateway.read_only:
        return None
    return LeaderElector(
        gateway,
        namespace=settings.leader_lease_namespace,
        name=settings.leader_lease_name,
        identity=identity,
        lease_seconds=settings.leader_lease_seconds,
        retry_seconds=min(2.0, settings.leader_lease_seconds / 5),
    )


def replica_timing(settings: Settings) -> ReplicaTiming:
    return ReplicaTiming(
        heartbeat_seconds=settings.replica_heartbeat_seconds,
        dead_after_seconds=settings.replica_heartbeat_seconds * 3,
        leader_period_seconds=settings.shadow_janitor_interval_seconds,
    )
