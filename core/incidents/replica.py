"""What one `aegis serve` replica runs besides answering requests: its heartbeat, the leader election,
and, on the leader, the shadow janitor and the recovery of incidents whose replica died.

At start-up the replica first recovers the incidents it was itself running before it stopped (a
restart keeps its replica id), so a restart mid-step never strands an incident.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aegis.core import telemetry
from aegis.core.errors import AegisError
from aegis.core.incidents import recovery
from aegis.core.incidents.leader import LeaderElector
from aegis.core.incidents.service import IncidentService
from aegis.core.kube.gateway import KubeGateway
from aegis.core.shadow import janitor


@dataclass(frozen=True)
class ReplicaTiming:
    heartbeat_seconds: float = 5.0
    dead_after_seconds: float = 15.0  # three missed heartbeats
    leader_period_seconds: float = 60.0  # the janitor's period


class Replica:
    def __init__(self, service: IncidentService, gateway: KubeGateway, elector: LeaderElector | None, timing: ReplicaTiming) -> None:
        self.service = service
        self._gw = gateway
        self.elector = elector  # None: a read-only source, no Lease to hold; this replica is the only one that acts
        self.timing = timing
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._log = telemetry.get_logger(replica=service.parts.replica)

    @property
    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader

    async def start(self) -> None:
        """Beat once, recover this replica's own stranded incidents, then run the loops in the background."""
        store = self.service.parts.store
        await store.heartbeat(self.service.parts.replica)
        live = await store.live_replicas(self.timing.dead_after_seconds)
        recovered = await recovery.recover(self.service, live=live, starting=True)
        self._log.info("replica.start.recovered", incidents=recovered)
        self._tasks.append(asyncio.create_task(self._beat(), name="replica-heartbeat"))
        if self.elector is not None:
            self._tasks.append(asyncio.create_task(self.elector.run(self._stop), name="leader-election"))
        self._tasks.append(asyncio.create_task(self._lead(), name="leader-work"))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                await self.service.parts.store.heartbeat(self.service.parts.replica)
            except AegisError as exc:
                self._log.warning("replica.heartbeat.failed", error=str(exc))
            await self._wait(self.timing.heartbeat_seconds)

    async def _lead(self) -> None:
        """The leader's work, once a period: sweep expired shadows, recover incidents of dead replicas."""
        while not self._stop.is_set():
            if self.is_leader:
                await self.lead_once()
            # A new leader starts its work soon after winning, not a whole period later.
            await self._wait(min(self.timing.leader_period_seconds, self.timing.heartbeat_seconds) if not self.is_leader else self.timing.leader_period_seconds)

    async def lead_once(self) -> None:
        try:
            if not self._gw.read_only:
                await janitor.sweep(self._gw)
            live = await self.service.parts.store.live_replicas(self.timing.dead_after_seconds)
            recovered = await recovery.recover(self.service, live=live)
            if recovered:
                self._log.info("replica.lead.recovered", incidents=recovered)
        except AegisError as exc:
            self._log.warning("replica.lead.failed", error=str(exc))

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
