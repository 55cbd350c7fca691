"""`aegis verify` and `aegis shadow list|gc`: the fix lifecycle from a terminal (live cluster only).

`verify` diagnoses the target, then proves the proposed fix in a shadow copy, printing each phase
as it completes and the verdict with its evidence. Exit codes: 0 passed, 1 failed (or no fix),
2/3 as for analyze. `shadow list` shows every shadow namespace with its expiry; `shadow gc`
deletes the expired ones (what the janitor in `aegis serve` does periodically).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from aegis.core import config
from aegis.core.investigator import Investigator
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import IncidentId, ObjectRef, PhaseTiming
from aegis.core.shadow import janitor
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy


async def verify(gateway: KubeGateway, target: ObjectRef, settings: config.Settings, output: str) -> int:
    diagnosis = await Investigator(gateway, policy=settings.analysis_policy, log_tail_lines=settings.log_tail_lines, settings=settings).investigate(target)
    if output == "text":
        print(f"diagnosis: {diagnosis.rca.category.value} ({diagnosis.rca.confidence:.0%}) — {diagnosis.rca.summary}")
    if diagnosis.fix is None:
        print("no fix proposed: nothing to verify", file=sys.stderr)
        return 1
    if output == "text":
        print(f"fix: {diagnosis.fix.summary} ({len(diagnosis.fix.patch)} ops on {diagnosis.fix.target})")
    incident = IncidentId(f"cli-{datetime.now(UTC):%H%M%S}")

    async def progress(phase: PhaseTiming) -> None:
        if output == "text":
            mark = "✓" if phase.ok else "✗"
            print(f"  {mark} {phase.name:<9} {phase.duration_ms / 1000:6.2f}s  {phase.detail}", flush=True)

    manager = ShadowManager(gateway, ShadowPolicy.from_settings(settings))
    result = await manager.verify(incident, diagnosis, progress=progress)
    if output == "json":
        print(result.model_dump_json(indent=2))
    else:
        print(f"verdict: {'PASSED' if result.passed else result.outcome.upper()} (score {result.score:.2f}) — {result.reason}")
        print("readiness: " + " → ".join(f"{s.at_seconds:.0f}s {s.ready}/{s.desired}" for s in result.timeline))
        print(f"restarts: {result.restarts}; warning events: {len(result.warning_events)}")
        for warning in result.warning_events[:5]:
            print(f"  ! {warning}")
        if result.probe is not None:
            print(f"load probe: {result.probe.status} — {result.probe.reason}")
        for note in result.representativeness_notes:
            print(f"note: {note}")
    return 0 if result.passed else 1


async def shadow(gateway: KubeGateway, action: str) -> int:
    if action == "gc":
        deleted = await janitor.sweep(gateway)
        print(f"deleted {len(deleted)} expired shadow namespace(s)" + (": " + ", ".join(deleted) if deleted else ""))
        return 0
    shadows = await janitor.list_shadows(gateway)
    if not shadows:
        print("no shadow namespaces")
        return 0
    for item in shadows:
        expires = item.expires_at.isoformat(timespec="seconds") if item.expires_at else "?"
        state = "expired" if item.expired else "live"
        print(f"{item.namespace:<40} incident={item.incident:<12} {item.phase or '-':<12} expires={expires} ({state}) {item.source}")
    return 0
