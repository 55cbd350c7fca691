"""Contexts for analyzer unit tests: hand-built (a Deployment with two revisions and one pod) or from an example snapshot."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers.base import AnalysisPolicy, Context, Finding
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import ObjectRef
from tests.incidents import EXAMPLES, NEAR_MISSES


def deployment_context(
    spec: dict[str, Any],
    *,
    statuses: Sequence[dict[str, Any]] = (),
    init_statuses: Sequence[dict[str, Any]] = (),
    previous: dict[str, Any] | None = None,
    previous_ready: int = 2,
    events: Sequence[dict[str, Any]] = (),
    configmaps: dict[str, list[str]] | None = None,
    secrets: dict[str, list[str]] | None = None,
    logs: dict[tuple[str, bool], str] | None = None,
) -> Context:
    """A Deployment 'app' whose newest revision (2) runs `spec`, one pod of it with these statuses."""

    def rs(rev: int, pod_spec: dict[str, Any], ready: int) -> dict[str, Any]:
        labels = {"app": "app", "pod-template-hash": f"h{rev}"}
        return {
            "kind": "ReplicaSet",
            "metadata": {"name": f"app-h{rev}", "namespace": "ns", "labels": labels, "annotations": {"deployment.kubernetes.io/revision": str(rev)}},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": copy.deepcopy(pod_spec)}},
            "status": {"replicas": 1, "readyReplicas": ready} if ready else {"replicas": 1},
        }

    workload = {
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {"app": "app"}}, "spec": copy.deepcopy(spec)}},
    }
    pod = {
        "kind": "Pod",
        "metadata": {"name": "app-h2-x1", "namespace": "ns", "labels": {"app": "app", "pod-template-hash": "h2"}},
        "spec": copy.deepcopy(spec),
        "status": {"phase": "Running", "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses)},
    }
    replicasets = [rs(2, spec, 0)] + ([rs(1, previous, previous_ready)] if previous is not None else [])
    keyed = [
        {"kind": kind, "metadata": {"name": n, "namespace": "ns"}, "data": {k: "[REDACTED]" for k in keys}}
        for kind, pool in (("ConfigMap", configmaps or {}), ("Secret", secrets or {}))
        for n, keys in pool.items()
    ]
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="app"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        replicasets=replicasets,
        events=list(events),
        configmaps=[o for o in keyed if o["kind"] == "ConfigMap"],
        secrets=[o for o in keyed if o["kind"] == "Secret"],
        logs=[ContainerLogs(pod="app-h2-x1", container=c, previous=p, text=t) for (c, p), t in (logs or {}).items()],
        observed_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


async def snapshot_bundle(directory: str, kind: str, namespace: str, name: str, *, near_miss: bool = False) -> ObjectBundle:
    """The bundle the engine collects for a target of an example (or near-miss) snapshot; a copy tests may edit."""
    root = NEAR_MISSES if near_miss else EXAMPLES
    bundle, _ = await Investigator(SnapshotGateway.open(root / directory / "snapshot")).collect(ObjectRef(kind=kind, namespace=namespace, name=name))
    return bundle.model_copy(deep=True)


def context_of(bundle: ObjectBundle, policy: AnalysisPolicy | None = None) -> Context:
    return Context(bundle=bundle, evidence=extract(bundle), policy=policy or AnalysisPolicy())


def fix_ops(finding: Finding) -> list[dict[str, object]]:
    """The finding's patch as RFC 6902 dicts."""
    assert finding.fix is not None
    return [op.as_json() for op in finding.fix.ops]
