"""The workload an alert's pod belongs to, through its owners: ReplicaSet → Deployment, StatefulSet, DaemonSet, Job → CronJob.

An incident is one broken workload: three crash-looping replicas are one incident, not three. A pod
that is gone (evicted and deleted, replaced by a rollout) is followed by its name to the owners that
still exist; when the API cannot answer at all, a Deployment-shaped name is taken at its word, so
the alerts of one workload still meet while the API is down.
"""

from __future__ import annotations

from aegis.core import objects, telemetry
from aegis.core.errors import AegisError, NotFoundError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import KubeObject, ObjectRef
from aegis.core.objects import owners

_log = telemetry.get_logger(area="alert")


async def workload_of(gateway: KubeGateway, target: ObjectRef) -> ObjectRef:
    """The workload owning `target` (a pod or a Job); `target` itself when it has no owner or is a workload."""
    if target.kind not in ("Pod", "Job"):
        return target
    try:
        obj = await gateway.get(target.kind, target.namespace, target.name)
    except NotFoundError:
        return await _by_name(gateway, target)
    except AegisError as exc:
        _log.warning("alert.owner.unavailable", target=str(target), error=str(exc))
        return _guess(target)
    try:
        return await _climb(gateway, obj, target)
    except AegisError as exc:
        _log.warning("alert.owner.unavailable", target=str(target), error=str(exc))
        return _guess(target)


async def _climb(gateway: KubeGateway, obj: KubeObject, target: ObjectRef) -> ObjectRef:
    owner = objects.controller_of(obj)
    if owner is None:
        return target
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    if kind == "ReplicaSet":
        try:
            rs = await gateway.get("ReplicaSet", target.namespace, name)
        except NotFoundError:
            return target
        up = objects.controller_of(rs)
        if up is None or up.get("kind") != "Deployment":
            return target
        kind, name = "Deployment", str(up["name"])
    elif kind == "Job":
        try:
            job = await gateway.get("Job", target.namespace, name)
        except NotFoundError:
            return ObjectRef(kind="Job", namespace=target.namespace, name=name)
        return await _climb(gateway, job, ObjectRef(kind="Job", namespace=target.namespace, name=name))
    if kind not in ("Deployment", "StatefulSet", "DaemonSet", "CronJob"):
        return target
    return ObjectRef(kind=kind, namespace=target.namespace, name=name)


async def _by_name(gateway: KubeGateway, target: ObjectRef) -> ObjectRef:
    """A deleted pod: the first owner its name could come from that exists and selects it."""
    if target.kind != "Pod":
        return target
    replicaset = owners.replicaset_of_pod_name(target.name)
    if replicaset:
        try:
            rs = await gateway.get("ReplicaSet", target.namespace, replicaset)
            up = objects.controller_of(rs)
            if up is not None and up.get("kind") == "Deployment":
                return ObjectRef(kind="Deployment", namespace=target.namespace, name=str(up["name"]))
        except AegisError:
            pass
    for kind, name in owners.owner_candidates(target.name):
        try:
            found = await gateway.get(kind, target.namespace, name)
        except AegisError:
            continue
        if kind == "Job":
            return await _climb(gateway, found, ObjectRef(kind="Job", namespace=target.namespace, name=name))
        return ObjectRef(kind=kind, namespace=target.namespace, name=name)
    return target


def _guess(target: ObjectRef) -> ObjectRef:
    if target.kind == "Pod":
        for kind, name in owners.owner_candidates(target.name)[:1]:
            if kind == "Deployment":
                return ObjectRef(kind=kind, namespace=target.namespace, name=name)
    return target
