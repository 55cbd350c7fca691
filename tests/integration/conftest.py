"""Integration fixtures: a real Kubernetes control plane (tests/cluster/controlplane.py).

`control_plane` (session scope) starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK from the binaries tests/cluster/build.sh caches, and always
tears them down. Missing binaries: a failure when CI is set, a skip otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.controlplane import Api, BinariesMissing, ControlPlane, bin_dir, missing_binaries, resource_path, wait_until

BUILD_HINT = "run tests/cluster/build.sh (builds Kubernetes, etcd and KWOK into ~/.cache/aegis/cluster; about 10 min the first time)"


@dataclass
class Cluster:
    """What a test gets: kubeconfigs, the API URL, admin and AEGIS clients and small helpers."""

    cp: ControlPlane
    created_namespaces: list[str] = field(default_factory=list)

    @property
    def admin_kubeconfig(self) -> Path:
        return self.cp.admin_kubeconfig

    @property
    def aegis_kubeconfig(self) -> Path:
        return self.cp.aegis_kubeconfig

    @property
    def api_url(self) -> str:
        return self.cp.api_url

    @property
    def api(self) -> Api:
        """Admin (system:masters) client."""
        return self.cp.api

    def aegis_api(self) -> Api:
        """A client with the AEGIS ServiceAccount token (close it when done)."""
        return self.cp.aegis_api()

    @property
    def time_to_ready(self) -> float:
        return self.cp.time_to_ready

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the kubectl built with the control plane (for debugging and smoke checks)."""
        exe = self.cp.kubectl_path
        if exe is None:
            pytest.skip("kubectl was not built (tests/cluster/build.sh builds it)")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.admin_kubeconfig)}
        return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, check=check, timeout=60)

    # ---- objects
    def create_namespace(self, prefix: str) -> str:
        """A fresh namespace whose default ServiceAccount exists (pods are refused before it does)."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.created_namespaces.append(name)
        self.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        wait_until(
            f"ServiceAccount {name}/default",
            lambda: self.api.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None,
            timeout=30,
        )
        return name

    def apply(self, manifest: Mapping[str, Any] | str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Server-side apply each object (create or update, like `kubectl apply --server-side --force-conflicts`)."""
        docs = [dict(d) for d in yaml.safe_load_all(manifest)] if isinstance(manifest, str) else [dict(manifest)]
        out = []
        for doc in docs:
            if not doc:
                continue
            ns = namespace or doc.get("metadata", {}).get("namespace")
            if ns:
                doc.setdefault("metadata", {})["namespace"] = ns
            path = resource_path(doc["kind"], ns, doc["metadata"]["name"])
            out.append(self.api.patch(path, doc, kind="apply", params={"fieldManager": "aegis-test", "force": "true"}))
        return out

    def patch_deployment(self, ns: str, name: str, body: Any, kind: str = "strategic") -> dict[str, Any]:
        return self.api.patch(resource_path("Deployment", ns, name), body, kind=kind)

    def deployment(self, ns: str, name: str) -> dict[str, Any]:
        return self.api.get(resource_path("Deployment", ns, name))

    def pods(self, ns: str, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        items = self.api.get(f"/api/v1/namespaces/{ns}/pods", params=params)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def current_pods(self, ns: str, deployment: str) -> list[dict[str, Any]]:
        """Live pods of the Deployment's newest ReplicaSet (the current template)."""
        dep = self.deployment(ns, deployment)
        if dep.get("status", {}).get("observedGeneration", 0) < dep["metadata"]["generation"]:
            return []  # the controller has not seen the latest template yet
        rev = dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
        sel = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())
        rss = self.api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets", params={"labelSelector": sel})["items"]
        current = [rs for rs in rss if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == rev]
        if not current:
            return []
        h = current[0]["metadata"]["labels"].get("pod-template-hash")
        return self.pods(ns, f"{sel},pod-template-hash={h}")

    def events(self, ns: str, pod: str | None = None) -> list[dict[str, Any]]:
        params = {"fieldSelector": f"involvedObject.name={pod}"} if pod else {}
        return list(self.api.get(f"/api/v1/namespaces/{ns}/events", params=params)["items"])

    def rolled_out(self, ns: str, name: str) -> bool:
        """kubectl rollout status semantics: observed, all replicas updated and available, old ones gone."""
        d = self.deployment(ns, name)
        st, want = d.get("status", {}), d["spec"].get("replicas", 1)
        return bool(
            st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas", 0) == want
            and st.get("replicas", 0) == want
            and st.get("availableReplicas", 0) == want
        )

    def wait_rolled_out(self, ns: str, name: str, timeout: float = 90.0) -> None:
        wait_until(f"Deployment {ns}/{name} rolled out", lambda: self.rolled_out(ns, name) or None, timeout=timeout)

    def dump(self, ns: str) -> str:
        """Pods and events of a namespace, for assertion messages."""
        pods = [
            {"name": p["metadata"]["name"], "phase": p["status"].get("phase"), "containerStatuses": p["status"].get("containerStatuses")} for p in self.pods(ns)
        ]
        evs = [f"{e.get('type')} {e.get('reason')} {e['involvedObject'].get('name')}: {e.get('message')}" for e in self.events(ns)]
        return json.dumps(pods, indent=1) + "\n" + "\n".join(evs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs the real control plane (tests/cluster) or other real services")


@pytest.fixture(autouse=True)
def _delete_test_namespaces(request: pytest.FixtureRequest) -> Iterator[None]:
    """Namespaces a test made with create_namespace are deleted after it, passed or failed, and
    their pods waited out, so the two 4 CPU / 8Gi nodes do not fill up over the session."""
    cluster: Cluster | None = request.getfixturevalue("control_plane") if "control_plane" in request.fixturenames else None
    yield
    if cluster is None:
        return
    doomed = list(cluster.created_namespaces)
    cluster.created_namespaces.clear()
    for ns in doomed:
        cluster.api.delete(f"/api/v1/namespaces/{ns}")
    for ns in doomed:
        wait_until(f"pods of namespace {ns} gone", lambda ns=ns: _no_pods_left(cluster, ns), timeout=60)


def _no_pods_left(cluster: Cluster, ns: str) -> bool:
    """Force-delete what is left (the namespace controller takes ~5 s to get to the pods)."""
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        cluster.api.request("DELETE", resource_path(kind, ns), params={"propagationPolicy": "Background"})
    cluster.api.request("DELETE", f"/api/v1/namespaces/{ns}/pods", params={"gracePeriodSeconds": "0"})
    return not (cluster.api.get_or_none(f"/api/v1/namespaces/{ns}/pods") or {}).get("items")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[Cluster]:
    bins = bin_dir()
    missing = missing_binaries(bins)
    if missing:
        msg = f"control-plane binaries missing in {bins}: {', '.join(missing)}; {BUILD_HINT}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    keep = os.environ.get("AEGIS_KEEP_CLUSTER_DIR")
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="aegis-cp-"))
    cp = ControlPlane(workdir, nodes=2, bins=bins)
    t0 = time.monotonic()
    try:
        try:
            cp.start()
        except BinariesMissing as exc:  # raced with a cache clean-up
            pytest.fail(f"{exc}; {BUILD_HINT}") if os.environ.get("CI") else pytest.skip(str(exc))
        print(f"\n[control_plane] ready in {time.monotonic() - t0:.1f}s at {cp.api_url} (dir {workdir})")
        yield Cluster(cp)
    finally:
        cp.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
