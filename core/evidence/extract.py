"""Turn an ObjectBundle into numbered, cited Evidence.

Each item gets a stable lookup key (e.g. `status:container:api-7f9c/api`, `log:api-7f9c/api:previous`,
`event:BackOff`, `change:rollout`, `config:ConfigMap/app-config`) so analyzers can cite it by id
without re-deriving it, and ids are assigned in a fixed order: status, events, logs, change, config.
Everything here is already redacted in the bundle; excerpts are masked again as a second guard.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import yaml

from aegis.core import objects, redaction
from aegis.core.evidence import netlog
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.models import Evidence, EvidenceId, EvidenceKind, KubeObject, ObjectRef

_MAX_EXCERPT_LINES = 12
_MAX_EVENTS = 10
_ERROR_WORDS = (
    "error", "fatal", "panic", "exception", "traceback", "failed", "killed", "refused", "denied", "not found",
    "missing", "cannot", "can't", "unable", "invalid", "undefined", "oom", "out of memory",
)  # fmt: skip


@dataclass
class EvidenceSet:
    """Evidence in id order, with the lookup keys analyzers cite by."""

    items: list[Evidence] = field(default_factory=list)
    by_key: dict[str, Evidence] = field(default_factory=dict)

    def add(
        self,
        key: str,
        kind: EvidenceKind,
        summary: str,
        excerpt: str = "",
        source: ObjectRef | None = None,
        link: str | None = None,
    ) -> EvidenceId:
        if key in self.by_key:
            return self.by_key[key].id
        evidence = Evidence(
            id=EvidenceId(f"E{len(self.items) + 1}"),
            kind=kind,
            summary=redaction.mask(summary),
            excerpt=redaction.mask(excerpt),
            source=source,
            link=link,
        )
        self.items.append(evidence)
        self.by_key[key] = evidence
        return evidence.id

    def id(self, key: str) -> EvidenceId | None:
        found = self.by_key.get(key)
        return found.id if found else None

    def ids(self, *keys: str) -> list[EvidenceId]:
        return [e for e in (self.id(k) for k in keys) if e is not None]

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return [k for k in self.by_key if k.startswith(prefix)]


def extract(bundle: ObjectBundle) -> EvidenceSet:
    evidence = EvidenceSet()
    _workload_status(bundle, evidence)
    for pod in bundle.pods[:3]:
        _pod_status(pod, evidence)
    _events(bundle, evidence)
    _logs(bundle, evidence)
    _rollout_change(bundle, evidence)
    _config_changes(bundle, evidence)
    _config(bundle, evidence)
    _claims(bundle, evidence)
    _services(bundle, evidence)
    _nodes(bundle, evidence)
    # issue 14 (i14c): appended after the original sections so existing evidence ids keep their numbers.
    _jobs(bundle, evidence)
    _quotas(bundle, evidence)
    _node_health(bundle, evidence)
    _storage_classes(bundle, evidence)
    # issue 14 (i14a): connectivity and permissions, collected only when the logs call for them.
    _network_policies(bundle, evidence)
    _role_bindings(bundle, evidence)
    _dependencies(bundle, evidence)
    return evidence


def _workload_status(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    workload = bundle.workload
    if not workload or workload.get("kind") in ("Pod", "Job"):  # a Job's status is its own item (_jobs)
        return
    if workload.get("kind") == "CronJob":
        _cronjob_status(workload, ev)
        return
    status = workload.get("status") or {}
    spec = workload.get("spec") or {}
    desired = spec.get("replicas", status.get("desiredNumberScheduled", 1))
    ready = status.get("readyReplicas", status.get("numberReady", 0)) or 0
    parts = [f"{ready}/{desired} ready"]
    lines = []
    for cond in status.get("conditions") or []:
        lines.append(f"{cond.get('type')}={cond.get('status')} {cond.get('reason', '')}: {cond.get('message', '')}".strip())
        if cond.get("status") != "True" or cond.get("reason") == "ProgressDeadlineExceeded":
            parts.append(f"{cond.get('type')} {cond.get('reason', cond.get('status'))}")
    ev.add(
        "status:workload",
        EvidenceKind.STATUS,
        f"{workload.get('kind')} {objects.name(workload)}: " + ", ".join(parts),
        "\n".join(lines),
        objects.ref(workload),
    )


def _pod_status(pod: KubeObject, ev: EvidenceSet) -> None:
    pname = objects.name(pod)
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    reason = status.get("reason")
    lines = [f"phase: {phase}" + (f" ({reason}: {status.get('message', '')})" if reason else "")]
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            lines.append(f"{cond.get('type')}={cond.get('status')} {cond.get('reason', '')} {cond.get('message', '')}".rstrip())
    summary = f"Pod {pname} is {phase}" + (f" ({reason})" if reason else "")
    scheduled = objects.condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        summary += f", not scheduled: {scheduled.get('reason', '')}"
    ev.add(f"status:pod:{pname}", EvidenceKind.STATUS, summary, "\n".join(lines), objects.ref(pod))
    for init in (True, False):
        for cs in objects.container_statuses(pod, init=init):
            _container_status(pod, cs, init, ev)


def _container_status(pod: KubeObject, cs: dict[str, Any], init: bool, ev: EvidenceSet) -> None:
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    restarts = int(cs.get("restartCount", 0))
    healthy = state.get("running") and cs.get("ready") and restarts == 0
    if healthy or (init and terminated.get("exitCode") == 0):
        return
    label = ("init container " if init else "container ") + str(cs.get("name"))
    bits = []
    if waiting:
        bits.append(f"waiting: {waiting.get('reason')}")
    if terminated:
        bits.append(f"terminated: {terminated.get('reason')} (exit {terminated.get('exitCode')})")
    if state.get("running") and not cs.get("ready"):
        bits.append("running but not ready")
    if last:
        bits.append(f"last terminated: {last.get('reason')} (exit {last.get('exitCode')})")
    if restarts:
        bits.append(f"{restarts} restarts")
    excerpt = []
    if waiting.get("message"):
        excerpt.append(f"waiting.message: {waiting['message']}")
    for name_, term in (("terminated", terminated), ("lastState.terminated", last)):
        if term.get("message"):
            excerpt.append(f"{name_}.message: {term['message']}")
    excerpt.append(f"image: {cs.get('image', '')}")
    ev.add(
        f"status:container:{objects.name(pod)}/{cs.get('name')}",
        EvidenceKind.STATUS,
        f"{label} of pod {objects.name(pod)}: " + "; ".join(bits),
        "\n".join(excerpt),
        objects.ref(pod),
    )


def _events(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    grouped: OrderedDict[str, list[KubeObject]] = OrderedDict()
    # Warnings first, then the normal events that matter for rollouts and probes.
    for event in sorted(bundle.events, key=lambda e: e.get("type") != "Warning"):
        if event.get("type") != "Warning" and event.get("reason") not in ("Killing", "ScalingReplicaSet", "Pulled", "Started"):
            continue
        grouped.setdefault(str(event.get("reason")), []).append(event)
    for reason, events in list(grouped.items())[:_MAX_EVENTS]:
        count = sum(int(e.get("count") or 1) for e in events)
        last = events[-1]
        involved = last.get("involvedObject") or {}
        ev.add(
            f"event:{reason}",
            EvidenceKind.EVENT,
            f"{last.get('type')} {reason} x{count} on {str(involved.get('kind', '')).lower()}/{involved.get('name')}: "
            + _first_line(str(last.get("message", ""))),
            "\n".join(f"{e.get('lastTimestamp') or e.get('eventTime') or ''} {e.get('reason')}: {e.get('message', '')}" for e in events[-4:]),
            ObjectRef(kind=str(involved.get("kind", "")), namespace=bundle.namespace, name=str(involved.get("name", ""))),
        )


def _logs(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    for entry in bundle.logs:
        lines = [line for line in entry.text.splitlines() if line.strip()]
        if not lines:
            continue
        errors = [line for line in lines if any(w in line.lower() for w in _ERROR_WORDS) or netlog.classify(line) or " is forbidden: " in line]
        key_line = errors[-1] if errors else lines[-1]
        which = "previous" if entry.previous else "current"
        ev.add(
            f"log:{entry.pod}/{entry.container}:{which}",
            EvidenceKind.LOG,
            f"{which} log of {entry.pod}/{entry.container}: {_first_line(key_line)[:160]}",
            "\n".join(lines[-_MAX_EXCERPT_LINES:]),
            ObjectRef(kind="Pod", namespace=bundle.namespace, name=entry.pod),
        )


def _rollout_change(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    current, previous = template_pair(bundle)
    if current is None or previous is None:
        return
    diff = template_diff(previous, current)
    if not diff:
        return
    cur_rev, prev_rev = current_revision_numbers(bundle)
    changes = summarize_template_change(previous, current)
    between = sorted(r for r in (objects.revision(o) for o in bundle.replicasets or bundle.revisions) if prev_rev < r < cur_rev)
    since = f" (the last healthy one; {', '.join(map(str, between))} in between did not recover)" if between else ""
    ev.add(
        "change:rollout",
        EvidenceKind.CHANGE,
        f"rollout revision {prev_rev}{since} → {cur_rev} changed the pod template: {changes}",
        diff,
        bundle.workload_ref,
    )


_SAME_DEPLOY_SECONDS = 60


def _config_changes(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """ConfigMaps and Secrets the pod template reads whose content changed after the baseline began (keys only).

    The baseline is the last healthy revision's creation when a rollout broke the workload, else the
    current revision's (or a bare Pod's) creation: a change after it is what the running pods may have
    picked up on restart. The time of the last write comes from managedFields (kept without their
    field lists), else the object's creation.
    """
    holder = bundle.workload or bundle.pod
    if holder is None:
        return
    baseline, label = _baseline_time(bundle)
    if baseline is None:
        return
    seen: set[tuple[str, str]] = set()
    for ref in objects.config_refs(objects.pod_spec(holder)):
        if (ref.kind, ref.name) in seen:
            continue
        seen.add((ref.kind, ref.name))
        obj = bundle.find(ref.kind, ref.name)
        if obj is None:
            continue
        written = [(objects.parse_time(str(e.get("time"))), str(e.get("manager", "?"))) for e in objects.meta(obj).get("managedFields") or []]
        stamped = [(t, m) for t, m in written if t is not None]
        created = objects.parse_time(objects.meta(obj).get("creationTimestamp"))
        when, who = max(stamped, key=lambda s: s[0]) if stamped else (created, "created")
        # Written with the revision (one `kubectl apply` or Helm release spans seconds) is no later change.
        if when is None or (when - baseline).total_seconds() <= _SAME_DEPLOY_SECONDS:
            continue
        keys = ", ".join(sorted(objects.data_keys(obj))) or "(none)"
        ev.add(
            f"change:config:{ref.kind}/{ref.name}",
            EvidenceKind.CHANGE,
            f"{ref.kind} {ref.name} (read through {ref.via}) was {'created' if who == 'created' else f'changed by {who}'} at "
            f"{when:%Y-%m-%d %H:%M:%S}, after {label} ({baseline:%Y-%m-%d %H:%M:%S}); its keys now: {keys}",
            source=objects.ref(obj),
        )


def _baseline_time(bundle: ObjectBundle) -> tuple[Any, str]:
    pool = bundle.replicasets or bundle.revisions
    if pool:
        newest = max(pool, key=objects.revision)
        base = bundle.baseline(pool)
        chosen, what = (base, "the last healthy revision") if base is not None and _broken(bundle, newest) else (newest, "the current revision")
        return objects.parse_time(objects.meta(chosen).get("creationTimestamp")), f"{what} {objects.revision(chosen)} was created"
    pod = bundle.pod
    if pod is not None and (bundle.workload or {}).get("kind") == "Pod":
        return objects.parse_time(objects.meta(pod).get("creationTimestamp")), f"Pod {objects.name(pod)} was created"
    return None, ""


def _broken(bundle: ObjectBundle, newest: KubeObject) -> bool:
    """Whether the newest revision never became healthy (then the change is measured from the last one that did)."""
    status = newest.get("status") or {}
    if newest.get("kind") == "ControllerRevision":
        wstatus = (bundle.workload or {}).get("status") or {}
        return bool(wstatus.get("updateRevision") == objects.name(newest) and wstatus.get("currentRevision") != objects.name(newest))
    return int(status.get("availableReplicas") or 0) == 0


def _config(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    pod = bundle.pod or bundle.workload
    if pod is None:
        return
    seen: set[tuple[str, str]] = set()
    for ref in objects.config_refs(objects.pod_spec(pod)):
        if (ref.kind, ref.name) in seen:
            continue
        seen.add((ref.kind, ref.name))
        if not bundle.knows(ref.kind):
            continue
        obj = bundle.find(ref.kind, ref.name)
        if obj is None:
            ev.add(
                f"config:{ref.kind}/{ref.name}",
                EvidenceKind.CONFIG,
                f"{ref.kind} {ref.name} (referenced by {ref.via}) does not exist in namespace {bundle.namespace}",
                source=ObjectRef(kind=ref.kind, namespace=bundle.namespace, name=ref.name),
            )
        else:
            keys = sorted(objects.data_keys(obj))
            ev.add(
                f"config:{ref.kind}/{ref.name}",
                EvidenceKind.CONFIG,
                f"{ref.kind} {ref.name} exists with keys: {', '.join(keys) or '(none)'}",
                source=objects.ref(obj),
            )


def _claims(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    for pvc in bundle.pvcs:
        spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "?")
        ev.add(
            f"config:PersistentVolumeClaim/{objects.name(pvc)}",
            EvidenceKind.CONFIG,
            f"PersistentVolumeClaim {objects.name(pvc)} is {status.get('phase', 'Unknown')} "
            f"(storageClass {spec.get('storageClassName') or 'default'}, {size}, volume {spec.get('volumeName') or 'none'})",
            source=objects.ref(pvc),
        )


def _services(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """Services whose selector matches the workload's pod labels, or shares a key with them."""
    pod = bundle.pod or bundle.workload
    if pod is None:
        return
    pod_labels = objects.labels(pod) if pod.get("kind") == "Pod" else ((pod.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    endpoints = {objects.name(e): e for e in bundle.endpoints}
    for svc in bundle.services:
        selector: dict[str, str] = (svc.get("spec") or {}).get("selector") or {}
        if not selector or (not set(selector) & set(pod_labels) and objects.name(svc) not in (objects.name(bundle.workload or {}), pod_labels.get("app"))):
            continue
        matches = all(pod_labels.get(k) == v for k, v in selector.items())
        name = objects.name(svc)
        ev.add(
            f"config:Service/{name}",
            EvidenceKind.CONFIG,
            f"Service {name} selects {_labels(selector)}: {'matches' if matches else 'does not match'} the pods' labels {_labels(pod_labels)}",
            source=objects.ref(svc),
        )
        if name in endpoints:
            ready = sum(len(subset.get("addresses") or []) for subset in endpoints[name].get("subsets") or [])
            not_ready = sum(len(subset.get("notReadyAddresses") or []) for subset in endpoints[name].get("subsets") or [])
            ev.add(
                f"config:Endpoints/{name}",
                EvidenceKind.CONFIG,
                f"Endpoints {name}: {ready} ready address(es), {not_ready} not ready",
                source=objects.ref(endpoints[name]),
            )


def _nodes(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """For unscheduled pods: what the nodes offer (allocatable, taints, readiness)."""
    pod = bundle.pod
    if pod is None or (pod.get("spec") or {}).get("nodeName") or not bundle.nodes:
        return
    lines = []
    for node in bundle.nodes[:20]:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        taints = ", ".join(f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in (node.get("spec") or {}).get("taints") or [])
        ready = (objects.condition(node, "Ready") or {}).get("status", "Unknown")
        lines.append(
            f"{objects.name(node)}: cpu {alloc.get('cpu', '?')}, memory {alloc.get('memory', '?')}, Ready={ready}" + (f", taints {taints}" if taints else "")
        )
    ev.add("status:nodes", EvidenceKind.STATUS, f"{len(bundle.nodes)} node(s) could run the pod", "\n".join(lines))


def _cronjob_status(cronjob: KubeObject, ev: EvidenceSet) -> None:
    spec, status = cronjob.get("spec") or {}, cronjob.get("status") or {}
    lines = [
        f"schedule: {spec.get('schedule', '?')}" + (" (suspended)" if spec.get("suspend") else ""),
        f"lastScheduleTime: {status.get('lastScheduleTime', 'never')}",
        f"lastSuccessfulTime: {status.get('lastSuccessfulTime', 'never')}",
        f"active: {', '.join(str(a.get('name')) for a in status.get('active') or []) or 'none'}",
    ]
    ev.add(
        "status:workload",
        EvidenceKind.STATUS,
        f"CronJob {objects.name(cronjob)}: schedule {spec.get('schedule', '?')}, last scheduled {status.get('lastScheduleTime', 'never')}, "
        f"last succeeded {status.get('lastSuccessfulTime', 'never')}",
        "\n".join(lines),
        objects.ref(cronjob),
    )


def _jobs(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """Each Job's outcome: its conditions, counts and limits (newest last)."""
    for job in bundle.jobs[-3:]:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        conditions = [c for c in status.get("conditions") or [] if c.get("status") == "True"]
        state = ", ".join(f"{c.get('type')} {c.get('reason', '')}".strip() for c in conditions) or ("active" if status.get("active") else "no outcome yet")
        lines = [f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}".strip() for c in status.get("conditions") or []]
        lines.append(
            f"backoffLimit: {spec.get('backoffLimit', 6)}, activeDeadlineSeconds: {spec.get('activeDeadlineSeconds', 'none')}, "
            f"completions: {spec.get('completions', 1)}, parallelism: {spec.get('parallelism', 1)}"
        )
        lines.append(f"startTime: {status.get('startTime', '?')}, completionTime: {status.get('completionTime', 'none')}")
        ev.add(
            f"status:job:{objects.name(job)}",
            EvidenceKind.STATUS,
            f"Job {objects.name(job)}: {state}; {status.get('succeeded', 0)} succeeded, {status.get('failed', 0)} failed, {status.get('active', 0)} active",
            "\n".join(lines),
            objects.ref(job),
        )


def _quotas(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    for quota in bundle.quotas:
        hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
        used = (quota.get("status") or {}).get("used") or {}
        usage = [f"{res} {used.get(res, '?')}/{limit}" for res, limit in sorted(hard.items())]
        ev.add(
            f"config:ResourceQuota/{objects.name(quota)}",
            EvidenceKind.CONFIG,
            f"ResourceQuota {objects.name(quota)} (used/hard): {', '.join(usage) or '(no limits)'}",
            "\n".join(usage),
            objects.ref(quota),
        )


_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def _node_health(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """A node the pods run on that is not Ready or under pressure: its conditions and taints."""
    on_nodes = {str((p.get("spec") or {}).get("nodeName")) for p in bundle.pods if (p.get("spec") or {}).get("nodeName")}
    for node in bundle.nodes:
        name = objects.name(node)
        if name not in on_nodes:
            continue
        conditions = (node.get("status") or {}).get("conditions") or []
        bad = [c for c in conditions if (c.get("type") == "Ready" and c.get("status") != "True") or (c.get("type") in _PRESSURE and c.get("status") == "True")]
        if not bad:
            continue
        taints = [f"{t.get('key')}:{t.get('effect')}" for t in (node.get("spec") or {}).get("taints") or []]
        lines = [f"{c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')} (since {c.get('lastTransitionTime', '?')})" for c in bad]
        if taints:
            lines.append(f"taints: {', '.join(taints)}")
        ev.add(
            f"status:node:{name}",
            EvidenceKind.STATUS,
            f"Node {name}: "
            + ", ".join(f"{c.get('type')}={c.get('status')} ({c.get('reason', '')})" for c in bad)
            + (f"; taints {', '.join(taints)}" if taints else ""),
            "\n".join(lines),
            objects.ref(node),
        )


def _storage_classes(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    for sc in bundle.storageclasses:
        default = objects.annotations(sc).get("storageclass.kubernetes.io/is-default-class") == "true"
        ev.add(
            f"config:StorageClass/{objects.name(sc)}",
            EvidenceKind.CONFIG,
            f"StorageClass {objects.name(sc)}{' (default)' if default else ''}: provisioner {sc.get('provisioner', '?')}, "
            f"allowVolumeExpansion {str(bool(sc.get('allowVolumeExpansion'))).lower()}",
            source=objects.ref(sc),
        )


# --- connectivity and permission evidence (collected only when the logs call for it) ----------------


def _network_policies(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """Every NetworkPolicy of the caller's namespace and of each failing dependency's, as its rules read."""
    pools = [bundle.network_policies, *(d.bundle.network_policies for d in bundle.dependencies if d.bundle)]
    for policy in (p for pool in pools for p in pool):
        ns, name = objects.namespace(policy), objects.name(policy)
        ev.add(
            f"config:NetworkPolicy/{ns}/{name}",
            EvidenceKind.CONFIG,
            f"NetworkPolicy {name} (namespace {ns}) selects pods {describe_selector((policy.get('spec') or {}).get('podSelector'))}: {describe_policy(policy)}",
            yaml.safe_dump((policy.get("spec") or {}), sort_keys=True).strip(),
            objects.ref(policy),
        )


def describe_selector(selector: dict[str, Any] | None) -> str:
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    parts += [f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip() for e in selector.get("matchExpressions") or []]
    return "{" + ", ".join(parts) + "}" if parts else "(all pods)"


def describe_policy(policy: KubeObject) -> str:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
    out = []
    for direction, peer_key in (("Ingress", "from"), ("Egress", "to")):
        if direction not in types:
            continue
        rules = spec.get(direction.lower()) or []
        if not rules:
            out.append(f"{direction.lower()}: deny all")
            continue
        shown = []
        for rule in rules:
            peers = ", ".join(_peer(p) for p in rule.get(peer_key) or []) or "anywhere"
            ports = ", ".join(f"{p.get('protocol', 'TCP')}/{p.get('port', 'any')}" for p in rule.get("ports") or []) or "any port"
            shown.append(f"{peers} on {ports}")
        out.append(f"{direction.lower()} allowed {'from' if direction == 'Ingress' else 'to'}: " + "; ".join(shown))
    return "; ".join(out) or "no rules"


def _peer(peer: dict[str, Any]) -> str:
    parts = []
    if "namespaceSelector" in peer:
        parts.append(f"namespaces {describe_selector(peer['namespaceSelector'])}")
    if "podSelector" in peer:
        parts.append(f"pods {describe_selector(peer['podSelector'])}")
    if "ipBlock" in peer:
        parts.append(f"ipBlock {(peer['ipBlock'] or {}).get('cidr')}")
    return " and ".join(parts) or "anywhere"


def _role_bindings(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """RoleBindings that bind a ServiceAccount, with the rules of the Role they grant."""
    roles = {objects.name(r): r for r in bundle.roles}
    for binding in bundle.role_bindings:
        accounts = [
            f"{s.get('namespace') or objects.namespace(binding)}/{s.get('name')}" for s in binding.get("subjects") or [] if s.get("kind") == "ServiceAccount"
        ]
        if not accounts:
            continue
        role_ref = binding.get("roleRef") or {}
        role = roles.get(str(role_ref.get("name"))) if role_ref.get("kind") == "Role" else None
        rules = describe_rules(role) if role else ("(ClusterRole rules not collected)" if role_ref.get("kind") == "ClusterRole" else "(Role not found)")
        ev.add(
            f"config:RoleBinding/{objects.name(binding)}",
            EvidenceKind.CONFIG,
            f"RoleBinding {objects.name(binding)} binds ServiceAccount {', '.join(accounts)} to {role_ref.get('kind')} {role_ref.get('name')}: {rules}",
            source=objects.ref(binding),
        )


def describe_rules(role: KubeObject) -> str:
    rules = []
    for rule in role.get("rules") or []:
        groups = ",".join(g or '""' for g in rule.get("apiGroups") or [""])
        rules.append(f"{'/'.join(rule.get('verbs') or [])} {','.join(rule.get('resources') or [])} (apiGroups {groups})")
    return "allows " + "; ".join(rules) if rules else "no rules"


def _dependencies(bundle: ObjectBundle, ev: EvidenceSet) -> None:
    """Each Service the logs fail to reach: what it selects, and whether its Endpoints have addresses."""
    for dep in bundle.dependencies:
        ns, name = dep.service.namespace, dep.service.name
        pool = dep.bundle if dep.bundle is not None else bundle
        service = next((s for s in pool.services if objects.name(s) == name and objects.namespace(s) in (ns, "")), None)
        if service is None:
            continue
        spec = service.get("spec") or {}
        selector: dict[str, str] = spec.get("selector") or {}
        pods = [p for p in (dep.bundle.pods if dep.bundle else []) if selector and all(objects.labels(p).get(k) == v for k, v in selector.items())]
        ports = ", ".join(f"{p.get('port')}→{p.get('targetPort', p.get('port'))}" for p in spec.get("ports") or [])
        ev.add(
            f"dependency:Service/{ns}/{name}",
            EvidenceKind.CONFIG,
            f"Service {name} (namespace {ns}, clusterIP {spec.get('clusterIP', '?')}, ports {ports or 'none'}) selects {_labels(selector)}: "
            f"{len(pods)} pod(s) of {objects.name(dep.bundle.workload) if dep.bundle and dep.bundle.workload else 'no known workload'} match",
            source=objects.ref(service),
        )
        endpoints = next((e for e in pool.endpoints if objects.name(e) == name), None)
        if endpoints is not None:
            ready = sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or [])
            not_ready = sum(len(s.get("notReadyAddresses") or []) for s in endpoints.get("subsets") or [])
            ev.add(
                f"dependency:Endpoints/{ns}/{name}",
                EvidenceKind.CONFIG,
                f"Endpoints {name} (namespace {ns}): {ready} ready address(es), {not_ready} not ready",
                source=objects.ref(endpoints),
            )


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(none)"


# --- change detection helpers, shared with the analyzers and fix builders -------------------------


def template_pair(bundle: ObjectBundle) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(current, previous) pod templates from ReplicaSets or ControllerRevisions."""
    if bundle.replicasets:
        cur, prev = bundle.current_replicaset(), bundle.previous_replicaset()
        return (
            ((cur or {}).get("spec") or {}).get("template") if cur else None,
            ((prev or {}).get("spec") or {}).get("template") if prev else None,
        )
    if len(bundle.revisions) >= 2:
        newest = max(bundle.revisions, key=objects.revision)
        base = bundle.baseline(bundle.revisions)
        return (_revision_template(newest), _revision_template(base) if base else None)
    return None, None


def current_revision_numbers(bundle: ObjectBundle) -> tuple[int, int]:
    """(newest revision, the baseline revision the change is measured from: the last healthy one)."""
    pool = bundle.replicasets or bundle.revisions
    base = bundle.baseline(pool)
    if base is None:
        return (0, 0)
    return max(objects.revision(o) for o in pool), objects.revision(base)


def _revision_template(rev: KubeObject) -> dict[str, Any] | None:
    template: dict[str, Any] | None = ((rev.get("data") or {}).get("spec") or {}).get("template")
    return template


def _clean_template(template: dict[str, Any]) -> dict[str, Any]:
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in ("pod-template-hash", "controller-revision-hash")}
    meta["labels"] = labels
    meta.pop("creationTimestamp", None)
    return {"metadata": meta, "spec": template.get("spec") or {}}


def template_diff(previous: dict[str, Any], current: dict[str, Any]) -> str:
    before = yaml.safe_dump(_clean_template(previous), sort_keys=True).splitlines()
    after = yaml.safe_dump(_clean_template(current), sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "previous revision", "current revision", lineterm="", n=2))


def summarize_template_change(previous: dict[str, Any], current: dict[str, Any]) -> str:
    """A short human list of what changed: images, commands, env, resources, probes."""
    changes: list[str] = []
    prev_spec, cur_spec = previous.get("spec") or {}, current.get("spec") or {}
    for init in (False, True):
        prev_by_name = {c.get("name"): c for c in objects.containers(prev_spec, init=init)}
        for container in objects.containers(cur_spec, init=init):
            old = prev_by_name.get(container.get("name"))
            if old is None:
                changes.append(f"container {container.get('name')} added")
                continue
            for field_name in (
                "image",
                "command",
                "args",
                "env",
                "envFrom",
                "resources",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
                "ports",
                "volumeMounts",
            ):
                if old.get(field_name) != container.get(field_name):
                    if field_name == "image":
                        changes.append(f"{container.get('name')} image {old.get('image')} → {container.get('image')}")
                    else:
                        changes.append(f"{container.get('name')} {field_name}")
    for field_name in ("volumes", "serviceAccountName", "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints", "securityContext"):
        if prev_spec.get(field_name) != cur_spec.get(field_name):
            changes.append(field_name)
    return ", ".join(changes) or "metadata only"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
