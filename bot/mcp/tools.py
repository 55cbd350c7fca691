"""What each MCP tool does, over the seams every surface shares (gateway, investigator, store, shadow).

No MCP types here: `server` turns these results into tool results and an `AegisError` into a tool
error. Each call checks its namespace against `policy` before it touches the cluster. The
connections are opened on first use and kept (`Services`), so a server started while the cluster
or the database is down still answers, and says what is wrong, on every call.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aegis.bot.mcp import policy, results
from aegis.core import telemetry
from aegis.core.config import Settings
from aegis.core.errors import UsageError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import Diagnosis, Incident, IncidentId, ObjectRef, PhaseTiming
from aegis.core.report import AnalysisReport
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy
from aegis.core.store import IncidentStore, StoreError, open_store
from aegis.core.targets import parse_target

Progress = Callable[[str], Awaitable[None]]

# How many open incidents are searched for the one a target belongs to.
_OPEN_INCIDENTS_SEARCHED = 200


class Services:
    """The process's connections: one gateway per kubeconfig context, one store, one ShadowManager per gateway."""

    def __init__(self, settings: Settings, *, snapshot: str | None = None, kubeconfig: str | None = None, context: str | None = None) -> None:
        self.settings = settings
        self._snapshot = snapshot
        self._kubeconfig = kubeconfig or settings.kubeconfig
        self._context = context or settings.kube_context
        self._gateways: dict[str | None, KubeGateway] = {}
        self._shadows: dict[str | None, ShadowManager] = {}
        self._store: IncidentStore | None = None
        # Two locks: a slow database must not hold up the first diagnosis of another context.
        self._lock = asyncio.Lock()
        self._store_lock = asyncio.Lock()

    @property
    def source(self) -> str:
        return f"snapshot {self._snapshot}" if self._snapshot else f"context {self._context}" if self._context else "current kubeconfig context"

    async def gateway(self, context: str | None) -> KubeGateway:
        if self._snapshot and context:
            raise UsageError(f"this server reads the snapshot {self._snapshot}; the `context` argument applies only to a live cluster: leave it out")
        key = None if self._snapshot else (context or self._context)
        async with self._lock:
            gateway = self._gateways.get(key)
            if gateway is None:
                gateway = await self._open(key)
                self._gateways[key] = gateway
            return gateway

    async def _open(self, context: str | None) -> KubeGateway:
        if self._snapshot:
            from aegis.core.kube.snapshot import SnapshotGateway

            return SnapshotGateway.open(self._snapshot)
        from aegis.core.kube.live import LiveGateway

        return await LiveGateway.connect(kubeconfig=self._kubeconfig, context=context, in_cluster=self.settings.in_cluster)

    async def shadow(self, context: str | None) -> ShadowManager:
        gateway = await self.gateway(context)
        key = context or self._context
        manager = self._shadows.get(key)
        if manager is None:
            manager = self._shadows[key] = ShadowManager(gateway, ShadowPolicy.from_settings(self.settings))
        return manager

    async def store(self) -> IncidentStore:
        async with self._store_lock:
            if self._store is None:
                self._store = await open_store(self.settings.store_url)
            return self._store

    async def aclose(self) -> None:
        """Cancel running verifications (their cleanup still runs), then close every connection."""
        for manager in self._shadows.values():
            await manager.aclose()
        for gateway in self._gateways.values():
            await gateway.close()
        if self._store is not None:
            await self._store.close()
        self._gateways.clear()
        self._shadows.clear()
        self._store = None


def target_of(settings: Settings, target: str, namespace: str | None) -> ObjectRef:
    """The TARGET grammar, then the namespace policy: UsageError with what to do for either."""
    ref = parse_target(target, namespace)
    decision = policy.namespace_allowed(settings, ref.namespace)
    if not decision.allowed:
        raise UsageError(decision.reason)
    return ref


async def investigate(services: Services, ref: ObjectRef, context: str | None) -> Diagnosis:
    from aegis.core import wiring

    return await wiring.investigator(services.settings, await services.gateway(context)).investigate(ref)


async def diagnose(services: Services, target: str, namespace: str | None, context: str | None) -> tuple[dict[str, Any], str]:
    """The `aegis analyze --output json` object for the target, and how a person would apply its fix."""
    ref = target_of(services.settings, target, namespace)
    diagnosis = await investigate(services, ref, context)
    report = results.redacted_dict(AnalysisReport.from_diagnosis(diagnosis).model_dump(mode="json"))
    incident = await incident_for(services, diagnosis)
    note = results.apply_note(incident, services.settings.slack_workspace_url) if diagnosis.fix else "No safe fix was proposed: see manual_steps."
    return report, note


async def snapshot(services: Services, target: str, namespace: str | None, context: str | None) -> dict[str, Any]:
    """Write the target's redacted evidence bundle under AEGIS_MCP_SNAPSHOT_DIR; where, and what it holds."""
    from aegis.core import wiring
    from aegis.core.evidence import snapshot_writer

    ref = target_of(services.settings, target, namespace)
    gateway = await services.gateway(context)
    bundle, notes = await wiring.investigator(services.settings, gateway).collect(ref)
    # The server picks the directory: a client (maybe remote) never names a path to write.
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    root = await asyncio.to_thread(Path(services.settings.mcp_snapshot_dir).resolve)
    directory = root / f"{ref.namespace}-{ref.kind.lower()}-{ref.name}-{stamp}-{secrets.token_hex(2)}"
    written = await asyncio.to_thread(snapshot_writer.write, bundle, directory)
    telemetry.get_logger(target=str(ref)).info("mcp.snapshot.written", path=str(directory), files=len(written))
    return results.redacted_dict(
        {
            "path": str(directory),
            "files": len(written),
            "objects": len(bundle.all_objects()),
            "logs": len(bundle.logs),
            "notes": notes,
            "redacted": "Secret values are [REDACTED]; secret-looking env values and log content are masked.",
            "next": f"aegis analyze {ref.kind.lower()}/{ref.name} -n {ref.namespace} --snapshot {directory}",
        }
    )


async def list_incidents(services: Services, limit: int) -> list[dict[str, Any]]:
    if not 1 <= limit <= 200:
        raise UsageError(f"limit must be between 1 and 200 (got {limit})")
    store = await services.store()
    return [results.incident_summary(i, services.settings.slack_workspace_url) for i in await store.list_open(limit=limit)]


async def get_incident(services: Services, incident_id: str) -> dict[str, Any]:
    store = await services.store()
    incident = await store.get(IncidentId(incident_id.strip()))
    if incident is None:
        raise UsageError(f"no incident {incident_id!r}: list_incidents shows the open ones (ids look like INC-12)")
    transitions = [
        {"from": t.from_state.value, "to": t.to_state.value, "actor": t.actor, "reason": t.reason, "at": t.at.isoformat()}
        for t in await store.transitions(incident.id)
    ]
    return results.incident_detail(incident, transitions, services.settings.slack_workspace_url)


async def verify_fix(services: Services, target: str, namespace: str | None, context: str | None, progress: Progress) -> dict[str, Any]:
    """Diagnose, then prove the proposed fix in a shadow copy; each phase is reported as it completes."""
    ref = target_of(services.settings, target, namespace)
    gateway = await services.gateway(context)
    decision = policy.verification_allowed(services.settings, ref.namespace, read_only=gateway.read_only)
    if not decision.allowed:
        raise UsageError(decision.reason)
    diagnosis = await investigate(services, ref, context)
    await progress(f"diagnosed: {diagnosis.rca.category.value} ({diagnosis.rca.confidence:.0%})")
    if diagnosis.fix is None:
        raise UsageError(f"no fix proposed for {ref} ({diagnosis.rca.category.value}): nothing to verify; call diagnose for the manual steps")
    decision = policy.verification_allowed(services.settings, diagnosis.fix.target.namespace, read_only=gateway.read_only)
    if not decision.allowed:
        raise UsageError(decision.reason)

    async def phase(timing: PhaseTiming) -> None:
        mark = "ok" if timing.ok else "failed"
        await progress(f"{timing.name} {mark} in {timing.duration_ms / 1000:.2f}s" + (f": {timing.detail}" if timing.detail else ""))

    # A fresh id per call: the manager joins runs by incident id, and two callers' targets must not meet.
    run_id = IncidentId(f"mcp-{secrets.token_hex(3)}")
    manager = await services.shadow(context)
    result = await manager.verify(run_id, diagnosis, progress=phase)
    await progress(f"verdict: {result.outcome}")
    incident = await incident_for(services, diagnosis)
    return results.redacted_dict(
        {
            "target": ref.model_dump(),
            "fix": diagnosis.fix.summary,
            "verification": result.model_dump(mode="json"),
            "apply": results.apply_note(incident, services.settings.slack_workspace_url),
        }
    )


async def incident_for(services: Services, diagnosis: Diagnosis) -> Incident | None:
    """The open incident about the diagnosed target (its pod or its workload), if the store has one.

    A store that cannot be read costs only the link: the diagnosis is still worth returning.
    """
    refs = {diagnosis.target, *((diagnosis.workload,) if diagnosis.workload else ())}
    try:
        store = await services.store()
        for incident in await store.list_open(limit=_OPEN_INCIDENTS_SEARCHED):
            about = {incident.target, *((incident.diagnosis.workload,) if incident.diagnosis and incident.diagnosis.workload else ())}
            if refs & about:
                return incident
    except StoreError as exc:
        telemetry.get_logger().warning("mcp.store.unavailable", error=str(exc))
    return None
