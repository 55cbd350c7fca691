"""What the simulated app's network calls and Kubernetes API calls meet on the test cluster.

KWOK pods have no network and run no code, so the harness plays it: a pod template annotation
declares what each container calls at start-up, and this module decides, from the real objects of
the control plane, what that call would meet — the way kube-dns, kube-proxy, a NetworkPolicy
enforcer and the API server's authorizer would decide it:

- `sim.aegis.dev/connects: '{"app": ["ledger:8080", "$LEDGER_URL"]}'` — host:port or URL, or `$ENV`
  for the value of an env var (a literal `value` or a `configMapKeyRef`). A name that is not a
  Service (svc, svc.ns, svc.ns.svc[.cluster.local]) does not resolve; a Service whose pods a
  NetworkPolicy shields from the caller (or the caller's egress) drops the packets (timeout); a
  Service with no ready endpoint refuses; otherwise the call succeeds.
- `sim.aegis.dev/kube-api: '{"app": ["list pods", "get configmaps"]}'` — asked of the API server as
  a SubjectAccessReview for the pod's ServiceAccount; a denial is the API server's forbidden text.

The first failure per container is what the app prints before it exits 1 (the stage
`aegis-dependency-failure` makes it crash-loop while the harness stamps it). The NetworkPolicy
rules here are written independently of AEGIS's analyzers, from the API's documented semantics,
so a bug in one is not mirrored in the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

JSONObj = dict[str, Any]
CLUSTER_DNS = "10.96.0.10"
ANN_CONNECTS = "sim.aegis.dev/connects"
ANN_KUBE_API = "sim.aegis.dev/kube-api"


def wants(pod: JSONObj) -> bool:
    ann = pod["metadata"].get("annotations") or {}
    return ANN_CONNECTS in ann or ANN_KUBE_API in ann


def _ann(pod: JSONObj, key: str) -> dict[str, list[str]]:
    try:
        value = json.loads((pod["metadata"].get("annotations") or {}).get(key) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _env_value(container: JSONObj, name: str, ns: str, configmaps: Mapping[tuple[str, str], JSONObj]) -> str | None:
    for env in container.get("env") or []:
        if env.get("name") != name:
            continue
        if "value" in env:
            return str(env["value"])
        ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
        cm = configmaps.get((ns, ref.get("name", "")))
        return str((cm or {}).get("data", {}).get(ref.get("key"), "")) or None
    return None


def _host_port(target: str) -> tuple[str, int, str]:
    """(host, port, URL for the log) of host:port or scheme://host[:port][/path]."""
    match = re.match(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>[^/:]+)(?::(?P<port>\d+))?(?P<path>/.*)?$", target.strip())
    if not match:
        return target, 80, f"http://{target}/"
    scheme = match["scheme"] or "http"
    port = int(match["port"] or (443 if scheme == "https" else 80))
    return match["host"], port, f"{scheme}://{match['host']}:{port}{match['path'] or '/'}"


def _service_name(host: str, ns: str) -> tuple[str, str]:
    parts = host.split(".")
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return parts[1], parts[0]
    return ns, host


def _label_match(labels: Mapping[str, str], selector: JSONObj | None) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _admits(policy: JSONObj, direction: str, peer_labels: Mapping[str, str], peer_ns: str, port: int) -> bool:
    """Whether some rule of this policy (ingress or egress) admits the peer on the TCP port."""
    rules = policy.get("spec", {}).get(direction) or []
    for rule in rules:
        peers = rule.get("from" if direction == "ingress" else "to")
        peer_ok = not peers
        for peer in peers or []:
            ns_ok = (
                _label_match({"kubernetes.io/metadata.name": peer_ns}, peer["namespaceSelector"])
                if "namespaceSelector" in peer
                else peer_ns == policy["metadata"]["namespace"]
            )
            pod_ok = _label_match(peer_labels, peer["podSelector"]) if "podSelector" in peer else True
            if "ipBlock" in peer or (ns_ok and pod_ok):
                peer_ok = True
        ports = rule.get("ports") or []
        port_ok = not ports or any(p.get("protocol", "TCP") == "TCP" and (p.get("port") in (None, port)) for p in ports)
        if peer_ok and port_ok:
            return True
    return False


def _isolated_and_denied(
    policies: list[JSONObj], ns: str, labels: Mapping[str, str], kind: str, peer_labels: Mapping[str, str], peer_ns: str, port: int
) -> bool:
    direction = kind.lower()
    chosen = [
        p for p in policies
        if p["metadata"]["namespace"] == ns
        and _label_match(labels, p.get("spec", {}).get("podSelector"))
        and kind in (p.get("spec", {}).get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in p.get("spec", {}) else [])))
    ]  # fmt: skip
    return bool(chosen) and not any(_admits(p, direction, peer_labels, peer_ns, port) for p in chosen)


def _call(pod: JSONObj, container: JSONObj, target: str, world: Mapping[str, Any]) -> str | None:
    ns = pod["metadata"]["namespace"]
    if target.startswith("$"):
        value = _env_value(container, target[1:], ns, world["configmaps"])
        if not value:
            return f"FATAL: required environment variable {target[1:]} is not set"
        target = value
    host, port, url = _host_port(target)
    labels = pod["metadata"].get("labels") or {}
    policies: list[JSONObj] = world["policies"]
    dns_blocked = _isolated_and_denied(policies, ns, labels, "Egress", {"k8s-app": "kube-dns"}, "kube-system", 53)
    ip = pod.get("status", {}).get("podIP") or "10.244.0.5"
    if dns_blocked:
        return f'FATAL: cannot reach {host}: Get "{url}": dial tcp: lookup {host} on {CLUSTER_DNS}:53: read udp {ip}:41234->{CLUSTER_DNS}:53: i/o timeout'
    svc_ns, svc_name = _service_name(host, ns)
    service = world["services"].get((svc_ns, svc_name))
    if service is None:
        return f'FATAL: cannot reach {host}: Get "{url}": dial tcp: lookup {host} on {CLUSTER_DNS}:53: no such host'
    cluster_ip = service.get("spec", {}).get("clusterIP") or "10.96.0.100"
    svc_port = next((p for p in service.get("spec", {}).get("ports") or [] if p.get("port") == port), None)
    callee = [
        p for p in world["pods"]
        if p["metadata"]["namespace"] == svc_ns and service.get("spec", {}).get("selector")
        and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in service["spec"]["selector"].items())
    ]  # fmt: skip
    target_port = (svc_port or {}).get("targetPort", port)
    if isinstance(target_port, str):
        target_port = next(
            (
                cp.get("containerPort")
                for p in callee[:1]
                for c in p["spec"].get("containers", [])
                for cp in c.get("ports") or []
                if cp.get("name") == target_port
            ),
            port,
        )
    refused = f'FATAL: cannot reach {host}: Get "{url}": dial tcp {cluster_ip}:{port}: connect: connection refused'
    if svc_port is None:
        return refused
    endpoints = world["endpoints"].get((svc_ns, svc_name)) or {}
    ready = any(s.get("addresses") for s in endpoints.get("subsets") or [])
    if callee and (
        _isolated_and_denied(policies, svc_ns, callee[0]["metadata"].get("labels") or {}, "Ingress", labels, ns, int(target_port))
        or _isolated_and_denied(policies, ns, labels, "Egress", callee[0]["metadata"].get("labels") or {}, svc_ns, int(target_port))
    ):
        return f'FATAL: cannot reach {host}: Get "{url}": dial tcp {cluster_ip}:{port}: i/o timeout'
    if not ready:
        return refused
    return None


def failures(pod: JSONObj, world: Mapping[str, Any], can: Callable[[str, str, str, str, str], bool]) -> dict[str, str]:
    """container -> the line the app logs before it exits 1, for each container whose calls fail."""
    ns = pod["metadata"]["namespace"]
    account = pod["spec"].get("serviceAccountName") or "default"
    connects, api = _ann(pod, ANN_CONNECTS), _ann(pod, ANN_KUBE_API)
    out: dict[str, str] = {}
    for container in pod["spec"].get("containers", []):
        name = container["name"]
        for call in api.get(name) or []:
            verb, _, resource = str(call).partition(" ")
            resource, _, group = resource.partition(".")
            if not can(ns, account, verb, resource, group):
                out[name] = (
                    f'E1204 reflector.go:166] "Unhandled Error" err="failed to {verb} {resource}: {resource} is forbidden: User '
                    f'\\"system:serviceaccount:{ns}:{account}\\" cannot {verb} resource \\"{resource}\\" in API group \\"{group}\\" '
                    f'in the namespace \\"{ns}\\""'
                )
                break
        if name in out:
            continue
        for target in connects.get(name) or []:
            line = _call(pod, container, str(target), world)
            if line:
                out[name] = line
                break
    return out
