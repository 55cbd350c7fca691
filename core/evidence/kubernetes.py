"""Collect everything around a target from a KubeGateway into an ObjectBundle.

Only reads. Resolves the owner chain (Pod → ReplicaSet → Deployment, StatefulSet, DaemonSet; Pod →
Job), the workload's pods (worst first), ReplicaSets/ControllerRevisions for change detection, events,
ConfigMaps and Secrets of the namespace (Secret values masked here, and remembered so the same
values are masked in logs), Services, PVCs and their StorageClasses, ResourceQuotas, the nodes the
pods run on (all nodes for unscheduled pods), and container logs. A CronJob is followed to its recent
Jobs, a Service to the pods it selects, a PVC to the pods that mount it.
A kind the credentials may not read is recorded as uncollected, never guessed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

from aegis.core import objects
from aegis.core.errors import ForbiddenError, NotFoundError
from aegis.core.evidence import netlog
from aegis.core.evidence.bundle import ContainerLogs, Dependency, ObjectBundle
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import KubeObject, ObjectRef
from aegis.core.objects import kinds, selectors
from aegis.core.redaction import Redactor, is_secret_name

T = TypeVar("T")

_MAX_JOBS = 5  # a CronJob's recent Jobs: its default history keeps 3 successful and 1 failed
_MAX_NODES = 5
_MAX_LOG_PODS = 3  # pods whose logs are tried, worst first, until one has any

_WAITING_SEVERITY = {
    "CrashLoopBackOff": 5, "CreateContainerConfigError": 5, "ImagePullBackOff": 5, "ErrImagePull": 5,
    "InvalidImageName": 5, "CreateContainerError": 5, "RunContainerError": 5, "ContainerCreating": 1,
    "PodInitializing": 1,
}  # fmt: skip


class Collector:
    """Gathers the bundle for one target; one instance per investigation."""

    def __init__(self, gateway: KubeGateway, *, log_tail_lines: int = 200, redactor: Redactor | None = None, follow: bool = True) -> None:
        self._gw = gateway
        self._tail = log_tail_lines
        # Whether to follow failing in-cluster Services to their workloads (one hop: a dependency's own are not followed).
        self._follow = follow
        self._redactor = redactor or Redactor()
        self._uncollected: set[str] = set()
        self.notes: list[str] = []

    async def collect(self, target: ObjectRef) -> ObjectBundle:
        ns = target.namespace
        # The namespace's lists need nothing but its name: read them while the owner chain is walked.
        namespace_lists = asyncio.create_task(self._namespace_lists(ns))
        try:
            root, workload, replicasets, revisions, pods, jobs = await self._workload_and_pods(target)
        except BaseException:
            namespace_lists.cancel()
            await asyncio.wait([namespace_lists])  # its outcome is not needed; let it end before the gateway closes
            raise
        configmaps, secrets, services, endpoints, events, claims, quotas = await namespace_lists
        # Secret values are read only to be masked wherever they appear (logs, env, args).
        self._redactor = self._redactor.with_secrets(_secret_values(secrets))
        # Claims of the current pod and of the workload's earlier templates (a rollout may have renamed one).
        claim_names = set(objects.pvc_names(objects.pod_spec(pods[0] if pods else root)))
        templates = [t for t in [workload, *replicasets] if t is not None]
        for template_owner in templates:
            claim_names.update(objects.pvc_names(objects.pod_spec(template_owner)))
        claim_templates = _claim_template_names(workload) if workload else []
        claim_names.update(claim_templates)
        if target.kind == "PersistentVolumeClaim":
            claim_names.add(target.name)
        pvcs = [c for c in claims if objects.name(c) in claim_names or any(objects.name(c).startswith(f"{t}-") for t in claim_templates)]
        nodes, (pods, logs), storageclasses = await asyncio.gather(self._nodes_for(pods), self._telling_logs(pods), self._classes_for(pvcs))
        follow_up = await self._follow_up(ns, logs, events, services, pods)

        involved = _involved_names(root, workload, pods, [*replicasets, *jobs], pvcs)
        kept_events = sorted(
            (e for e in events if ((e.get("involvedObject") or {}).get("kind"), (e.get("involvedObject") or {}).get("name")) in involved),
            key=_event_time,
        )
        # Redacting deep-copies and regex-scans every object: CPU work, kept off the event loop.
        bundle = await asyncio.to_thread(
            self._assemble,
            target,
            ns,
            workload,
            pods,
            replicasets,
            revisions,
            kept_events,
            configmaps,
            secrets,
            services,
            endpoints,
            pvcs,
            nodes,
            logs,
            {"jobs": jobs, "quotas": quotas, "storageclasses": storageclasses},
        )
        policies, roles, bindings, dependencies = follow_up
        redact = self._redactor.redact_object
        return bundle.model_copy(
            update={
                "network_policies": [redact(p) for p in policies],
                "roles": [redact(r) for r in roles],
                "role_bindings": [redact(b) for b in bindings],
                "dependencies": dependencies,
                "uncollected_kinds": sorted(self._uncollected),
            }
        )

    async def _workload_and_pods(
        self, target: ObjectRef
    ) -> tuple[KubeObject, KubeObject | None, list[KubeObject], list[KubeObject], list[KubeObject], list[KubeObject]]:
        """(the target, its workload, ReplicaSets, ControllerRevisions, pods worst first, Jobs)."""
        ns = target.namespace
        root = await self._gw.get(target.kind, ns, target.name)
        jobs: list[KubeObject] = []
        workload: KubeObject | None
        if target.kind in ("Service", "PersistentVolumeClaim"):
            # Investigated through the pods behind it: the workload is theirs, the object stays the target.
            pods = await self._pods_using(root, ns)
            pods.sort(key=_badness, reverse=True)
            workload, replicasets, revisions = await self._owner_chain(pods[0], ns) if pods else (None, [], [])
        elif target.kind == "CronJob":
            jobs = await self._jobs_of(root, ns)
            workload, replicasets, revisions = root, [], []
            pods = [p for job in jobs for p in await self._pods_of(job, [], [], ns)]
        else:
            workload, replicasets, revisions = await self._owner_chain(root, ns)
            pods = [root] if target.kind == "Pod" else await self._pods_of(root, replicasets, revisions, ns)
            if workload is not None and workload.get("kind") == "Job":
                jobs = [workload]
        pods.sort(key=_badness, reverse=True)
        return root, workload, replicasets, revisions, pods, jobs

    async def _namespace_lists(self, ns: str) -> list[list[KubeObject]]:
        """ConfigMaps, Secrets, Services, Endpoints, Events, PVCs and ResourceQuotas of the namespace."""
        kinds_read = ("ConfigMap", "Secret", "Service", "Endpoints", "Event", "PersistentVolumeClaim", "ResourceQuota")
        return list(await asyncio.gather(*(self._list(kind, ns) for kind in kinds_read)))

    async def _follow_up(
        self,
        ns: str,
        logs: list[tuple[str, str, bool, str]],
        events: list[KubeObject],
        services: list[KubeObject],
        pods: list[KubeObject],
    ) -> tuple[list[KubeObject], list[KubeObject], list[KubeObject], list[Dependency]]:
        """What the logs call for: NetworkPolicies and the failing Services' workloads, Roles for an API refusal.

        Kinds not looked for are recorded as uncollected (unknown, not absent), so no analyzer
        concludes from their absence; reads that are not needed cost nothing on the live path.
        """
        texts = [text for _, _, _, text in logs]
        # Only the application's own words: a probe's "connection refused" to its pod IP is the kubelet's, not a dependency.
        failures = [f for pod, container, _, text in logs for f in netlog.attribute(netlog.failures(text), _peers(pods, pod, container))]
        refusals = [f for text in [*texts, *(str(e.get("message") or "") for e in events)] for f in netlog.forbidden(text)]
        policies: list[KubeObject] = []
        roles: list[KubeObject] = []
        bindings: list[KubeObject] = []
        dependencies: list[Dependency | None] = []
        # A dependency's namespace is read for the policies that may shield it from the caller.
        if failures or not self._follow:
            policies = await self._list("NetworkPolicy", ns)
        else:
            self._uncollected.add("NetworkPolicy")
        if refusals:
            roles, bindings = await asyncio.gather(self._list("Role", ns), self._list("RoleBinding", ns))
        else:
            self._uncollected.update(("Role", "RoleBinding"))
        if self._follow:
            wanted: dict[tuple[str, str], str] = {}
            for failure in failures:
                if failure.kind in ("refused", "timeout", "unreachable") and failure.host:
                    found = self._service_for(failure.host, ns, services)
                    if found and found not in wanted and len(wanted) < 3:
                        wanted[found] = failure.host
            dependencies = list(await asyncio.gather(*(self._dependency(host, svc_ns, name, ns, services) for (svc_ns, name), host in wanted.items())))
        return policies, roles, bindings, [d for d in dependencies if d is not None]

    @staticmethod
    def _service_for(host: str, ns: str, services: list[KubeObject]) -> tuple[str, str] | None:
        if netlog.is_ip(host):
            match = next((s for s in services if (s.get("spec") or {}).get("clusterIP") == host), None)
            return (ns, objects.name(match)) if match else None
        return netlog.service_of(host, ns)

    async def _dependency(self, host: str, svc_ns: str, name: str, ns: str, services: list[KubeObject]) -> Dependency | None:
        service = next((s for s in services if objects.name(s) == name), None) if svc_ns == ns else await self._get_optional("Service", svc_ns, name)
        if service is None:
            return None
        ref = ObjectRef(kind="Service", namespace=svc_ns, name=name)
        behind = await self._workload_behind(service, svc_ns)
        if behind is None:
            return Dependency(host=host, service=ref)
        upstream = Collector(self._gw, log_tail_lines=self._tail, redactor=self._redactor, follow=False)
        try:
            bundle = await upstream.collect(behind)
        except NotFoundError:
            return Dependency(host=host, service=ref)
        self.notes.extend(upstream.notes)
        return Dependency(host=host, service=ref, bundle=bundle)

    async def _workload_behind(self, service: KubeObject, ns: str) -> ObjectRef | None:
        """The workload a Service routes to: the owner of the pods it selects, else the workload it was meant to select."""
        selector: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return None
        pods = await self._list("Pod", ns, selectors.to_string(selector))
        if pods:
            owner = objects.controller_of(pods[0])
            if owner and owner.get("kind") == "ReplicaSet":
                rs = await self._get_optional("ReplicaSet", ns, str(owner.get("name")))
                owner = (objects.controller_of(rs) if rs else None) or owner
            if owner and owner.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
                return ObjectRef(kind=str(owner["kind"]), namespace=ns, name=str(owner["name"]))
            return ObjectRef(kind="Pod", namespace=ns, name=objects.name(pods[0]))
        # Selects nothing: the workload whose pod labels agree most with the selector, or that bears its name.
        best: tuple[int, ObjectRef] | None = None
        for kind in ("Deployment", "StatefulSet"):
            for workload in await self._list(kind, ns):
                labels = ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
                score = sum(1 for k, v in selector.items() if labels.get(k) == v) * 2 + (objects.name(workload) == objects.name(service)) * 3
                score += sum(1 for v in selector.values() if v in labels.values() or v == objects.name(workload))
                if score and (best is None or score > best[0]):
                    best = (score, ObjectRef(kind=kind, namespace=ns, name=objects.name(workload)))
        return best[1] if best else None

    def _assemble(
        self,
        target: ObjectRef,
        ns: str,
        workload: KubeObject | None,
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
        more: dict[str, list[KubeObject]],
    ) -> ObjectBundle:
        redact = self._redactor.redact_object
        return ObjectBundle(
            jobs=[redact(j) for j in more["jobs"]],
            quotas=[redact(q) for q in more["quotas"]],
            storageclasses=[redact(c) for c in more["storageclasses"]],
            target=target,
            namespace=ns,
            workload=redact(workload) if workload else None,
            # Of the template as read (masking would make it differ from the live one Verify and Apply compare it with).
            template_digest=objects.template_digest(workload) if workload else None,
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
            observed_at=_observed_at(self._gw.read_only, [*pods, *events, *replicasets, *more["jobs"]]),
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
            if owner and owner.get("kind") in (*kinds.WORKLOAD_KINDS, "Job"):
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

    async def _pods_using(self, obj: KubeObject, ns: str) -> list[KubeObject]:
        """The pods a Service selects, or the pods that mount a PersistentVolumeClaim."""
        if obj.get("kind") == "Service":
            selector: dict[str, str] = (obj.get("spec") or {}).get("selector") or {}
            if not selector:  # a Service without a selector routes to hand-made Endpoints, not to pods
                return []
            selected = await self._list("Pod", ns, selectors.to_string(selector))
            if selected:
                return selected
            # Nothing matches: the pods it was meant for share part of the selector (a mismatch is the finding).
            wanted = set(selector.items())
            return [p for p in await self._list("Pod", ns) if wanted & set(objects.labels(p).items())]
        claim = objects.name(obj)
        return [p for p in await self._list("Pod", ns) if claim in objects.pvc_names(objects.pod_spec(p))]

    async def _jobs_of(self, cronjob: KubeObject, ns: str) -> list[KubeObject]:
        """A CronJob's Jobs still kept by its history limits, oldest first (the newest tells the current state)."""
        jobs = [j for j in await self._list("Job", ns) if _owned_by(j, cronjob)]
        return sorted(jobs, key=lambda j: str(objects.meta(j).get("creationTimestamp") or ""))[-_MAX_JOBS:]

    async def _nodes_for(self, pods: list[KubeObject]) -> list[KubeObject]:
        unscheduled = [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
        if unscheduled:
            return await self._list("Node", None)
        # Every node the pods run on (a few): pods lost with a node are rarely the worst-looking ones.
        names = list(dict.fromkeys(str((p.get("spec") or {}).get("nodeName")) for p in pods))[:_MAX_NODES]
        found = await asyncio.gather(*(self._get_optional("Node", None, n) for n in names))
        return [n for n in found if n]

    async def _classes_for(self, pvcs: list[KubeObject]) -> list[KubeObject]:
        """The StorageClasses the claims name (all of them when a claim relies on the default class)."""
        if not pvcs:
            return []
        named = {str((c.get("spec") or {}).get("storageClassName") or "") for c in pvcs}
        if "" in named:
            return await self._list("StorageClass", None)
        found = await asyncio.gather(*(self._get_optional("StorageClass", None, n) for n in sorted(named)))
        return [c for c in found if c]

    async def _telling_logs(self, pods: list[KubeObject]) -> tuple[list[KubeObject], list[tuple[str, str, bool, str]]]:
        """The pods, focus first, and the focus pod's logs.

        The focus is the worst pod, unless the kubelet has nothing to serve for its containers (its crashed
        container was already cleaned up, its node is gone, or it crashed a moment ago and its log is not
        written yet) while a sibling that fails as badly shows the line that names the cause: that sibling
        becomes the focus, so the analyzers read its status and its log together.
        """
        if not pods:
            return pods, []
        worst = pods[0]
        logs = await self._logs(worst)
        if logs or not _log_requests(worst):
            return pods, logs
        for sibling in pods[1:_MAX_LOG_PODS]:
            if _badness(sibling)[0] < _badness(worst)[0]:
                break  # pods are sorted: the rest fail less than the worst one does
            logs = await self._logs(sibling)
            if logs:
                return [sibling, *(p for p in pods if p is not sibling)], logs
        return pods, []

    async def _logs(self, pod: KubeObject) -> list[tuple[str, str, bool, str]]:
        wanted = _log_requests(pod)
        ns = objects.namespace(pod)
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


def _log_requests(pod: KubeObject) -> list[tuple[str, str, bool]]:
    """(pod, container, previous) for each log the kubelet should have: a crashed run's, a running or ended one's."""
    wanted: list[tuple[str, str, bool]] = []
    for init in (True, False):
        for status in objects.container_statuses(pod, init=init):
            cname = status.get("name", "")
            if status.get("restartCount", 0) > 0 or (status.get("lastState") or {}).get("terminated"):
                wanted.append((objects.name(pod), cname, True))
            if (status.get("state") or {}).get("running") or (status.get("state") or {}).get("terminated"):
                wanted.append((objects.name(pod), cname, False))
    return wanted


def _involved_names(
    root: KubeObject, workload: KubeObject | None, pods: list[KubeObject], owners: list[KubeObject], pvcs: list[KubeObject]
) -> set[tuple[Any, Any]]:
    return {(o.get("kind"), objects.name(o)) for o in [root, *([workload] if workload else []), *pods, *owners, *pvcs]}


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


_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^\s@/:]+@)?[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*(?::\d{1,5})?(?:/[\w./-]*)?$")


def _keys_only(obj: KubeObject) -> KubeObject:
    """ConfigMaps and Secrets keep their names and keys; values are not kept.

    One exception: a ConfigMap value that is an address (a host, host:port or URL, lowercase, no
    credentials) is kept, because a connection failure's diagnosis must say which key names the
    host that does not resolve. Secrets never keep a value.
    """
    out: KubeObject = {k: v for k, v in obj.items() if k not in ("data", "binaryData", "stringData")}
    meta = dict(out.get("metadata") or {})
    # Who wrote it and when, never what: the times tell whether the content changed since the last healthy revision.
    meta["managedFields"] = [
        {k: v for k, v in entry.items() if k in ("manager", "operation", "time")} for entry in meta.get("managedFields") or [] if isinstance(entry, dict)
    ]
    if not meta["managedFields"]:
        meta.pop("managedFields")
    annotations = dict(meta.get("annotations") or {})
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    meta["annotations"] = annotations
    out["metadata"] = meta
    for field in ("data", "binaryData", "stringData"):
        if obj.get(field):
            out[field] = {key: _kept_value(obj, key, value, field) for key, value in obj[field].items()}
    return out


def _kept_value(obj: KubeObject, key: str, value: Any, field: str) -> str:
    if obj.get("kind") == "ConfigMap" and field == "data" and isinstance(value, str) and not is_secret_name(key):
        text = value.strip()
        if len(text) <= 253 and _ADDRESS.match(text) and "@" not in text:
            return text
    return "[REDACTED]"


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


def _peers(pods: list[KubeObject], pod_name: str, container: str) -> dict[str, tuple[int | None, str]]:
    """The peers a logged container's configuration names (for failures whose line names no host)."""
    pod = next((p for p in pods if objects.name(p) == pod_name), None)
    found = objects.find_container(objects.pod_spec(pod), container) if pod is not None else None
    return netlog.configured_peers(found[0]) if found else {}
