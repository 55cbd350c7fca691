"""Leader election on a Kubernetes Lease (coordination.k8s.io/v1), as controllers do it.

One replica at a time holds the Lease and runs the leader's work (the shadow janitor, recovery of
incidents whose replica died). Like client-go, expiry is judged by this replica's own clock from
when it last saw the Lease record change, never by comparing another replica's timestamps; a write
carries a `test` of the resourceVersion just read, so of two replicas taking over at once one wins.
A leader that could not renew stops counting itself leader after the renew deadline, before the
lease can expire and another replica take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from aegis.core import objects, telemetry
from aegis.core.errors import AegisError, AlreadyExistsError, ConflictError, NotFoundError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import KubeObject


def _micro(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        gateway: KubeGateway,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15.0,
        renew_deadline_seconds: float = 10.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._gw = gateway
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_deadline = min(renew_deadline_seconds, lease_seconds * 0.8)
        self.retry_seconds = retry_seconds
        self._renewed_at: float | None = None  # monotonic time of our last successful write
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._log = telemetry.get_logger(lease=f"{namespace}/{name}", replica=identity)

    @property
    def is_leader(self) -> bool:
        return self._renewed_at is not None and time.monotonic() - self._renewed_at < self.renew_deadline

    async def run(self, stop: asyncio.Event) -> None:
        """Try to acquire or renew every `retry_seconds` until `stop`; release the lease on the way out."""
        while not stop.is_set():
            was = self.is_leader
            try:
                await self.try_acquire_or_renew()
            except AegisError as exc:
                self._log.warning("leader.lease.failed", error=str(exc))
            if self.is_leader != was:
                self._log.info("leader.lease.acquired" if self.is_leader else "leader.lease.lost")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.retry_seconds)
        await self.release()

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when this replica holds the lease afterwards."""
        now = datetime.now(UTC)
        try:
            lease = await self._gw.get("Lease", self.namespace, self.name)
        except NotFoundError:
            try:
                await self._gw.create("Lease", self.namespace, self._new_lease(now))
            except (AlreadyExistsError, ConflictError):
                return False
            self._renewed_at = time.monotonic()
            return True
        spec: dict[str, Any] = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        record = (holder, str(spec.get("renewTime") or ""))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        expired = time.monotonic() > self._observed_at + duration
        if holder and holder != self.identity and not expired:
            self._renewed_at = None
            return False
        taking_over = holder != self.identity
        changes: dict[str, Any] = {"holderIdentity": self.identity, "renewTime": _micro(now), "leaseDurationSeconds": int(self.lease_seconds)}
        if taking_over:
            changes["acquireTime"] = _micro(now)
            changes["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": str(objects.meta(lease).get("resourceVersion", ""))}]
        patch += [{"op": "add", "path": f"/spec/{key}", "value": value} for key, value in changes.items()]
        try:
            await self._gw.patch_json("Lease", self.namespace, self.name, patch, dry_run=False)
        except ConflictError:
            self._renewed_at = None
            return False
        self._renewed_at = time.monotonic()
        return True

    async def release(self) -> None:
        """Give the lease up at shutdown so another replica takes over at once rather than after expiry."""
        if not self.is_leader:
            return
        self._renewed_at = None
        with contextlib.suppress(AegisError):
            lease = await self._gw.get("Lease", self.namespace, self.name)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                patch = [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": str(objects.meta(lease).get("resourceVersion", ""))},
                    {"op": "add", "path": "/spec/holderIdentity", "value": ""},
                ]
                await self._gw.patch_json("Lease", self.namespace, self.name, patch, dry_run=False)
                self._log.info("leader.lease.released")

    def _new_lease(self, now: datetime) -> KubeObject:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": {"app.kubernetes.io/name": "aegis"}},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_seconds),
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
                "leaseTransitions": 0,
            },
        }
