"""network_policy_blocked: a NetworkPolicy drops the traffic the workload's logs show timing out.

Signal: the logs of an unhealthy container show connection timeouts (`dial tcp IP:PORT: i/o
timeout`, `ETIMEDOUT`, `connect timed out`, …) to an in-cluster Service, and either a policy in the
callee's namespace selects the callee's pods for Ingress with no rule admitting the caller on that
port, or a policy in the caller's namespace selects the caller for Egress with no rule reaching the
callee. A dropped packet times out (a CNI that rejects instead answers `no route to host`); a refused
connection is not a policy (dependency_unavailable).
Also: lookups that time out (`lookup H on 10.96.0.10:53: … i/o timeout`) while an Egress policy
selecting the caller allows nothing on port 53.

No patch: widening what a NetworkPolicy admits is a security decision for the policy's owner.
The manual steps name the policy and give the exact rule to add.
"""

from __future__ import annotations

import json

from aegis.core import objects
from aegis.core.analyzers import connectivity
from aegis.core.analyzers.base import Context, Finding
from aegis.core.analyzers.connectivity import FailingCall
from aegis.core.evidence import netlog
from aegis.core.models import Category, KubeObject


def analyze(ctx: Context) -> Finding | None:
    if ctx.pod is None or not ctx.bundle.knows("NetworkPolicy"):
        return None
    for call in reversed(connectivity.failing_calls(ctx)):
        if call.failure.kind in ("timeout", "unreachable"):
            found = _blocked_call(ctx, call) or _blocked_external(ctx, call)
            if found:
                return found
        elif call.failure.kind == "dns_timeout" or (call.failure.kind == "dns" and netlog.resolver_trouble(call.failure.line)):
            found = _blocked_dns(ctx, call)
            if found:
                return found
    return None


def _how(call: FailingCall) -> str:
    """How the blocked calls fail: dropped packets time out; a CNI that rejects answers 'no route to host'."""
    return "are rejected (no route to host)" if call.failure.kind == "unreachable" else "time out"


def _blocked_call(ctx: Context, call: FailingCall) -> Finding | None:
    target = connectivity.service_for(ctx, call.failure.host)
    if target is None:
        return None
    dep = ctx.bundle.dependency(*target)
    if dep is None:
        return None
    service = connectivity.service_object(ctx, dep)
    if service is None:
        return None
    callee_pods = connectivity.selected_pods(dep, service)
    if not callee_pods:
        return None  # nothing behind the Service: that is not a policy problem
    pod = ctx.pod
    assert pod is not None
    caller_ns, callee_ns = ctx.bundle.namespace, dep.service.namespace
    caller_labels, callee_labels = connectivity.match_labels(pod), connectivity.match_labels(callee_pods[0])
    port, protocol = connectivity.target_port(service, call.failure.port, callee_pods)
    callee_policies = dep.bundle.network_policies if dep.bundle else []
    ingress = connectivity.blocking(callee_policies, callee_labels, "Ingress", caller_labels, caller_ns, port, protocol)
    egress = connectivity.blocking(ctx.bundle.network_policies, caller_labels, "Egress", callee_labels, callee_ns, port, protocol)
    if not ingress and not egress:
        return None
    service_name = dep.service.name
    steps = [
        f"Container {call.state.name} of pod {call.state.pod_name} fails: its connections to {call.failure.host}"
        f"{':' + str(call.failure.port) if call.failure.port else ''}{call.failure.provenance} {_how(call)}: "
        f"'{call.failure.line[:200]}'{ctx.cite(call.log_key, call.state.key)}",
        f"{call.failure.host} is Service {service_name} in namespace {callee_ns}, which selects {len(callee_pods)} pod(s) of "
        f"{objects.name(dep.bundle.workload) if dep.bundle and dep.bundle.workload else 'its workload'} labelled {_show(callee_labels)}"
        f"{ctx.cite(f'dependency:Service/{callee_ns}/{service_name}', f'dependency:Endpoints/{callee_ns}/{service_name}')}",
    ]
    manual: list[str] = []
    blamed: list[KubeObject] = []
    if ingress:
        names = ", ".join(objects.name(p) for p in ingress)
        steps.append(
            f"NetworkPolicy {names} in namespace {callee_ns} selects those pods for Ingress, and no rule admits pods {_show(caller_labels)} "
            f"of namespace {caller_ns} on {protocol} port {port}: the packets are dropped, so the caller times out"
            f"{ctx.cite(*(f'config:NetworkPolicy/{callee_ns}/{objects.name(p)}' for p in ingress))}"
        )
        rule = {"from": [_peer(caller_labels, caller_ns, callee_ns)], "ports": [_port(port, protocol)]}
        manual.append(
            f"Add the missing ingress rule to NetworkPolicy {objects.name(ingress[0])} in namespace {callee_ns} (from pods "
            f"{_show(caller_labels)}{'' if caller_ns == callee_ns else f' in namespace {caller_ns}'} on {protocol} {port}): "
            f"`kubectl -n {callee_ns} patch networkpolicy {objects.name(ingress[0])} --type=json -p "
            f"'{json.dumps([{'op': 'add', 'path': '/spec/ingress/-', 'value': rule}], separators=(',', ':'))}'`"
        )
        blamed += ingress
    if egress:
        names = ", ".join(objects.name(p) for p in egress)
        steps.append(
            f"NetworkPolicy {names} in namespace {caller_ns} selects the caller's pods for Egress, and no rule lets them reach pods "
            f"{_show(callee_labels)} of namespace {callee_ns} on {protocol} port {port}"
            f"{ctx.cite(*(f'config:NetworkPolicy/{caller_ns}/{objects.name(p)}' for p in egress))}"
        )
        rule = {"to": [_peer(callee_labels, callee_ns, caller_ns)], "ports": [_port(port, protocol)]}
        manual.append(
            f"Add the missing egress rule to NetworkPolicy {objects.name(egress[0])} in namespace {caller_ns} (to pods "
            f"{_show(callee_labels)}{'' if caller_ns == callee_ns else f' in namespace {callee_ns}'} on {protocol} {port}): "
            f"`kubectl -n {caller_ns} patch networkpolicy {objects.name(egress[0])} --type=json -p "
            f"'{json.dumps([{'op': 'add', 'path': '/spec/egress/-', 'value': rule}], separators=(',', ':'))}'`"
        )
        blamed += egress
    steps.append(
        "No patch: what a NetworkPolicy admits is a security decision for its owner; the rule to add is in the manual steps"
        + ctx.cite(*(f"config:NetworkPolicy/{objects.namespace(p)}/{objects.name(p)}" for p in blamed))
    )
    manual.append("Then check the caller's log: its connections should succeed within seconds, without a restart of the callee.")
    keys = [call.state.key, call.log_key, f"dependency:Service/{callee_ns}/{service_name}", f"dependency:Endpoints/{callee_ns}/{service_name}"]
    keys += [f"config:NetworkPolicy/{objects.namespace(p)}/{objects.name(p)}" for p in blamed]
    direction = "ingress to" if ingress else "egress from"
    return Finding(
        category=Category.NETWORK_POLICY_BLOCKED,
        confidence=0.9,
        summary=(
            f"NetworkPolicy {objects.name(blamed[0])} (namespace {objects.namespace(blamed[0])}) drops {direction} "
            f"{'Service ' + service_name + ' pods' if ingress else 'the caller'}: calls from container {call.state.name} to {call.failure.host} on "
            f"{protocol} {port} {_how(call)} because no rule admits pods {_show(caller_labels)}."
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(*keys),
        manual_steps=manual,
    )


def _blocked_external(ctx: Context, call: FailingCall) -> Finding | None:
    """A timeout to a host outside the cluster while an Egress policy selecting the caller admits no such destination."""
    host = call.failure.host
    target = connectivity.service_for(ctx, host) if host else None
    in_cluster = target is not None and (
        ctx.bundle.dependency(*target) is not None or (target[0] == ctx.bundle.namespace and ctx.bundle.find("Service", target[1]) is not None)
    )
    if not host or in_cluster:
        return None
    pod = ctx.pod
    assert pod is not None
    labels = connectivity.match_labels(pod)
    chosen = connectivity.selecting(ctx.bundle.network_policies, labels, "Egress")
    if not chosen or any(connectivity.allows_outside(p, host, call.failure.port) for p in chosen):
        return None
    ns = ctx.bundle.namespace
    keys = [f"config:NetworkPolicy/{ns}/{objects.name(p)}" for p in chosen]
    port = call.failure.port
    rule = {"to": [{"ipBlock": {"cidr": f"{host}/32" if netlog.is_ip(host) else "0.0.0.0/0"}}], "ports": [_port(port, "TCP")] if port else []}
    if not rule["ports"]:
        rule.pop("ports")
    return Finding(
        category=Category.NETWORK_POLICY_BLOCKED,
        confidence=0.85,
        summary=(
            f"NetworkPolicy {objects.name(chosen[0])} (namespace {ns}) drops egress from {call.state.name} to {host}"
            f"{':' + str(port) if port else ''}, outside the cluster: its connections {_how(call)} because no egress rule admits that destination."
        ),
        steps=[
            f"Container {call.state.name} of pod {call.state.pod_name} fails: its connections to {host}{':' + str(port) if port else ''} {_how(call)}: "
            f"'{call.failure.line[:200]}'{ctx.cite(call.log_key, call.state.key)}",
            f"{host} is not a Service of the cluster: the call leaves through the pod's egress{ctx.cite(call.log_key)}",
            f"NetworkPolicy {', '.join(objects.name(p) for p in chosen)} in namespace {ns} selects the pod for Egress, and no rule admits "
            f"{host}{' on TCP ' + str(port) if port else ''}: the packets are dropped{ctx.cite(*keys)}",
            f"No patch: what a NetworkPolicy admits is a security decision for its owner; the rule to add is in the manual steps{ctx.cite(*keys)}",
        ],
        evidence_ids=ctx.evidence.ids(call.state.key, call.log_key, *keys),
        manual_steps=[
            f"Add an egress rule for {host} to NetworkPolicy {objects.name(chosen[0])} in namespace {ns} (narrow the CIDR to the "
            f"destination's addresses): `kubectl -n {ns} patch networkpolicy {objects.name(chosen[0])} --type=json -p "
            f"'{json.dumps([{'op': 'add', 'path': '/spec/egress/-', 'value': rule}], separators=(',', ':'))}'`"
        ],
    )


def _blocked_dns(ctx: Context, call: FailingCall) -> Finding | None:
    pod = ctx.pod
    assert pod is not None
    labels = connectivity.match_labels(pod)
    dns_labels = {"k8s-app": "kube-dns"}
    blocked = connectivity.selecting(ctx.bundle.network_policies, labels, "Egress")
    if not blocked or any(connectivity.allows(p, "Egress", dns_labels, "kube-system", 53, protocol) for p in blocked for protocol in ("UDP", "TCP")):
        return None
    names = ", ".join(objects.name(p) for p in blocked)
    ns = ctx.bundle.namespace
    keys = [f"config:NetworkPolicy/{ns}/{objects.name(p)}" for p in blocked]
    rule = {
        "to": [{"namespaceSelector": {"matchLabels": {connectivity.NS_NAME_LABEL: "kube-system"}}, "podSelector": {"matchLabels": dns_labels}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return Finding(
        category=Category.NETWORK_POLICY_BLOCKED,
        confidence=0.85,
        summary=(
            f"NetworkPolicy {objects.name(blocked[0])} blocks DNS: the name lookups of container {call.state.name} time out "
            "because no egress rule allows port 53."
        ),
        steps=[
            f"Container {call.state.name} of pod {call.state.pod_name} fails: its DNS lookups time out: '{call.failure.line[:200]}'"
            f"{ctx.cite(call.log_key, call.state.key)}",
            f"NetworkPolicy {names} in namespace {ns} selects the pod for Egress and allows nothing on UDP or TCP port 53, so the "
            f"cluster DNS never answers{ctx.cite(*keys)}",
            f"No patch: what a NetworkPolicy admits is a security decision for its owner{ctx.cite(*keys)}",
        ],
        evidence_ids=ctx.evidence.ids(call.state.key, call.log_key, *keys),
        manual_steps=[
            f"Allow DNS in NetworkPolicy {objects.name(blocked[0])} in namespace {ns}: `kubectl -n {ns} patch networkpolicy "
            f"{objects.name(blocked[0])} --type=json -p '{json.dumps([{'op': 'add', 'path': '/spec/egress/-', 'value': rule}], separators=(',', ':'))}'`"
        ],
    )


def _peer(labels: dict[str, str], peer_ns: str, policy_ns: str) -> dict[str, object]:
    peer: dict[str, object] = {"podSelector": {"matchLabels": labels}}
    if peer_ns != policy_ns:
        peer["namespaceSelector"] = {"matchLabels": {connectivity.NS_NAME_LABEL: peer_ns}}
    return peer


def _port(port: int | str | None, protocol: str) -> dict[str, object]:
    return {"protocol": protocol, "port": port} if port is not None else {"protocol": protocol}


def _show(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
