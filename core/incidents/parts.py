"""What every lifecycle step works with, passed as one object instead of reached for through private members."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aegis.core import telemetry
from aegis.core.evidence.scope import TimeWindow
from aegis.core.incidents import records
from aegis.core.incidents.view import Approvals, IncidentView
from aegis.core.investigator import Investigator
from aegis.core.models import Incident, IncidentId, IncidentState
from aegis.core.remediation.policy import RemediationPolicy
from aegis.core.remediation.remediator import Remediator
from aegis.core.shadow.manager import ShadowManager
from aegis.core.store.base import IncidentStore

if TYPE_CHECKING:  # httpx loads only where Alertmanager is configured
    from aegis.core.alertmanager_api import AlertmanagerApi


@dataclass
class Parts:
    store: IncidentStore
    view: IncidentView
    approvals: Approvals
    investigator: Investigator
    policy: RemediationPolicy
    replica: str
    alert_channel: str | None = None
    lookback_minutes: int = 30
    # None (a read-only snapshot source): Verify, Apply and Roll back are refused as needing a live cluster.
    shadow: ShadowManager | None = None
    remediator: Remediator | None = None
    # None (AEGIS_ALERTMANAGER_URL unset): Silence is refused with the setting to set.
    alertmanager: AlertmanagerApi | None = None
    silencers: frozenset[str] = frozenset()  # AEGIS_SILENCERS: may silence besides the approvers

    async def audit(self, incident_id: IncidentId, actor: str, action: str, outcome: str, detail: str = "") -> None:
        await records.add(self.store, incident_id, actor, action, outcome, detail)

    async def move(
        self, incident_id: IncidentId, allowed_from: AbstractSet[IncidentState], to: IncidentState, actor: str, reason: str = "", *, mine: bool = False
    ) -> Incident | None:
        """The compare-and-set transition; `mine` records this replica as the one running the step it starts."""
        moved = await self.store.transition(
            incident_id, allowed_from=allowed_from, to=to, actor=actor, reason=reason[:300], worker=self.replica if mine else None
        )
        if moved is not None:
            telemetry.get_logger(incident_id=incident_id).info("incident.state.changed", to=to.value, actor=actor)
        return moved

    async def fresh(self, incident: Incident) -> Incident:
        return await self.store.get(incident.id) or incident

    def window(self, incident: Incident, until: datetime | None = None) -> TimeWindow:
        """The minutes the investigation's Prometheus and Loki queries cover (and the thread's links show)."""
        return TimeWindow.around(incident.created_at, lookback_minutes=self.lookback_minutes, until=until or datetime.now(UTC))
