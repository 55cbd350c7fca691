"""Whether a workload finished rolling out, read from its status: pure, as `kubectl rollout status` judges."""

from __future__ import annotations

from dataclasses import dataclass

from aegis.core import objects
from aegis.core.models import KubeObject


@dataclass(frozen=True)
class RolloutState:
    done: bool
    failed: str | None
    progress: str


def state(obj: KubeObject) -> RolloutState:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    observed = int(status.get("observedGeneration") or 0) >= int(objects.meta(obj).get("generation") or 0)
    if kind == "Deployment":
        want = int(spec.get("replicas", 1))
        progressing = objects.condition(obj, "Progressing") or {}
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return RolloutState(False, f"rollout exceeded its progress deadline: {progressing.get('message', '')}", "")
        updated, available, total = (int(status.get(k) or 0) for k in ("updatedReplicas", "availableReplicas", "replicas"))
        done = observed and updated == want and available == want and total == want
        return RolloutState(done, None, f"{updated}/{want} updated, {available} available")
    if kind == "StatefulSet":
        want = int(spec.get("replicas", 1))
        ready, updated = int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0)
        same = status.get("currentRevision") == status.get("updateRevision")
        return RolloutState(observed and ready == want and updated == want and same, None, f"{updated}/{want} updated, {ready} ready")
    if kind == "DaemonSet":
        want = int(status.get("desiredNumberScheduled") or 0)
        updated, ready = int(status.get("updatedNumberScheduled") or 0), int(status.get("numberReady") or 0)
        return RolloutState(observed and want > 0 and updated == want and ready == want, None, f"{updated}/{want} updated, {ready} ready")
    if kind == "Pod":
        ready = (objects.condition(obj, "Ready") or {}).get("status") == "True"
        return RolloutState(ready, None, "Ready" if ready else str(status.get("phase", "")))
    return RolloutState(True, None, "nothing to roll out")
