"""Collect everything around a target from a KubeGateway into an ObjectBundle.

Only reads. Resolves the owner chain (Pod → ReplicaSet → Deployment, StatefulSet, DaemonSet),
the workload's pods (worst first), ReplicaSets/ControllerRevisions for change detection, events,
ConfigMaps and Secrets of the namespace (Secret values masked here, and remembered so the same
values are masked in logs), Services, PVCs, nodes for unscheduled pods, and container logs.
A kind the credentials may not read is recorded as uncollected, never guessed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

from aegis.core import objects
from aegis.core.errors import ForbiddenError, NotFoundError
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import KubeObject, ObjectRef
from aegis.core.objects import kinds, selectors
from aegis.core.redaction import Redactor

T = TypeVar("T")

_WAITING_SEVERITY = {
    "CrashLoopBackOff": 5, "CreateContainerConfigError": 5, "ImagePullBackOff": 5, "ErrImagePull": 5,
    "InvalidImageName": 5, "CreateContainerError": 5, "RunContainerError": 5, "ContainerCreating": 1,
    "PodInitializing": 1,
}  # fmt: skip


class Collector:
    """Gathers the bundle for one target; one instance per investigation."""

    def __init__(self, gateway: KubeGateway, *, log_tail_lines: int = 200, redactor: Redactor | None = None) -> None:
        self._gw = gateway
        self._tail = log_tail_lines
        self._redactor = redactor or Redactor()
        self._uncollected: set[str] = set()
        self.notes: list[str] = []

    async def collect(self, target: ObjectRef) -> ObjectBundle:
        ns = target.namespace
        root = await self._gw.get(target.kind, ns, target.name)
        workload, replicasets, revisions = await self._owner_chain(root, ns)
        pods = [root] if target.kind == "Pod" else await self._pods_of(root, replicasets, revisions, ns)
        pods.sort(key=_badness, reverse=True)

        configmaps, secrets, services, endpoints, events, claims = await asyncio.gather(
            self._list("ConfigMap", ns),
            self._list("Secret", ns),
            self._list("Service", ns),
            self._list("Endpoints", ns),
            self._list("Event", ns),
            self._list("PersistentVolumeClaim", ns),
        )
        # Secret values are read only to be masked wherever they appear (logs, env, args).
        self._redactor = self._redactor.with_secrets(_secret_values(secrets))
        # Claims of the current pod and of the workload's earlier templates (a rollout may have renamed one).
        claim_names = set(objects.pvc_names(objects.pod_spec(pods[0] if pods else root)))
        for template_owner in [workload, *replicasets]:
            claim_names.update(objects.pvc_names(objects.pod_spec(template_owner)))
        claim_names.update(_claim_template_names(workload))
        pvcs = [c for c in claims if objects.name(c) in claim_names or any(objects.name(c).startswith(f"{t}-") for t in _claim_template_names(workload))]
        nodes = await self._nodes_for(pods)
        logs = await self._logs(pods[:1] if pods else [])

        involved = _involved_names(workload, pods, replicasets, pvcs)
        kept_events = sorted(
            (e for e in events if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")) in involved),
            key=_event_time,
        )
        # Redacting deep-copies and regex-scans every object: CPU work, kept off the event loop.
        return await asyncio.to_thread(
            self._assemble, target, ns, workload, pods, replicasets, revisions, kept_events, configmaps, secrets, services, endpoints, pvcs, nodes, logs
        )

    def _assemble(
        self,
        target: ObjectRef,
        ns: str,
        workload: KubeObject,
        pods: list[KubeObject],
        replicasets: list[KubeObject],
        revisions: list[KubeObject],
        events: list[KubeObject],
        configmaps: list[KubeObject],
        secrets: list[KubeObject],
        services: list[KubeObject],
        endpoints: list[KubeObject],
        pvcs: list[KubeObject],
        nodes: list[KubeObject],
        logs: list[tuple[str, str, bool, str]],
    ) -> ObjectBundle:
        redact = self._redactor.redact_object
        return ObjectBundle(
            target=target,
            namespace=ns,
            workload=redact(workload) if workload else None,
            pods=[redact(p) for p in pods],
            replicasets=[redact(r) for r in replicasets],
            revisions=[redact(r) for r in revisions],
            events=[redact(e) for e in events],
            configmaps=[_keys_only(c) for c in configmaps],
            secrets=[_keys_only(s) for s in secrets],
            services=[redact(s) for s in services],
            endpoints=[redact(e) for e in endpoints],
            pvcs=[redact(p) for p in pvcs],
            nodes=[redact(n) for n in nodes],
            logs=[ContainerLogs(pod=p, container=c, previous=prev, text=self._redactor.mask(text)) for p, c, prev, text in logs],
            uncollected_kinds=sorted(self._uncollected),
            observed_at=_observed_at(self._gw.read_only, [*pods, *events, *replicasets]),
        )

    async def _owner_chain(self, root: KubeObject, ns: str) -> tuple[KubeObject, list[KubeObject], list[KubeObject]]:
        """(workload, its ReplicaSets, its ControllerRevisions) for a pod or a workload."""
        workload = root
        if root.get("kind") == "Pod":
            owner = objects.controller_of(root)
            if owner and owner.get("kind") == "ReplicaSet":
                rs = await self._get_optional("ReplicaSet", ns, owner["name"])
                owner = objects.controller_of(rs) if rs else None
                workload = rs or root
            if owner and owner.get("kind") in kinds.WORKLOAD_KINDS:
                workload = await self._get_optional(owner["kind"], ns, owner["name"]) or workload
        kind = workload.get("kind")
        replicasets: list[KubeObject] = []
        revisions: list[KubeObject] = []
        if kind == "Deployment":
            replicasets = [r for r in await self._list("ReplicaSet", ns) if _owned_by(r, workload)]
        elif kind in ("StatefulSet", "DaemonSet"):
            revisions = [r for r in await self._list("ControllerRevision", ns) if _owned_by(r, workload)]
        return workload, replicasets, revisions

    async def _pods_of(self, workload: KubeObject, replicasets: list[KubeObject], revisions: list[KubeObject], ns: str) -> list[KubeObject]:
        selector = (workload.get("spec") or {}).get("selector") or {}
        owners = {objects.name(workload), *(objects.name(r) for r in replicasets)}
        candidates = await self._list("Pod", ns, selectors.to_string(selector.get("matchLabels") or {}) or None)
        return [
            p for p in candidates if selectors.matches_label_selector(objects.labels(p), selector) and (objects.controller_of(p) or {}).get("name") in owners
        ]

    async def _nodes_for(self, pods: list[KubeObject]) -> list[KubeObject]:
        unscheduled = [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
        if unscheduled:
            return await self._list("Node", None)
        names = {(p.get("spec") or {}).get("nodeName") for p in pods[:1]}
        found = [await self._get_optional("Node", None, str(n)) for n in names if n]
        return [n for n in found if n]

    async def _logs(self, pods: list[KubeObject]) -> list[tuple[str, str, bool, str]]:
        wanted: list[tuple[str, str, bool]] = []
        for pod in pods:
            for init in (True, False):
                for status in objects.container_statuses(pod, init=init):
                    cname = status.get("name", "")
                    if status.get("restartCount", 0) > 0 or (status.get("lastState") or {}).get("terminated"):
                        wanted.append((objects.name(pod), cname, True))
                    if (status.get("state") or {}).get("running") or (status.get("state") or {}).get("terminated"):
                        wanted.append((objects.name(pod), cname, False))
        ns = objects.namespace(pods[0]) if pods else ""
        texts = await asyncio.gather(*(self._guard("pods/log", self._gw.logs(ns, p, c, previous=prev, tail_lines=self._tail), None) for p, c, prev in wanted))
        return [(p, c, prev, t) for (p, c, prev), t in zip(wanted, texts, strict=True) if t]

    async def _list(self, kind: str, ns: str | None, label_selector: str | None = None) -> list[KubeObject]:
        if not self._gw.collected(kind):
            self._uncollected.add(kind)
            return []
        return await self._guard(kind, self._gw.list_objects(kind, ns, label_selector), [])

    async def _get_optional(self, kind: str, ns: str | None, name: str) -> KubeObject | None:
        if not self._gw.collected(kind):
            self._uncollected.add(kind)
            return None
        try:
            return await self._guard(kind, self._gw.get(kind, ns, name), None)
        except NotFoundError:
            return None

    async def _guard(self, kind: str, call: Awaitable[T], default: T) -> T:
        """A read AEGIS may not make is a gap in the evidence, noted once, not a failed diagnosis."""
        try:
            return await call
        except ForbiddenError as exc:
            if kind not in self._uncollected:
                self._uncollected.add(kind)
                self.notes.append(secret_keys_unknown(exc) if kind == "Secret" else f"could not read {kind}: {exc}")
            return default


def secret_keys_unknown(exc: ForbiddenError) -> str:
    """The note for a namespace whose Secrets AEGIS may not read (the Helm chart grants reads per namespace)."""
    where = f"namespace {exc.namespace}" if exc.namespace else "this cluster"
    return (
        f"Secret keys unknown: AEGIS may not read the Secrets of {where}, so it cannot tell which keys they hold "
        "(nor mask their values by exact match); a missing Secret or key is reported only as the kubelet reports it. "
        "Grant Secret reads there (Helm value rbac.secretNamespaces) for a complete diagnosis."
    )


def _claim_template_names(workload: KubeObject) -> list[str]:
    """StatefulSet volumeClaimTemplates: their PVCs are named <template>-<statefulset>-<ordinal>."""
    return [str((t.get("metadata") or {}).get("name", "")) for t in (workload.get("spec") or {}).get("volumeClaimTemplates") or []]


def _owned_by(obj: KubeObject, owner: KubeObject) -> bool:
    ctrl = objects.controller_of(obj) or {}
    return ctrl.get("kind") == owner.get("kind") and ctrl.get("name") == objects.name(owner)


def _badness(pod: KubeObject) -> tuple[int, int, int]:
    statuses = objects.container_statuses(pod) + objects.container_statuses(pod, init=True)
    waiting = max((_WAITING_SEVERITY.get(((s.get("state") or {}).get("waiting") or {}).get("reason", ""), 0) for s in statuses), default=0)
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    phase = (pod.get("status") or {}).get("phase")
    not_ready = 0 if (objects.condition(pod, "Ready") or {}).get("status") == "True" else 1
    pending = 1 if phase in ("Pending", "Failed", "Unknown") else 0
    return (max(waiting, pending * 4) + not_ready, restarts, len(objects.name(pod)))


def _involved_names(workload: KubeObject, pods: list[KubeObject], replicasets: list[KubeObject], pvcs: list[KubeObject]) -> set[tuple[Any, Any]]:
    return {(o.get("kind"), objects.name(o)) for o in [workload, *pods, *replicasets, *pvcs]}


def _event_time(event: KubeObject) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or "")


def _secret_values(secrets: list[KubeObject]) -> list[str]:
    values: list[str] = []
    for secret in secrets:
        for encoded in (secret.get("data") or {}).values():
            try:
                values.append(base64.b64decode(str(encoded), validate=True).decode("utf-8"))
            except (binascii.Error, UnicodeDecodeError):
                continue
            values.append(str(encoded))
        values.extend(str(v) for v in (secret.get("stringData") or {}).values())
    return values


def _keys_only(obj: KubeObject) -> KubeObject:
    """ConfigMaps and Secrets keep their names and keys; values are never needed, so never kept."""
    out: KubeObject = {k: v for k, v in obj.items() if k not in ("data", "binaryData", "stringData")}
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    meta["annotations"] = annotations
    out["metadata"] = meta
    for field in ("data", "binaryData", "stringData"):
        if obj.get(field):
            out[field] = {key: "[REDACTED]" for key in obj[field]}
    return out


def _observed_at(frozen: bool, objs: list[KubeObject]) -> datetime:
    """Now for a live cluster; for a snapshot, the newest time recorded in it (so ages stay right)."""
    if not frozen:
        return objects.now()
    stamps: list[datetime] = []
    for obj in objs:
        for value in _timestamps(obj):
            parsed = objects.parse_time(value)
            if parsed:
                stamps.append(parsed)
    return max(stamps) if stamps else objects.now()


def _timestamps(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key in (
                "lastTimestamp",
                "eventTime",
                "lastTransitionTime",
                "startedAt",
                "finishedAt",
                "creationTimestamp",
                "lastUpdateTime",
            ):
                found.append(value)
            elif isinstance(value, dict | list):
                found.extend(_timestamps(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_timestamps(item))
    return found
