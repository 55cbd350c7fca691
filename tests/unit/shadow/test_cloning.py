"""The clone transformation: server fields stripped, replicas 1, selectors rewritten, the fix applied with its guards."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from aegis.core.errors import ConflictError
from aegis.core.models import IncidentId
from aegis.core.shadow import cloning


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout", "namespace": "shop", "uid": "u-1", "resourceVersion": "42", "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "checkout"},
            "annotations": {"deployment.kubernetes.io/revision": "2", "team": "payments"},
            "ownerReferences": [{"kind": "Thing", "name": "x", "uid": "o", "apiVersion": "v1"}], "managedFields": [{}],
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout", "tier": "web"}, "annotations": {"sim.aegis.dev/requires-env": "{}"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "repo/app:1", "env": [{"name": "A", "value": "1"}]}]},
            },
        },
        "status": {"replicas": 4},
    }  # fmt: skip


FIX = [
    {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "app"},
    {"op": "test", "path": "/spec/template/spec/containers/0/env/0/name", "value": "A"},
    {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "B", "value": "2"}},
]


def test_namespace_name_is_a_lowercase_dns_label() -> None:
    """The shadow namespace is aegis-shadow-<incident>-<suffix>, lower-case and at most 63 characters."""
    assert cloning.namespace_name("INC-12", "ab12cd") == "aegis-shadow-inc-12-ab12cd"
    long = cloning.namespace_name("INC-" + "X" * 100, "ab12cd")
    assert len(long) <= 63 and long.startswith("aegis-shadow-inc-x") and long.endswith("-ab12cd") and long == long.lower()


def test_namespace_is_labelled_and_carries_an_expiry() -> None:
    """The namespace has the managed-by and incident labels and an expiry the janitor reads."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    doc = cloning.namespace_doc("aegis-shadow-inc-1-x", IncidentId("INC-1"), "inc-1-x", at, "Deployment/a -n b")
    assert doc["metadata"]["labels"][cloning.MANAGED_BY] == "aegis" and doc["metadata"]["labels"][cloning.INCIDENT_LABEL] == "INC-1"
    assert cloning.expired(doc, datetime(2026, 1, 2, tzinfo=UTC)) and not cloning.expired(doc, datetime(2025, 12, 31, tzinfo=UTC))


def test_clone_strips_server_fields_sets_one_replica_and_applies_the_fix() -> None:
    """uid, resourceVersion, ownerReferences, status and nodeName go; replicas is 1; the fix's env entry is there."""
    original = deployment()
    before = copy.deepcopy(original)
    clone = cloning.clone_workload(original, "aegis-shadow-x", "sid", FIX)
    assert original == before, "the production object must not be modified"
    meta = clone["metadata"]
    for field in ("uid", "resourceVersion", "generation", "creationTimestamp", "ownerReferences", "managedFields"):
        assert field not in meta
    assert meta["namespace"] == "aegis-shadow-x" and "status" not in clone
    assert "deployment.kubernetes.io/revision" not in meta["annotations"] and meta["annotations"]["team"] == "payments"
    assert clone["spec"]["replicas"] == 1
    pod = clone["spec"]["template"]["spec"]
    assert "nodeName" not in pod and pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert clone["spec"]["template"]["metadata"]["annotations"] == {"sim.aegis.dev/requires-env": "{}"}


def test_clone_selector_can_never_match_a_production_service() -> None:
    """Every selector label takes a shadow value plus aegis.dev/shadow, and the selector still matches the clone's pods."""
    clone = cloning.clone_workload(deployment(), "ns", "sid", None)
    selector = clone["spec"]["selector"]["matchLabels"]
    labels = clone["spec"]["template"]["metadata"]["labels"]
    production_service = {"app": "checkout"}
    assert not cloning.selects(production_service, labels)
    assert cloning.selects(selector, labels)
    assert labels[cloning.SHADOW_LABEL] == "sid" and selector[cloning.SHADOW_LABEL] == "sid"
    assert labels["app"] != "checkout" and labels["tier"] != "web"


def test_copied_service_selects_the_clone_and_loses_cluster_addresses() -> None:
    """A copied Service is ClusterIP without clusterIP/nodePort, and selects the clone's (rewritten) pods."""
    workload = deployment()
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout", "namespace": "shop", "uid": "s"},
        "spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "selector": {"app": "checkout"},
                 "ports": [{"port": 80, "targetPort": "http", "nodePort": 30080}]},
    }  # fmt: skip
    clone = cloning.clone_workload(workload, "ns", "sid", None)
    copy_ = cloning.clone_service(service, "ns", "sid", {"app": "checkout", "tier": "web"}, cloning.selector_map(workload))
    assert copy_["spec"]["type"] == "ClusterIP" and "clusterIP" not in copy_["spec"] and "nodePort" not in copy_["spec"]["ports"][0]
    assert cloning.selects(copy_["spec"]["selector"], clone["spec"]["template"]["metadata"]["labels"])


def test_a_guard_that_no_longer_holds_is_a_conflict() -> None:
    """A fix whose test guard fails on the object as it is now raises ConflictError (the shadow would prove nothing)."""
    workload = deployment()
    workload["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"] = "CHANGED"
    with pytest.raises(ConflictError):
        cloning.clone_workload(workload, "ns", "sid", FIX)


def test_placeholder_secret_keeps_the_keys_not_the_values() -> None:
    """A Secret placeholder has the production keys and none of its values."""
    secret = {"kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}, "data": {"URL": "c2VjcmV0", "PASSWORD": "aHVudGVyMg=="}}
    placeholder = cloning.placeholder_secret(secret, "ns", "sid")
    assert sorted(placeholder["data"]) == ["PASSWORD", "URL"]
    assert "c2VjcmV0" not in str(placeholder) and "aHVudGVyMg==" not in str(placeholder)


def test_egress_is_denied_except_dns_and_the_allowlist() -> None:
    """The NetworkPolicy selects every pod, is egress-only, allows port 53 and the configured CIDRs."""
    policy = cloning.network_policy("ns", "sid", ["10.1.0.0/16"])
    spec = policy["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    assert {p["port"] for p in spec["egress"][0]["ports"]} == {53}
    assert spec["egress"][1]["to"] == [{"ipBlock": {"cidr": "10.1.0.0/16"}}]


def test_pods_that_constrain_each_other_keep_their_replicas_and_their_affinity_selects_the_clone() -> None:
    """With required pod anti-affinity the clone keeps production's replica count (capped) and its selector follows the rewritten labels."""
    workload = deployment()
    workload["spec"]["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": "checkout"}}, "topologyKey": "h"}]}
    }
    clone = cloning.clone_workload(workload, "ns", "sid", None)
    assert clone["spec"]["replicas"] == 4
    term = clone["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert cloning.selects(term["labelSelector"]["matchLabels"], clone["spec"]["template"]["metadata"]["labels"])


def test_a_hand_bound_claim_is_copied_empty_with_the_default_class() -> None:
    """A claim bound by hand (storageClassName "", volumeName) becomes an empty claim of the default class, same size."""
    claim = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "", "volumeName": "pv-1", "accessModes": ["RWO"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    copy_ = cloning.clone_claim(claim, "ns", "sid")
    assert "storageClassName" not in copy_["spec"] and "volumeName" not in copy_["spec"] and copy_["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
