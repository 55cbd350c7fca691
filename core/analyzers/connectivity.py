"""Shared reads for the connectivity analyzers: which calls fail, where they go, what NetworkPolicies allow.

Pure helpers over the bundle. A failing call counts only when it can explain the pod's state: it is
in the log of a container that crashed (its previous run) or of one that is not ready now; a healthy
container that once logged "connection refused" and then connected is not failing.

NetworkPolicy semantics follow the API: a pod selected by no policy of a direction is open in that
direction; once selected, only what some selecting policy's rules allow passes. Peers are matched
by pod labels and by the namespace's `kubernetes.io/metadata.name` label (set on every namespace);
a namespace selector on other labels, or an ipBlock, cannot be judged from the bundle and counts
as allowing, so AEGIS never blames a policy it cannot read through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers.base import Context
from aegis.core.analyzers.signals import ContainerState, container_states
from aegis.core.evidence import netlog
from aegis.core.evidence.bundle import Dependency
from aegis.core.models import KubeObject
from aegis.core.objects import selectors

NS_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class FailingCall:
    failure: netlog.NetFailure
    state: ContainerState
    log_key: str


def failing_calls(ctx: Context) -> list[FailingCall]:
    """Network failures in the logs of the focus pod's unhealthy containers, oldest first."""
    found: list[FailingCall] = []
    for state in container_states(ctx):
        if state.ready and not state.crashing:
            continue
        for previous in ((True,) if state.crashing else (False,)) + ((False,) if state.crashing else ()):
            text = ctx.bundle.log(state.pod_name, state.name, previous=previous)
            if not text:
                continue
            key = f"log:{state.pod_name}/{state.name}:{'previous' if previous else 'current'}"
            found += [FailingCall(f, state, key) for f in netlog.attribute(netlog.failures(text), netlog.configured_peers(state.spec))]
            if found:
                break
    return found


def service_for(ctx: Context, host: str) -> tuple[str, str] | None:
    """(namespace, Service name) an in-cluster host points at, when that Service was collected."""
    ns = ctx.bundle.namespace
    if netlog.is_ip(host):
        pools = [ctx.bundle.services, *(d.bundle.services for d in ctx.bundle.dependencies if d.bundle)]
        match = next((s for pool in pools for s in pool if (s.get("spec") or {}).get("clusterIP") == host), None)
        return (objects.namespace(match) or ns, objects.name(match)) if match else None
    return netlog.service_of(host, ns)


def service_object(ctx: Context, dep: Dependency) -> KubeObject | None:
    pool = dep.bundle.services if dep.bundle else ctx.bundle.services
    return next((s for s in pool if objects.name(s) == dep.service.name), None)


def selected_pods(dep: Dependency, service: KubeObject) -> list[KubeObject]:
    selector: dict[str, str] = (service.get("spec") or {}).get("selector") or {}
    if not selector or dep.bundle is None:
        return []
    return [p for p in dep.bundle.pods if all(objects.labels(p).get(k) == v for k, v in selector.items())]


def ready_addresses(ctx: Context, dep: Dependency) -> int | None:
    pool = dep.bundle.endpoints if dep.bundle else ctx.bundle.endpoints
    endpoints = next((e for e in pool if objects.name(e) == dep.service.name), None)
    if endpoints is None:
        return None
    return sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or [])


def target_port(service: KubeObject, port: int | None, pods: list[KubeObject]) -> tuple[int | str | None, str]:
    """(the pod port a call to the Service's `port` lands on, its protocol)."""
    ports = (service.get("spec") or {}).get("ports") or []
    chosen = next((p for p in ports if port is None or p.get("port") == port), ports[0] if len(ports) == 1 else None)
    if chosen is None:
        return port, "TCP"
    target = chosen.get("targetPort", chosen.get("port"))
    if isinstance(target, str) and not target.isdigit():
        for pod in pods:
            for container in objects.containers(objects.pod_spec(pod)):
                for declared in container.get("ports") or []:
                    if declared.get("name") == target:
                        return int(declared["containerPort"]), str(chosen.get("protocol", "TCP"))
        return target, str(chosen.get("protocol", "TCP"))
    return (int(target) if target is not None else None), str(chosen.get("protocol", "TCP"))


# --- NetworkPolicy evaluation ------------------------------------------------------------------


def policy_types(policy: KubeObject) -> set[str]:
    spec = policy.get("spec") or {}
    return set(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else [])))


def selecting(policies: list[KubeObject], labels: dict[str, str], direction: str) -> list[KubeObject]:
    """The policies of a direction that select a pod with these labels (in the policies' namespace)."""
    return [
        p for p in policies
        if direction in policy_types(p) and selectors.matches_label_selector(labels, (p.get("spec") or {}).get("podSelector") or {})
    ]  # fmt: skip


def _peer_allows(peer: dict[str, Any], policy_ns: str, other_labels: dict[str, str], other_ns: str) -> bool:
    if "ipBlock" in peer:
        return True  # pod IPs are not judged: never blame a policy AEGIS cannot read through
    if "namespaceSelector" in peer:
        ns_selector = peer["namespaceSelector"] or {}
        readable = set(ns_selector.get("matchLabels") or {}) <= {NS_NAME_LABEL} and not ns_selector.get("matchExpressions")
        if readable and not selectors.matches_label_selector({NS_NAME_LABEL: other_ns}, ns_selector):
            return False
        if not readable and "podSelector" not in peer:
            return True
    elif other_ns != policy_ns:
        return False  # a podSelector alone means pods of the policy's own namespace
    if "podSelector" in peer:
        return selectors.matches_label_selector(other_labels, peer["podSelector"] or {})
    return True


def _port_allows(rule_ports: list[dict[str, Any]], port: int | str | None, protocol: str) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if str(entry.get("protocol", "TCP")) != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None or port is None or str(wanted) == str(port):
            return True
        if isinstance(wanted, int) and isinstance(port, int) and entry.get("endPort") and wanted <= port <= int(entry["endPort"]):
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            return True  # a named port on the other side: not judged
    return False


def allows(policy: KubeObject, direction: str, other_labels: dict[str, str], other_ns: str, port: int | str | None, protocol: str) -> bool:
    """Whether one policy's rules of a direction let this peer through on this port."""
    rules = (policy.get("spec") or {}).get("ingress" if direction == "Ingress" else "egress") or []
    peer_key = "from" if direction == "Ingress" else "to"
    policy_ns = objects.namespace(policy)
    for rule in rules:
        peers = rule.get(peer_key)
        peer_ok = not peers or any(_peer_allows(peer, policy_ns, other_labels, other_ns) for peer in peers)
        if peer_ok and _port_allows(rule.get("ports") or [], port, protocol):
            return True
    return False


def allows_outside(policy: KubeObject, host: str, port: int | None) -> bool:
    """Whether an Egress policy lets a pod reach a destination outside the cluster (an IP, or a name whose address is unknown)."""
    import ipaddress  # only on this rare path: kept off `aegis analyze`'s start-up

    for rule in (policy.get("spec") or {}).get("egress") or []:
        if not _port_allows(rule.get("ports") or [], port, "TCP"):
            continue
        peers = rule.get("to")
        if not peers:
            return True
        for peer in peers:
            block = peer.get("ipBlock")
            if not block:
                continue  # pod and namespace selectors admit pods, not outside addresses
            if not netlog.is_ip(host):
                return True  # the name's address is unknown: an ipBlock may cover it
            try:
                inside = ipaddress.ip_address(host) in ipaddress.ip_network(str(block.get("cidr")), strict=False)
                excepted = any(ipaddress.ip_address(host) in ipaddress.ip_network(str(c), strict=False) for c in block.get("except") or [])
            except ValueError:
                return True
            if inside and not excepted:
                return True
    return False


def blocking(
    policies: list[KubeObject], labels: dict[str, str], direction: str, other_labels: dict[str, str], other_ns: str, port: int | str | None, protocol: str
) -> list[KubeObject]:
    """The policies that select the pod in this direction when none of them allows the peer; empty when traffic may pass."""
    chosen = selecting(policies, labels, direction)
    if not chosen or any(allows(p, direction, other_labels, other_ns, port, protocol) for p in chosen):
        return []
    return chosen


def match_labels(pod: KubeObject) -> dict[str, str]:
    """The pod's labels without the ones controllers add per pod: what a policy rule should select."""
    skip = ("pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index")
    return {k: v for k, v in objects.labels(pod).items() if k not in skip}
