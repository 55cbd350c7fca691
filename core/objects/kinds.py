"""The Kubernetes kinds AEGIS reads or writes, with their API paths and kubectl-style aliases."""

from __future__ import annotations

from dataclasses import dataclass

from aegis.core.errors import UsageError


@dataclass(frozen=True)
class KindInfo:
    kind: str
    group_version: str  # "v1" or "apps/v1"
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.group_version

    def collection_path(self, namespace: str | None) -> str:
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Pod", "v1", "pods"),
        KindInfo("Event", "v1", "events"),
        KindInfo("ConfigMap", "v1", "configmaps"),
        KindInfo("Secret", "v1", "secrets"),
        KindInfo("Service", "v1", "services"),
        KindInfo("Endpoints", "v1", "endpoints"),
        KindInfo("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
        KindInfo("ServiceAccount", "v1", "serviceaccounts"),
        KindInfo("Node", "v1", "nodes", namespaced=False),
        KindInfo("Namespace", "v1", "namespaces", namespaced=False),
        KindInfo("PersistentVolume", "v1", "persistentvolumes", namespaced=False),
        KindInfo("Deployment", "apps/v1", "deployments"),
        KindInfo("ReplicaSet", "apps/v1", "replicasets"),
        KindInfo("StatefulSet", "apps/v1", "statefulsets"),
        KindInfo("DaemonSet", "apps/v1", "daemonsets"),
        KindInfo("ControllerRevision", "apps/v1", "controllerrevisions"),
        KindInfo("Job", "batch/v1", "jobs"),
        KindInfo("CronJob", "batch/v1", "cronjobs"),
        KindInfo("StorageClass", "storage.k8s.io/v1", "storageclasses", namespaced=False),
        KindInfo("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
        KindInfo("ResourceQuota", "v1", "resourcequotas"),
        KindInfo("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
        KindInfo("Lease", "coordination.k8s.io/v1", "leases"),
        KindInfo("Role", "rbac.authorization.k8s.io/v1", "roles"),
        KindInfo("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
    )
}

# What people type (kubectl's short names and plurals) → Kind.
_ALIASES = {
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
    "service": "Service", "services": "Service", "svc": "Service",
    "job": "Job", "jobs": "Job",
    "cronjob": "CronJob", "cronjobs": "CronJob", "cj": "CronJob",
    "persistentvolumeclaim": "PersistentVolumeClaim", "persistentvolumeclaims": "PersistentVolumeClaim", "pvc": "PersistentVolumeClaim",
}  # fmt: skip

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# A Job, CronJob, Service or PVC is investigated through the pods it runs, routes to or is mounted by.
TARGET_KINDS = ("Pod", *WORKLOAD_KINDS, "Job", "CronJob", "Service", "PersistentVolumeClaim")
USAGE = (
    "TARGET is pod/NAME, deployment/NAME (deploy/), statefulset/NAME (sts/), daemonset/NAME (ds/), job/NAME, "
    "cronjob/NAME (cj/), service/NAME (svc/), pvc/NAME (persistentvolumeclaim/) or a bare pod name"
)


def info(kind: str) -> KindInfo:
    try:
        return KINDS[kind]
    except KeyError:
        raise UsageError(f"AEGIS does not handle kind {kind!r}") from None


def resolve_alias(word: str) -> str:
    """kubectl-style type word → Kind, or UsageError naming what is accepted."""
    try:
        return _ALIASES[word.lower()]
    except KeyError:
        raise UsageError(f"unknown kind {word!r}: {USAGE}") from None
