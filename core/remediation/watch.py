"""After Apply: does the fix hold? What the workload's pods and events say, and the pure judgement.

`observe` reads the workload's pods (by its selector) and the Warning events about them since a
moment; `regression` compares an observation with the one taken when the rollout finished: a
restart, a Warning that means the pods cannot be healthy, or pods not Ready for longer than a grace.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aegis.core import objects
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import Model, ObjectRef
from aegis.core.objects import selectors
from aegis.core.shadow.health import FATAL_REASONS


class Observation(Model):
    ready: int
    desired: int
    restarts: int
    warnings: list[str] = Field(default_factory=list, description="'reason: message' of Warning events about the pods since the fix")


async def observe(gateway: KubeGateway, ref: ObjectRef, since: datetime) -> Observation:
    """The workload's pods and the Warning events about them newer than `since`."""
    workload = await gateway.get(ref.kind, ref.namespace, ref.name)
    if ref.kind == "Pod":
        pods = [workload]
        desired = 1
    else:
        selector = (workload.get("spec") or {}).get("selector")
        pods = [p for p in await gateway.list_objects("Pod", ref.namespace) if selectors.matches_label_selector(objects.labels(p), selector)]
        status = workload.get("status") or {}
        desired = int((workload.get("spec") or {}).get("replicas", status.get("desiredNumberScheduled", len(pods))) or 0)
    names = {objects.name(p) for p in pods}
    ready = sum(1 for p in pods if (objects.condition(p, "Ready") or {}).get("status") == "True" and not objects.meta(p).get("deletionTimestamp"))
    restarts = sum(int(s.get("restartCount") or 0) for p in pods for s in objects.container_statuses(p))
    warnings = []
    for event in await gateway.list_objects("Event", ref.namespace):
        involved = event.get("involvedObject") or {}
        at = objects.parse_time(event.get("lastTimestamp") or event.get("eventTime") or objects.meta(event).get("creationTimestamp"))
        if event.get("type") == "Warning" and involved.get("name") in names and at is not None and at > since:
            warnings.append(f"{event.get('reason', '')}: {str(event.get('message', ''))[:300]}")
    return Observation(ready=ready, desired=desired, restarts=restarts, warnings=warnings)


def regression(baseline: Observation, now: Observation, *, not_ready_for: float, ready_grace: float) -> str | None:
    """Why the fix is not holding, or None. `not_ready_for`: seconds the pods have been short of Ready so far."""
    if now.restarts > baseline.restarts:
        return f"containers restarted {now.restarts - baseline.restarts} time(s) since the fix rolled out"
    fatal = [w for w in now.warnings if w.split(":", 1)[0] in FATAL_REASONS]
    if fatal:
        return f"Warning events since the fix: {'; '.join(fatal[:3])}"
    if now.ready < now.desired and not_ready_for > ready_grace:
        return f"only {now.ready}/{now.desired} pods Ready for {not_ready_for:.0f}s"
    return None
