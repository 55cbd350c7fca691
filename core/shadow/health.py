"""Judging a shadow's health over time: pure, fed by watch events, no I/O.

Healthy means: every desired pod Ready, restart counts flat for the settle window after that,
and no Warning event. Some Warning reasons mean the fix cannot work (the container crashes,
the image does not pull, the pod cannot be created or scheduled): those end the run at once
instead of waiting for the timeout. The score (0..1) is what the timeline shows: the share of
Ready pods, halved by a restart or a Warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aegis.core import objects
from aegis.core.models import HealthSample, KubeObject

# Reasons kubelet, the scheduler and the controllers give when a pod cannot become healthy.
FATAL_REASONS = frozenset(
    {
        "BackOff",
        "Failed",
        "FailedMount",
        "FailedAttachVolume",
        "FailedScheduling",
        "FailedCreate",
        "ErrImagePull",
        "ImagePullBackOff",
        "InspectFailed",
        "CreateContainerConfigError",
        "CreateContainerError",
        "Evicted",
        "OOMKilling",
        "FailedPostStartHook",
        "FailedPreStopHook",
        "Killing",
    }
)
REPEATED_WARNING_LIMIT = 3
# Warnings that say "not yet" rather than "no": a claim still being provisioned and bound.
_TRANSIENT = (("FailedScheduling", "unbound immediate PersistentVolumeClaims"),)


def _transient(event: KubeObject) -> bool:
    reason, message = str(event.get("reason", "")), str(event.get("message", ""))
    return any(reason == r and fragment.lower() in message.lower() for r, fragment in _TRANSIENT)


@dataclass
class Verdict:
    done: bool
    passed: bool = False
    outcome: str = ""
    reason: str = ""


@dataclass
class HealthTracker:
    """Pods and events as the watch reports them; `evaluate(now)` says where the shadow stands."""

    desired: int
    settle_seconds: float
    started: float
    pods: dict[str, KubeObject] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)  # event uid -> "Reason on object: message"
    warning_counts: dict[str, int] = field(default_factory=dict)
    fatal: str | None = None
    first_warning_at: float | None = None
    ready_since: float | None = None
    baseline_restarts: int | None = None
    timeline: list[HealthSample] = field(default_factory=list)

    def pod_event(self, kind: str, pod: KubeObject) -> None:
        name = objects.name(pod)
        if kind == "DELETED" or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.pods.pop(name, None)
        else:
            self.pods[name] = pod

    def event(self, event: KubeObject, now: float) -> None:
        if event.get("type") != "Warning" or _transient(event):
            return
        if self.first_warning_at is None:
            self.first_warning_at = now
        uid = str((event.get("metadata") or {}).get("uid") or objects.name(event))
        involved = event.get("involvedObject") or {}
        reason = str(event.get("reason", ""))
        text = f"{reason} on {str(involved.get('kind', '')).lower()}/{involved.get('name', '')}: {str(event.get('message', ''))[:300]}"
        self.warnings[uid] = text
        self.warning_counts[uid] = int(event.get("count") or (event.get("series") or {}).get("count") or 1)
        if self.fatal is None and (reason in FATAL_REASONS or self.warning_counts[uid] >= REPEATED_WARNING_LIMIT):
            self.fatal = text

    @property
    def ready(self) -> int:
        return sum(1 for pod in self.pods.values() if (objects.condition(pod, "Ready") or {}).get("status") == "True")

    @property
    def restarts(self) -> int:
        return sum(int(s.get("restartCount") or 0) for pod in self.pods.values() for init in (False, True) for s in objects.container_statuses(pod, init=init))

    def score(self) -> float:
        share = min(1.0, self.ready / self.desired) if self.desired else 0.0
        if self.warnings:
            share /= 2
        if self.baseline_restarts is not None and self.restarts > self.baseline_restarts:
            share /= 2
        return round(share, 3)

    def sample(self, now: float) -> HealthSample:
        point = HealthSample(
            at_seconds=round(now - self.started, 2),
            ready=self.ready,
            desired=self.desired,
            restarts=self.restarts,
            warnings=len(self.warnings),
            score=self.score(),
        )
        if not self.timeline or self.timeline[-1].model_dump(exclude={"at_seconds"}) != point.model_dump(exclude={"at_seconds"}):
            self.timeline.append(point)
        return point

    def evaluate(self, now: float) -> Verdict:
        if self.fatal:
            return Verdict(True, False, "failed", f"Warning event: {self.fatal}")
        all_ready = self.desired > 0 and self.ready >= self.desired and len(self.pods) >= self.desired
        if not all_ready:
            self.ready_since = None
            if self.first_warning_at is not None and now - self.first_warning_at >= self.warning_grace:
                # A Warning and still not Ready a settle window later: the fix does not heal it.
                return Verdict(True, False, "failed", f"not Ready {self.warning_grace:.0f}s after a Warning event: {next(iter(self.warnings.values()))}")
            return Verdict(False)
        if self.ready_since is None:
            self.ready_since = now
            self.baseline_restarts = self.restarts
        if self.baseline_restarts is not None and self.restarts > self.baseline_restarts:
            return Verdict(True, False, "failed", f"containers restarted during the settle window ({self.baseline_restarts} → {self.restarts})")
        if now - self.ready_since >= self.settle_seconds:
            if self.warnings:
                return Verdict(True, False, "failed", f"{len(self.warnings)} Warning event(s): {next(iter(self.warnings.values()))}")
            return Verdict(True, True, "passed", f"{self.ready}/{self.desired} Ready, restarts flat for {self.settle_seconds:.0f}s, no Warning events")
        return Verdict(False)

    @property
    def warning_grace(self) -> float:
        return max(self.settle_seconds, 5.0)

    def next_deadline(self, now: float) -> float | None:
        """When the verdict can change without a new event (the settle window or the warning grace ending)."""
        if self.ready_since is not None:
            return self.ready_since + self.settle_seconds
        if self.first_warning_at is not None:
            return self.first_warning_at + self.warning_grace
        return None

    def timeout_verdict(self, timeout: float) -> Verdict:
        if self.warnings:
            return Verdict(True, False, "timeout", f"not healthy after {timeout:.0f}s; {next(iter(self.warnings.values()))}")
        return Verdict(True, False, "timeout", f"not healthy after {timeout:.0f}s: {self.ready}/{self.desired} pods Ready")
