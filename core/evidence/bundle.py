"""ObjectBundle: everything collected about one target, already redacted.

The collector fills it from a gateway; evidence extraction and analyzers only read it. Holding the
objects in one place lets analyzers stay pure functions (no API calls) and lets `aegis snapshot`
write exactly what the engine saw.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aegis.core import objects
from aegis.core.models import KubeObject, ObjectRef


class ContainerLogs(BaseModel):
    model_config = ConfigDict(frozen=True)

    pod: str
    container: str
    previous: bool
    text: str


class Dependency(BaseModel):
    """An in-cluster Service the workload's logs fail to reach, and what stands behind it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    host: str = Field(description="The host as the application logged it.")
    service: ObjectRef
    bundle: ObjectBundle | None = Field(default=None, description="The Service's workload, collected like a target; None when none was found.")


class ObjectBundle(BaseModel):
    """The objects and logs around a target. Secret values are already masked."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: ObjectRef
    namespace: str
    workload: KubeObject | None = Field(default=None, description="The owning Deployment/StatefulSet/DaemonSet/Job/CronJob, or the bare Pod.")
    template_digest: str | None = Field(default=None, description="objects.template_digest of the workload as read, before redaction.")
    pods: list[KubeObject] = Field(default_factory=list, description="Pods of the target, worst first.")
    replicasets: list[KubeObject] = Field(default_factory=list)
    revisions: list[KubeObject] = Field(default_factory=list, description="ControllerRevisions.")
    events: list[KubeObject] = Field(default_factory=list)
    configmaps: list[KubeObject] = Field(default_factory=list)
    secrets: list[KubeObject] = Field(default_factory=list, description="Values masked.")
    services: list[KubeObject] = Field(default_factory=list, description="Services in the namespace.")
    endpoints: list[KubeObject] = Field(default_factory=list)
    pvcs: list[KubeObject] = Field(default_factory=list)
    nodes: list[KubeObject] = Field(default_factory=list)
    jobs: list[KubeObject] = Field(default_factory=list, description="A Job target, or a CronJob's recent Jobs, oldest first.")
    quotas: list[KubeObject] = Field(default_factory=list, description="ResourceQuotas of the namespace.")
    storageclasses: list[KubeObject] = Field(default_factory=list, description="StorageClasses of the collected claims.")
    logs: list[ContainerLogs] = Field(default_factory=list)
    # Gathered only when the logs call for them: network failures, API refusals.
    network_policies: list[KubeObject] = Field(default_factory=list, description="NetworkPolicies of the namespace.")
    roles: list[KubeObject] = Field(default_factory=list, description="Roles of the namespace (their rules).")
    role_bindings: list[KubeObject] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list, description="In-cluster Services the logs show failing, followed to their workloads.")
    uncollected_kinds: list[str] = Field(default_factory=list, description="Kinds the source did not look for: unknown, not absent.")
    observed_at: datetime

    @property
    def pod(self) -> KubeObject | None:
        """The pod the diagnosis focuses on (the most broken one)."""
        return self.pods[0] if self.pods else None

    @property
    def workload_ref(self) -> ObjectRef | None:
        return objects.ref(self.workload) if self.workload else None

    def knows(self, kind: str) -> bool:
        return kind not in self.uncollected_kinds

    def find(self, kind: str, name: str) -> KubeObject | None:
        pool: dict[str, list[KubeObject]] = {
            "ConfigMap": self.configmaps,
            "Secret": self.secrets,
            "Service": self.services,
            "PersistentVolumeClaim": self.pvcs,
            "ReplicaSet": self.replicasets,
            "Node": self.nodes,
            "Job": self.jobs,
            "ResourceQuota": self.quotas,
            "StorageClass": self.storageclasses,
        }
        for obj in pool.get(kind, []):
            if objects.name(obj) == name:
                return obj
        return None

    def log(self, pod: str, container: str, *, previous: bool) -> str | None:
        for entry in self.logs:
            if entry.pod == pod and entry.container == container and entry.previous == previous:
                return entry.text
        return None

    def events_for(self, kind: str, name: str) -> list[KubeObject]:
        return [e for e in self.events if (e.get("involvedObject") or {}).get("kind") == kind and (e.get("involvedObject") or {}).get("name") == name]

    def current_replicaset(self) -> KubeObject | None:
        """The ReplicaSet of the workload's newest revision."""
        if not self.replicasets:
            return None
        return max(self.replicasets, key=objects.revision)

    def previous_replicaset(self) -> KubeObject | None:
        """The ReplicaSet of the last healthy revision before the newest one (see `baseline`)."""
        return self.baseline(self.replicasets)

    def baseline(self, revisions: list[KubeObject]) -> KubeObject | None:
        """The revision a change is measured from: the newest older one that was healthy, not merely the one before.

        A rollout that broke and was "fixed" by another broken rollout leaves the healthy revision two
        or more steps back; diffing against the one just before would hide the first breaking change.
        Healthy: it still has ready or available pods (a stuck rollout keeps the old ones serving), or
        it is a StatefulSet's currentRevision. Known broken: its pods exist and none is ready. Without
        a trace either way (scaled away), an older revision counts as unknown and is skipped only when a
        healthy one exists further back; with none known healthy, the one just before stands.
        """
        ordered = sorted(revisions, key=objects.revision)
        if len(ordered) < 2:
            return None
        older = ordered[:-1]
        verdicts = [(rev, self._revision_health(rev)) for rev in reversed(older)]
        healthy = next((rev for rev, verdict in verdicts if verdict is True), None)
        if healthy is not None:
            return healthy
        return next((rev for rev, verdict in verdicts if verdict is None), older[-1])

    def _revision_health(self, revision: KubeObject) -> bool | None:
        if revision.get("kind") == "ControllerRevision":
            label, value = "controller-revision-hash", objects.name(revision)
            status = (self.workload or {}).get("status") or {}
            if status.get("currentRevision") == value and status.get("updateRevision") != value and int(status.get("readyReplicas") or 0) > 0:
                return True
            replicas = 0
        else:
            label, value = "pod-template-hash", objects.labels(revision).get("pod-template-hash", "")
            status = revision.get("status") or {}
            if int(status.get("availableReplicas") or status.get("readyReplicas") or 0) > 0:
                return True
            replicas = int(status.get("replicas") or 0)
        pods = [p for p in self.pods if value and objects.labels(p).get(label) == value]
        if any((objects.condition(p, "Ready") or {}).get("status") == "True" for p in pods):
            return True
        if pods or replicas > 0:
            return False
        return None

    def all_objects(self) -> list[KubeObject]:
        seen: list[KubeObject] = []
        groups: list[list[KubeObject]] = [
            [self.workload] if self.workload else [],
            self.pods,
            self.replicasets,
            self.revisions,
            self.events,
            self.configmaps,
            self.secrets,
            self.services,
            self.endpoints,
            self.pvcs,
            self.nodes,
            self.jobs,
            self.quotas,
            self.storageclasses,
            self.network_policies,
            self.roles,
            self.role_bindings,
        ]
        keys: set[tuple[str, str, str]] = set()
        for group in groups:
            for obj in group:
                # The same object can sit in two groups (a Job target is also one of its jobs), each a redacted copy.
                key = (str(obj.get("kind")), objects.namespace(obj), objects.name(obj))
                if key not in keys:
                    keys.add(key)
                    seen.append(obj)
        return seen

    def dependency(self, namespace: str, service: str) -> Dependency | None:
        return next((d for d in self.dependencies if (d.service.namespace, d.service.name) == (namespace, service)), None)

    def summary(self) -> dict[str, Any]:
        return {
            "pods": len(self.pods),
            "events": len(self.events),
            "replicasets": len(self.replicasets),
            "logs": len(self.logs),
        }


Dependency.model_rebuild()
