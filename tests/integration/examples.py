"""Deploying an example incident on the real control plane the way it happened: revision by revision.

A manifest that lists the same workload twice describes a rollout (a healthy revision, then the
breaking one). Applying both at once would let the Deployment controller see only the last, and
there would be no history to diagnose; so each later revision waits until the controller observed
the previous one and, when that one can become healthy, until it did.
"""

from __future__ import annotations

import time
from typing import Any

import yaml

from aegis.core.models import ObjectRef
from tests.cluster.controlplane import resource_path
from tests.incidents import Incident
from tests.integration.conftest import Cluster

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
_ROLLED = ("Deployment", "StatefulSet", "DaemonSet")


def healthy(cluster: Cluster, ref: ObjectRef) -> bool:
    """All replicas of the current revision ready (rollout complete), or the bare Pod Ready."""
    obj = cluster.api.get(resource_path(ref.kind, ref.namespace, ref.name))
    status = obj.get("status") or {}
    if ref.kind == "Deployment":
        return cluster.rolled_out(ref.namespace, ref.name)
    if ref.kind == "StatefulSet":
        want = obj["spec"].get("replicas", 1)
        return bool(
            status.get("observedGeneration", 0) >= obj["metadata"]["generation"]
            and status.get("readyReplicas", 0) == want
            and status.get("updatedReplicas", 0) == want
            and status.get("currentRevision") == status.get("updateRevision")
        )
    if ref.kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        return bool(want and status.get("numberReady", 0) == want and status.get("updatedNumberScheduled", 0) == want)
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _observed(cluster: Cluster, ref: ObjectRef) -> bool:
    obj = cluster.api.get(resource_path(ref.kind, ref.namespace, ref.name))
    return int((obj.get("status") or {}).get("observedGeneration", 0)) >= int(obj["metadata"].get("generation", 1))


def _wait(probe: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.5)
    return False


def deploy_example(cluster: Cluster, incident: Incident, *, revision_settle: float = 20.0) -> ObjectRef:
    """Apply the example's manifest in a fresh namespace, revision by revision; the workload it breaks."""
    docs = [d for d in yaml.safe_load_all((incident.directory / "manifest.yaml").read_text()) if d and d.get("kind") != "Namespace"]
    ns = cluster.create_namespace(incident.name[:40])
    applied: set[tuple[str, str]] = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        if key in applied and doc["kind"] in _ROLLED:
            ref = ObjectRef(kind=doc["kind"], namespace=ns, name=doc["metadata"]["name"])
            _wait(lambda r=ref: _observed(cluster, r), 30)
            # The earlier revision was healthy in the real incident; let it be so here when it can.
            _wait(lambda r=ref: healthy(cluster, r), revision_settle)
        cluster.apply(doc, ns)
        applied.add(key)
    workload = next(d for d in docs if d.get("kind") in WORKLOAD_KINDS)
    return ObjectRef(kind=workload["kind"], namespace=ns, name=workload["metadata"]["name"])


def remove_cluster_scoped(cluster: Cluster, incident: Incident) -> None:
    """Delete what the manifest created outside its namespace (a Node that plays a failing machine), so later tests do not see it."""
    for doc in yaml.safe_load_all((incident.directory / "manifest.yaml").read_text()):
        if doc and doc.get("kind") in ("Node", "StorageClass", "PersistentVolume"):
            cluster.api.delete(resource_path(doc["kind"], None, doc["metadata"]["name"]))
