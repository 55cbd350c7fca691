"""From production objects to shadow objects: pure functions, no I/O.

A clone keeps what decides whether the fix works (the pod template, with its annotations,
probes, env and volumes) and drops what the API server sets or what ties it to production:
uid, resourceVersion, ownerReferences, status, nodeName, clusterIP, nodePorts. The order is
fixed: clean → apply the fix (its `test` guards hold, since the fields they test are untouched)
→ rewrite labels and selectors. Rewriting maps every selector label value to a shadow value and
adds `aegis.dev/shadow=<id>`, so a clone's pods can never match a production Service, and the
copied Services are rewritten with the same map so they select the clone and nothing else.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

import jsonpatch

from aegis.core import objects
from aegis.core.errors import ConflictError
from aegis.core.models import IncidentId, KubeObject

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "aegis"
INCIDENT_LABEL = "aegis.dev/incident"
SHADOW_LABEL = "aegis.dev/shadow"
EXPIRES_ANNOTATION = "aegis.dev/expires-at"
SOURCE_ANNOTATION = "aegis.dev/source"
NAMESPACE_PREFIX = "aegis-shadow-"
SHADOW_SELECTOR = f"{MANAGED_BY}={MANAGED_BY_VALUE},{SHADOW_LABEL}"
PLACEHOLDER_VALUE = "YWVnaXMtc2hhZG93LXBsYWNlaG9sZGVy"  # base64("aegis-shadow-placeholder")

_DROP_META = (*objects.SERVER_SET_METADATA, "ownerReferences", "finalizers", "generateName")
_REPLICATED = ("Deployment", "StatefulSet")


def _label_token(text: str) -> str:
    token = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return token or "x"


def namespace_name(incident_id: str, suffix: str) -> str:
    """`aegis-shadow-<incident>-<suffix>`, lower-case, a valid DNS label (≤ 63 characters)."""
    tail = f"-{_label_token(suffix)[:8]}"
    room = 63 - len(NAMESPACE_PREFIX) - len(tail)
    return f"{NAMESPACE_PREFIX}{_label_token(incident_id)[:room].strip('-') or 'x'}{tail}"


def label_value(text: str) -> str:
    """A valid label value (≤ 63, alphanumeric at both ends) for ids such as `INC-12`."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.")
    return value or "x"


def shadow_value(value: str) -> str:
    """The value a selector label takes in the shadow: never equal to a production value."""
    base = value[:50].rstrip("-_.")
    return f"{base}-aegis-shadow" if base else "aegis-shadow"


def namespace_doc(name: str, incident_id: IncidentId, shadow_id: str, expires_at: datetime, source: str) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY: MANAGED_BY_VALUE, INCIDENT_LABEL: label_value(incident_id), SHADOW_LABEL: shadow_id},
            "annotations": {EXPIRES_ANNOTATION: expires_at.isoformat(), SOURCE_ANNOTATION: source},
        },
    }


def expired(namespace: KubeObject, now: datetime) -> bool:
    """Whether a shadow namespace's expiry has passed (no or unreadable expiry: expired, it is ours and orphaned)."""
    expires = objects.parse_time(objects.annotations(namespace).get(EXPIRES_ANNOTATION))
    return expires is None or expires <= now


def clean(obj: KubeObject, namespace: str) -> KubeObject:
    """A copy without status and server-set metadata, moved to `namespace`."""
    out = copy.deepcopy(objects.without_server_fields(obj, drop_meta=_DROP_META))
    out["metadata"].setdefault("annotations", {})
    out["metadata"]["namespace"] = namespace
    return out


def patched(workload: KubeObject, patch: list[dict[str, Any]]) -> KubeObject:
    """The object with the fix applied, `test` guards included; ConflictError if a guard fails."""
    try:
        result: KubeObject = jsonpatch.apply_patch(workload, patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ConflictError(f"{workload.get('kind')}/{objects.name(workload)} no longer matches the diagnosis ({exc}); analyze it again") from exc
    return result


def selector_map(workload: KubeObject) -> dict[str, str]:
    """label key → shadow value, for every label of the pod template and of the selector."""
    keys: dict[str, str] = {}
    template_labels = _template_labels(workload)
    for key, value in template_labels.items():
        keys[key] = shadow_value(str(value))
    if workload.get("kind") != "Pod":
        match_labels: dict[str, str] = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        for key, value in match_labels.items():
            keys.setdefault(key, shadow_value(str(value)))
    return keys


def _template_labels(workload: KubeObject) -> dict[str, str]:
    if workload.get("kind") == "Pod":
        return objects.labels(workload)
    template = (workload.get("spec") or {}).get("template") or {}
    result: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
    return result


def _rewrite(labels: dict[str, str], original: dict[str, str], mapping: dict[str, str], shadow_id: str) -> dict[str, str]:
    """Labels whose value equals the production pod label take the shadow value; others stay (a mismatch stays a mismatch)."""
    out = _map_values(labels, original, mapping)
    out[SHADOW_LABEL] = shadow_id
    return out


def clone_workload(workload: KubeObject, namespace: str, shadow_id: str, patch: list[dict[str, Any]] | None) -> KubeObject:
    """The shadow copy of a Deployment, StatefulSet, DaemonSet or bare Pod, the fix applied, replicas 1."""
    kind = str(workload.get("kind"))
    cloned = clean(workload, namespace)
    if patch:
        cloned = patched(cloned, patch)
    original = _template_labels(workload)
    mapping = selector_map(workload)
    meta = cloned["metadata"]
    meta["labels"] = {**_rewrite(meta.get("labels") or {}, original, mapping, shadow_id), MANAGED_BY: MANAGED_BY_VALUE}
    spec = cloned.setdefault("spec", {})
    if kind == "Pod":
        pod_spec = spec
    else:
        template = spec.setdefault("template", {})
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = _rewrite(tmeta.get("labels") or {}, original, mapping, shadow_id)
        selector = spec.setdefault("selector", {})
        selector["matchLabels"] = _rewrite(selector.get("matchLabels") or {}, original, mapping, shadow_id)
        pod_spec = template.setdefault("spec", {})
        if kind in _REPLICATED:
            spec["replicas"] = shadow_replicas(workload)
        spec.pop("paused", None)
        for claim in spec.get("volumeClaimTemplates") or []:
            claim.pop("status", None)
            (claim.get("metadata") or {}).pop("creationTimestamp", None)
    pod_spec.pop("nodeName", None)
    _rewrite_affinity(pod_spec, original, mapping)
    # A clone never talks to the API server with a mounted token, and is not kept waiting for at deletion.
    pod_spec["automountServiceAccountToken"] = False
    pod_spec["terminationGracePeriodSeconds"] = 0
    return cloned


MAX_REPLICAS = 5


def replica_sensitive(workload: KubeObject) -> bool:
    """Whether the pods constrain each other (inter-pod affinity, topology spread): then one replica hides the fault."""
    spec = objects.pod_spec(workload)
    affinity = spec.get("affinity") or {}
    return bool(affinity.get("podAntiAffinity") or affinity.get("podAffinity") or spec.get("topologySpreadConstraints"))


def shadow_replicas(workload: KubeObject) -> int:
    """1, or production's count (capped) when the pods constrain each other."""
    if workload.get("kind") not in _REPLICATED:
        return 1
    wanted = int((workload.get("spec") or {}).get("replicas", 1) or 1)
    return min(wanted, MAX_REPLICAS) if replica_sensitive(workload) else 1


def _map_values(labels: dict[str, str], original: dict[str, str], mapping: dict[str, str]) -> dict[str, str]:
    return {k: (mapping[k] if k in mapping and original.get(k) == v else v) for k, v in labels.items()}


def _rewrite_affinity(pod_spec: dict[str, Any], original: dict[str, str], mapping: dict[str, str]) -> None:
    """Inter-pod (anti-)affinity and spread constraints that select the workload's own pods select the clone's."""
    selectors: list[dict[str, Any]] = []
    affinity = pod_spec.get("affinity") or {}
    for field in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(field) or {}
        for term in rules.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
            selectors.append(term.get("labelSelector") or {})
        for weighted in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
            selectors.append((weighted.get("podAffinityTerm") or {}).get("labelSelector") or {})
    for constraint in pod_spec.get("topologySpreadConstraints") or []:
        selectors.append(constraint.get("labelSelector") or {})
    for selector in selectors:
        if selector.get("matchLabels"):
            selector["matchLabels"] = _map_values(selector["matchLabels"], original, mapping)


def clone_service(service: KubeObject, namespace: str, shadow_id: str, original: dict[str, str], mapping: dict[str, str]) -> KubeObject:
    """A ClusterIP copy selecting the clone's pods (and only those)."""
    cloned = clean(service, namespace)
    spec = cloned.setdefault("spec", {})
    for field in ("clusterIP", "clusterIPs", "externalIPs", "loadBalancerIP", "loadBalancerSourceRanges", "healthCheckNodePort",
                  "externalTrafficPolicy", "externalName", "loadBalancerClass", "allocateLoadBalancerNodePorts"):  # fmt: skip
        spec.pop(field, None)
    spec["type"] = "ClusterIP"
    for port in spec.get("ports") or []:
        port.pop("nodePort", None)
    if spec.get("selector"):
        spec["selector"] = _rewrite(spec["selector"], original, mapping, shadow_id)
    cloned["metadata"]["labels"] = {**(cloned["metadata"].get("labels") or {}), MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}
    return cloned


def clone_data(obj: KubeObject, namespace: str, shadow_id: str) -> KubeObject:
    """A ConfigMap or Secret copied as is (data, binaryData, type)."""
    cloned = clean(obj, namespace)
    cloned["metadata"]["labels"] = {**(cloned["metadata"].get("labels") or {}), MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}
    cloned["metadata"].pop("annotations", None)
    cloned.pop("immutable", None)
    return cloned


def placeholder_secret(secret: KubeObject, namespace: str, shadow_id: str) -> KubeObject:
    """A Secret with the same name and keys as production, every value a placeholder."""
    keys = sorted(objects.data_keys(secret))
    kind_type = secret.get("type") or "Opaque"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": objects.name(secret), "namespace": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}},
        "type": "Opaque" if kind_type == "kubernetes.io/service-account-token" else kind_type,
        "data": dict.fromkeys(keys, PLACEHOLDER_VALUE),
    }


def clone_claim(claim: KubeObject, namespace: str, shadow_id: str) -> KubeObject:
    """An empty claim of the same class (the default one for a hand-bound claim), size and access modes; the data is not copied."""
    spec = claim.get("spec") or {}
    keep = {k: copy.deepcopy(v) for k, v in spec.items() if k in ("accessModes", "resources", "storageClassName", "volumeMode")}
    if keep.get("storageClassName") == "":
        # Bound by hand to a pre-made volume in production: the copy takes the default class instead.
        keep.pop("storageClassName")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": objects.name(claim), "namespace": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}},
        "spec": keep,
    }


def service_account(name: str, namespace: str, shadow_id: str) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}},
        "automountServiceAccountToken": False,
    }


def network_policy(namespace: str, shadow_id: str, allow_cidrs: list[str]) -> KubeObject:
    """Default-deny egress for every pod of the shadow; DNS allowed; CIDRs from policy allowed."""
    egress: list[dict[str, Any]] = [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
    ]
    if allow_cidrs:
        egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in allow_cidrs]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "aegis-shadow-egress", "namespace": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress},
    }


def resource_quota(namespace: str, shadow_id: str) -> KubeObject:
    """Object counts only: compute quotas would refuse pods without requests and change the outcome."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "aegis-shadow-quota", "namespace": namespace, "labels": {MANAGED_BY: MANAGED_BY_VALUE, SHADOW_LABEL: shadow_id}},
        "spec": {
            "hard": {
                "pods": "10",
                "services": "10",
                "configmaps": "30",
                "secrets": "30",
                "persistentvolumeclaims": "10",
                "services.nodeports": "0",
                "services.loadbalancers": "0",
            }
        },
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service selector (equality only) against pod labels; an empty selector selects nothing here."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
