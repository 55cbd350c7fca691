"""The AEGIS ServiceAccount (deploy/rbac) can do its three jobs and nothing more.

The control plane binds every file of deploy/rbac, secrets-reader.yaml (cluster-wide Secret reads of
the plain install) included; tests/integration/trust installs the admission policy and covers what it
refuses and a diagnosis without Secret reads.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration


def _deployment(name: str) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "repo/app:1.4.2"}]}},
        },
    }


def test_aegis_identity_is_sufficient(control_plane: Cluster) -> None:
    cluster = control_plane
    ns = cluster.create_namespace("rbac-ok")
    cluster.apply(_deployment("web"), namespace=ns)
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "x"}}, namespace=ns)
    cluster.wait_rolled_out(ns, "web")
    api = cluster.aegis_api()
    try:
        # diagnosis
        for path in (
            "/api/v1/pods",
            f"/api/v1/namespaces/{ns}/pods",
            f"/api/v1/namespaces/{ns}/events",
            "/apis/events.k8s.io/v1/events",
            f"/apis/apps/v1/namespaces/{ns}/deployments/web",
            "/apis/apps/v1/replicasets",
            "/apis/apps/v1/controllerrevisions",
            "/api/v1/configmaps",
            "/api/v1/nodes",
            "/api/v1/namespaces",
            f"/api/v1/namespaces/{ns}/serviceaccounts",
            "/apis/discovery.k8s.io/v1/endpointslices",
            f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
            f"/api/v1/namespaces/{ns}/secrets",  # names and keys (values are masked by AEGIS)
            f"/api/v1/namespaces/{ns}/secrets/db",
            # job/ and cronjob/ targets, a quota refusing pods, whether a full claim's class can expand
            f"/apis/batch/v1/namespaces/{ns}/jobs",
            f"/apis/batch/v1/namespaces/{ns}/cronjobs",
            f"/api/v1/namespaces/{ns}/resourcequotas",
            "/apis/storage.k8s.io/v1/storageclasses",
            "/apis/storage.k8s.io/v1/storageclasses/standard",
        ):
            r = api.request("GET", path)
            assert r.status_code == 200, (path, r.status_code, r.text)
        # apply, disk_full: expand a claim of an expandable class (guarded JSON patch, dry run)
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            },
            namespace=ns,
        )
        deadline = time.monotonic() + 30
        while cluster.api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data").get("status", {}).get("phase") != "Bound":
            assert time.monotonic() < deadline, "claim data never bound"
            time.sleep(0.2)
        grow = [
            {"op": "test", "path": "/spec/resources/requests/storage", "value": "1Gi"},
            {"op": "replace", "path": "/spec/resources/requests/storage", "value": "2Gi"},
        ]
        grown = api.patch(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data", grow, kind="json", params={"dryRun": "All"})
        assert grown["spec"]["resources"]["requests"]["storage"] == "2Gi"
        pod = cluster.current_pods(ns, "web")[0]["metadata"]["name"]
        # the route is authorized (the fake kubelet may not serve logs: anything but 401/403)
        r = api.request("GET", f"/api/v1/namespaces/{ns}/pods/{pod}/log")
        assert r.status_code not in (401, 403), r.text
        # apply, StatefulSet forced rollback: evict a pod (dry run: the pod stays)
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}, "deleteOptions": {"dryRun": ["All"]}}
        r = api.request("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", json=eviction)
        assert r.status_code == 201, r.text
        assert pod in {p["metadata"]["name"] for p in cluster.current_pods(ns, "web")}
        # apply: server-side dry run, then the real JSON patch with a test guard
        body = [
            {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "repo/app:1.4.2"},
            {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "repo/app:1.4.1"},
        ]
        dry = api.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", body, kind="json", params={"dryRun": "All"})
        assert dry["spec"]["template"]["spec"]["containers"][0]["image"] == "repo/app:1.4.1"
        assert cluster.deployment(ns, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "repo/app:1.4.2"
        api.patch(f"/apis/apps/v1/namespaces/{ns}/deployments/web", body, kind="json")
        cluster.wait_rolled_out(ns, "web")
        # shadow verification: a throwaway namespace with a copy of the workload, then gone
        # named and labelled as core/shadow/cloning.py does: the admission policy admits no other namespace
        shadow = f"aegis-shadow-{ns}"[:63]
        labels = {"app.kubernetes.io/managed-by": "aegis", "aegis.dev/shadow": ns}
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shadow, "labels": labels}})
        for kind, path, obj in (
            ("ConfigMap", "configmaps", {"data": {"a": "1"}}),
            ("Secret", "secrets", {"stringData": {"a": "1"}}),
            ("Service", "services", {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
            ("ResourceQuota", "resourcequotas", {"spec": {"hard": {"pods": "5"}}}),
        ):
            api.create(f"/api/v1/namespaces/{shadow}/{path}", {"apiVersion": "v1", "kind": kind, "metadata": {"name": "web"}, **obj})
        api.create(
            f"/apis/networking.k8s.io/v1/namespaces/{shadow}/networkpolicies",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "deny-egress"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
            },
        )
        # the default ServiceAccount of a new namespace appears shortly; the create is retried by nobody else
        deadline = time.monotonic() + 30
        while cluster.api.get_or_none(f"/api/v1/namespaces/{shadow}/serviceaccounts/default") is None and time.monotonic() < deadline:
            time.sleep(0.2)
        api.create(f"/apis/apps/v1/namespaces/{shadow}/deployments", _deployment("web"))
        r = api.request("GET", f"/api/v1/namespaces/{shadow}/services/web:80/proxy/healthz")
        assert r.status_code not in (401, 403), r.text  # authorized; no real backend behind KWOK pods
        assert api.delete(f"/api/v1/namespaces/{shadow}") == 200
    finally:
        api.close()
    cluster.api.delete(f"/api/v1/namespaces/{ns}")


def test_aegis_identity_is_least_privilege(control_plane: Cluster) -> None:
    cluster = control_plane
    ns = cluster.create_namespace("rbac-deny")
    cluster.apply(_deployment("web"), namespace=ns)
    cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "x"}}, namespace=ns)
    cluster.wait_rolled_out(ns, "web")
    pod = cluster.current_pods(ns, "web")[0]["metadata"]["name"]
    api = cluster.aegis_api()
    try:
        denied: list[tuple[str, str, object]] = [
            ("DELETE", "/api/v1/nodes/kwok-node-0", None),
            ("PATCH", "/api/v1/nodes/kwok-node-0", {"metadata": {"labels": {"x": "y"}}}),
            ("DELETE", f"/api/v1/namespaces/{ns}/secrets/db", None),
            ("PATCH", f"/api/v1/namespaces/{ns}/configmaps/missing", {"data": {"a": "b"}}),
            ("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "rogue"}}),
            ("DELETE", f"/apis/apps/v1/namespaces/{ns}/deployments/web", None),
            ("DELETE", f"/api/v1/namespaces/{ns}/pods/{pod}", None),
            ("PUT", f"/apis/apps/v1/namespaces/{ns}/deployments/web", cluster.deployment(ns, "web")),
            ("PATCH", f"/api/v1/namespaces/{ns}/secrets/db", {"data": {"password": "eQ=="}}),
            ("POST", f"/api/v1/namespaces/{ns}/pods/{pod}/exec?command=sh&stdout=true", None),
            ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "escalate"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "aegis", "namespace": "aegis-system"}],
            }),
            ("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/aegis", {"rules": []}),
            # reads of Jobs, CronJobs, quotas and StorageClasses come with no write
            ("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "rogue"}}),
            ("DELETE", f"/apis/batch/v1/namespaces/{ns}/cronjobs/nightly", None),
            ("PATCH", f"/api/v1/namespaces/{ns}/resourcequotas/compute", {"spec": {"hard": {"pods": "1000"}}}),
            ("PATCH", "/apis/storage.k8s.io/v1/storageclasses/standard", {"allowVolumeExpansion": False}),
            ("DELETE", f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data", None),
            # NetworkPolicies and Roles are read to diagnose, never changed (what they admit is their owner's decision)
            ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/any", {"spec": {"podSelector": {}}}),
            ("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "grant"}, "rules": [],
            }),
            ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", None),
        ]  # fmt: skip
        for method, path, body in denied:
            headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
            r = api.request(method, path, json=body, headers=headers) if body is not None else api.request(method, path)
            assert r.status_code == 403, (method, path, r.status_code, r.text)
        # impersonation is refused too
        r = api.request("GET", "/api/v1/nodes", headers={"Impersonate-User": "admin"})
        assert r.status_code == 403, r.text
    finally:
        api.close()
    cluster.api.delete(f"/api/v1/namespaces/{ns}")
