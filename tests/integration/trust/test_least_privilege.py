"""Least privilege for AEGIS itself, on the real API server.

deploy/admission's ValidatingAdmissionPolicy, installed as shipped, refuses AEGIS's ServiceAccount
what RBAC alone cannot: deleting an application's namespace, creating a pod (or a Secret) outside
its shadow namespaces, and proxying to a Service outside them (the proxy reaches admission as
CONNECT). Apply's patches, evictions and the leader Lease still pass, and a whole shadow verification
runs under it and deletes its own namespace. The policy is cluster-wide and the control plane is
shared by the session, so a fixture installs it for this module only and waits until it is gone.

An identity bound as the Helm chart binds AEGIS (the ClusterRole without Secrets, Secret reads by
RoleBinding in the namespaces it serves) diagnoses elsewhere too, and says the Secret keys are unknown.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Diagnosis, IncidentId, ObjectRef
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy
from tests.cluster.controlplane import AEGIS_NAMESPACE, REPO, Api, kubeconfig, resource_path, wait_until
from tests.incidents import EXAMPLES, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example

pytestmark = pytest.mark.integration

ADMISSION = REPO / "deploy" / "admission"
POLICY_NAME = "aegis-least-privilege"
SHADOW = ShadowPolicy(settle_seconds=3.0, timeout_seconds=60.0, cleanup_wait_seconds=30.0, ttl_seconds=600.0)
EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "crashloop-missing-env")  # its fix reads a Secret: the shadow copies one


def _harmless_create(api: Api) -> int:
    """AEGIS creates a ConfigMap in `default` as a server-side dry-run: RBAC allows it, the policy does not."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aegis-policy-probe"}}
    return api.request("POST", "/api/v1/namespaces/default/configmaps", params={"dryRun": "All"}, json=body).status_code


@pytest.fixture(scope="module")
def admission(control_plane: Cluster) -> Iterator[None]:
    """The shipped policy and binding, in force (a harmless create is refused), and gone afterwards."""
    docs = [yaml.safe_load((ADMISSION / f).read_text()) for f in ("policy.yaml", "binding.yaml")]
    aegis = control_plane.aegis_api()
    try:
        assert _harmless_create(aegis) == 201, "AEGIS's RBAC should allow the probe before the policy"
        for doc in docs:
            control_plane.api.create(resource_path(doc["kind"]), doc)
        # The plugin is on (kube-apiserver's default); the binding takes a moment to reach its informer.
        wait_until("the policy refuses a harmless create", lambda: _harmless_create(aegis) == 403, timeout=30)
        yield
    finally:
        for doc in reversed(docs):
            control_plane.api.delete(resource_path(doc["kind"], None, doc["metadata"]["name"]))
        wait_until("the policy lifted", lambda: _harmless_create(aegis) == 201, timeout=30)
        aegis.close()


def _refused_by_policy(r: Any) -> str:
    assert r.status_code == 403, (r.status_code, r.text)
    message = str(r.json()["message"])
    assert f"ValidatingAdmissionPolicy '{POLICY_NAME}'" in message, message
    return message


def test_policy_refuses_deleting_an_application_namespace(control_plane: Cluster, admission: None) -> None:
    app = control_plane.create_namespace("trust-app")
    # A namespace that only looks like a shadow (the prefix, not AEGIS's labels) is not AEGIS's either.
    impostor = f"aegis-shadow-impostor-{uuid.uuid4().hex[:6]}"
    control_plane.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": impostor}})
    control_plane.created_namespaces.append(impostor)
    api = control_plane.aegis_api()
    try:
        message = _refused_by_policy(api.request("DELETE", f"/api/v1/namespaces/{app}"))
        assert f"AEGIS may not DELETE namespaces ({app})" in message
        _refused_by_policy(api.request("DELETE", f"/api/v1/namespaces/{impostor}"))
        # Nor create one outside the pattern, even with its labels.
        labels = {"app.kubernetes.io/managed-by": "aegis", "aegis.dev/shadow": "x"}
        lookalike = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod-2", "labels": labels}}
        _refused_by_policy(api.request("POST", "/api/v1/namespaces", json=lookalike))
    finally:
        api.close()
    for name in (app, impostor):
        assert "deletionTimestamp" not in control_plane.api.get(f"/api/v1/namespaces/{name}")["metadata"]


def test_policy_refuses_a_pod_in_kube_system(control_plane: Cluster, admission: None) -> None:
    app = control_plane.create_namespace("trust-app")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rogue"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rogue"}, "stringData": {"k": "v"}}
    api = control_plane.aegis_api()
    try:
        message = _refused_by_policy(api.request("POST", "/api/v1/namespaces/kube-system/pods", json=pod))
        assert "AEGIS may not CREATE pods in namespace kube-system" in message
        _refused_by_policy(api.request("POST", f"/api/v1/namespaces/{app}/pods", json=pod))
        _refused_by_policy(api.request("POST", f"/api/v1/namespaces/{app}/secrets", json=secret))
    finally:
        api.close()
    assert control_plane.api.get_or_none("/api/v1/namespaces/kube-system/pods/rogue") is None


def test_policy_refuses_the_proxy_outside_shadow_namespaces(control_plane: Cluster, admission: None) -> None:
    """services/proxy reaches admission as CONNECT (checked on 1.36): refused in an app namespace, admitted in a shadow."""
    app = control_plane.create_namespace("trust-app")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    control_plane.api.create(f"/api/v1/namespaces/{app}/services", service)
    shadow = f"aegis-shadow-trust-{uuid.uuid4().hex[:6]}"
    api = control_plane.aegis_api()
    try:
        message = _refused_by_policy(api.request("GET", f"/api/v1/namespaces/{app}/services/web:80/proxy/healthz"))
        assert "AEGIS may not CONNECT services/proxy" in message
        labels = {"app.kubernetes.io/managed-by": "aegis", "aegis.dev/shadow": "trust"}
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": shadow, "labels": labels}})
        control_plane.created_namespaces.append(shadow)
        api.create(f"/api/v1/namespaces/{shadow}/services", service)
        r = api.request("GET", f"/api/v1/namespaces/{shadow}/services/web:80/proxy/healthz")
        assert r.status_code != 403, r.text  # admitted; no backend behind it, so the proxy itself answers 404/503
    finally:
        api.close()


def test_policy_keeps_apply_evictions_and_the_leader_lease(control_plane: Cluster, admission: None) -> None:
    app = control_plane.create_namespace("trust-app")
    control_plane.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "repo/app:1"}]}},
            },
        },
        namespace=app,
    )
    control_plane.wait_rolled_out(app, "web")
    pod = control_plane.current_pods(app, "web")[0]["metadata"]["name"]
    patch = [{"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "repo/app:1"}]
    patch += [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "repo/app:2"}]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "aegis-leader"}, "spec": {"holderIdentity": "probe"}}
    dry = {"dryRun": "All"}
    # A dry-run create answers 409 when a Lease is already there (a running elector, an earlier test): start from none.
    control_plane.api.delete(f"/apis/coordination.k8s.io/v1/namespaces/{AEGIS_NAMESPACE}/leases/aegis-leader")
    api = control_plane.aegis_api()
    try:
        # Apply and Roll back: the JSON patch (here a server-side dry-run, as before every Apply)
        assert api.patch(f"/apis/apps/v1/namespaces/{app}/deployments/web", patch, kind="json", params=dry)["kind"] == "Deployment"
        # a StatefulSet's forced rollback evicts pods in the application's namespace
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": app}, "deleteOptions": {"dryRun": ["All"]}}
        r = api.request("POST", f"/api/v1/namespaces/{app}/pods/{pod}/eviction", json=eviction)
        assert r.status_code == 201, r.text
        # leader election: its one Lease in its own namespace, and no other
        r = api.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{AEGIS_NAMESPACE}/leases", params=dry, json=lease)
        assert r.status_code == 201, r.text
        other = {**lease, "metadata": {"name": "someone-elses"}}
        _refused_by_policy(api.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{AEGIS_NAMESPACE}/leases", params=dry, json=other))
    finally:
        api.close()


async def _diagnosed(gateway: LiveGateway, target: ObjectRef, want_fix: bool) -> Diagnosis:
    """The live diagnosis once the pods show the failure (KWOK needs a moment to crash them)."""
    deadline = time.monotonic() + 60
    while True:
        diagnosis = await Investigator(gateway).investigate(target)
        if diagnosis.rca.category.value == EXAMPLE.expected["category"] and (diagnosis.fix is not None or not want_fix):
            return diagnosis
        if time.monotonic() > deadline:
            raise AssertionError(f"no {EXAMPLE.expected['category']} diagnosis of {target} after 60s: {diagnosis.rca.summary}")
        await asyncio.sleep(1.0)


async def test_shadow_verification_passes_under_the_policy(control_plane: Cluster, admission: None) -> None:
    """AEGIS's own identity: namespace, quota, network policy, Secret and ConfigMap copies, Service, clone, then its deletion."""
    started = time.monotonic()
    target = deploy_example(control_plane, EXAMPLE)
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:
        diagnosis = await _diagnosed(gateway, target, want_fix=True)
        result = await ShadowManager(gateway, SHADOW).verify(IncidentId("T-trust-policy"), diagnosis)
        assert result.passed, f"{result.reason}\n{result.model_dump_json(indent=1)}"
        phases = {p.name: p for p in result.phases}
        assert phases["cleanup"].ok and phases["cleanup"].detail == "namespace deleted", phases["cleanup"]
        assert control_plane.api.get_or_none(f"/api/v1/namespaces/{result.namespace}") is None
        # still under the policy: the verification was not run with it lifted
        aegis = control_plane.aegis_api()
        try:
            assert _harmless_create(aegis) == 403
        finally:
            aegis.close()
    finally:
        await gateway.close()
    print(f"\n[shadow under policy] {time.monotonic() - started:.1f}s")


# --- Secret reads per namespace ---------------------------------------------------------------------


def _chart_like_identity(cluster: Cluster, served: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """A ServiceAccount bound as the Helm chart binds AEGIS: the ClusterRole `aegis` (no Secrets) and Secret reads in `served` only."""
    name = f"aegis-narrow-{uuid.uuid4().hex[:6]}"
    api = cluster.api
    api.create(resource_path("ServiceAccount", AEGIS_NAMESPACE), {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": AEGIS_NAMESPACE}]
    rbac = "rbac.authorization.k8s.io"

    def binding(kind: str, role_kind: str, role: str) -> dict[str, Any]:
        ref = {"apiGroup": rbac, "kind": role_kind, "name": role}
        return {"apiVersion": f"{rbac}/v1", "kind": kind, "metadata": {"name": name}, "roleRef": ref, "subjects": subject}

    api.create(resource_path("ClusterRoleBinding"), binding("ClusterRoleBinding", "ClusterRole", "aegis"))
    rule = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    api.create(resource_path("Role", served), {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": name}, "rules": rule})
    api.create(resource_path("RoleBinding", served), binding("RoleBinding", "Role", name))
    token = api.create(
        f"/api/v1/namespaces/{AEGIS_NAMESPACE}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )["status"]["token"]
    path = tmp_path / f"{name}.kubeconfig"
    path.write_text(kubeconfig(cluster.api_url, cluster.cp.ca_file.read_bytes(), f"system:serviceaccount:{AEGIS_NAMESPACE}:{name}", token, name))
    return path, [resource_path("ClusterRoleBinding", None, name), resource_path("ServiceAccount", AEGIS_NAMESPACE, name)]


async def test_secret_keys_unknown_where_aegis_may_not_read_secrets(control_plane: Cluster, tmp_path: Path) -> None:
    """Served namespace: the Secret's key gives the fix. Elsewhere: still a diagnosis, with the note that the keys are unknown."""
    started = time.monotonic()
    served = deploy_example(control_plane, EXAMPLE)
    unserved = deploy_example(control_plane, EXAMPLE)
    config, cleanup = _chart_like_identity(control_plane, served.namespace, tmp_path)
    gateway = await LiveGateway.connect(kubeconfig=str(config))
    try:
        with_reads = await _diagnosed(gateway, served, want_fix=True)
        without = await _diagnosed(gateway, unserved, want_fix=False)
    finally:
        await gateway.close()
        for path in cleanup:
            control_plane.api.delete(path)
    assert not any(n.startswith("Secret keys unknown") for n in with_reads.notes), with_reads.notes
    assert with_reads.fix is not None
    notes = [n for n in without.notes if n.startswith("Secret keys unknown")]
    assert len(notes) == 1 and f"namespace {unserved.namespace}" in notes[0], without.notes
    assert not any("or Secret" in s for s in [*without.rca.analysis_steps, *without.manual_steps]), without.manual_steps
    print(f"\n[secret keys unknown] {time.monotonic() - started:.1f}s")
