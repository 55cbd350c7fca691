"""LiveGateway's own credentials loader against the real API server: token, client certificate, in-cluster, exec plugin.

Each way of authenticating kubectl supports reaches the control plane over TLS verified against its
CA, and the API server sees the identity the credential names (a client certificate's CN and O, the
ServiceAccount of a mounted token).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from aegis.core.errors import ClusterUnreachableError, ForbiddenError
from aegis.core.kube import credentials
from aegis.core.kube.live import LiveGateway
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration


def _client_cert(cluster: Cluster, d: Path, cn: str, org: str) -> tuple[Path, Path]:
    """A client certificate signed by the cluster's CA (the API server's --client-ca-file)."""
    pki = cluster.cp.pki
    subprocess.run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "c.key", "-subj", f"/CN={cn}/O={org}", "-out", "c.csr"],
        cwd=d, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "c.csr", "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
         "-CAcreateserial", "-days", "1", "-out", "c.crt"],
        cwd=d, check=True, capture_output=True,
    )  # fmt: skip
    return d / "c.crt", d / "c.key"


def _kubeconfig(path: Path, cluster: Cluster, user: dict[str, Any], *, ca: bool = True) -> Path:
    server: dict[str, Any] = {"server": cluster.api_url}
    if ca:
        server["certificate-authority-data"] = base64.b64encode(cluster.cp.ca_file.read_bytes()).decode()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "c", "cluster": server}], "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


async def _whoami(gateway: LiveGateway) -> dict[str, Any]:
    """The API server's view of the caller (SelfSubjectReview, allowed for every authenticated user)."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    _, data = await gateway._request("POST", path, verb="create", resource="selfsubjectreviews", namespace=None, body=review)
    info: dict[str, Any] = json.loads(data)["status"]["userInfo"]
    return info


async def test_client_certificate_data_authenticates_as_its_subject(control_plane: Cluster, tmp_path: Path) -> None:
    """client-certificate-data/client-key-data: the API server sees CN as the user and O as a group; system:masters may list nodes."""
    cert, key = _client_cert(control_plane, tmp_path, "alice", "system:masters")
    user = {"client-certificate-data": base64.b64encode(cert.read_bytes()).decode(), "client-key-data": base64.b64encode(key.read_bytes()).decode()}
    gateway = await LiveGateway.connect(kubeconfig=str(_kubeconfig(tmp_path / "kc", control_plane, user)))
    try:
        who = await _whoami(gateway)
        assert who["username"] == "alice" and "system:masters" in who["groups"]
        assert await gateway.list_objects("Node", None)
    finally:
        await gateway.close()


async def test_client_certificate_files_without_rights_are_forbidden_by_meaning(control_plane: Cluster, tmp_path: Path) -> None:
    """Relative certificate files work; a user RBAC grants nothing gets ForbiddenError naming the verb and resource."""
    _client_cert(control_plane, tmp_path, "bob", "nobody")
    path = _kubeconfig(tmp_path / "kc", control_plane, {"client-certificate": "c.crt", "client-key": "c.key"})
    gateway = await LiveGateway.connect(kubeconfig=str(path))
    try:
        assert (await _whoami(gateway))["username"] == "bob"
        with pytest.raises(ForbiddenError) as caught:
            await gateway.list_objects("Secret", "default")
        assert "list" in str(caught.value) and "secrets" in str(caught.value)
    finally:
        await gateway.close()


async def test_in_cluster_service_account_mount(control_plane: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AEGIS_IN_CLUSTER: KUBERNETES_SERVICE_HOST/PORT and a ServiceAccount mount (token + ca.crt) make AEGIS its ServiceAccount."""
    host_port = control_plane.api_url.removeprefix("https://")
    host, port = host_port.rsplit(":", 1)
    (tmp_path / "token").write_text((control_plane.cp.workdir / "aegis.token").read_text())
    (tmp_path / "ca.crt").write_bytes(control_plane.cp.ca_file.read_bytes())
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    gateway = await LiveGateway.connect(in_cluster=True)
    try:
        assert gateway.description == "in-cluster"
        assert (await _whoami(gateway))["username"] == "system:serviceaccount:aegis-system:aegis"
        endpoint = await gateway.api_endpoint()
        assert endpoint is not None and endpoint.base_url == control_plane.api_url and endpoint.headers["Authorization"].startswith("Bearer ")
    finally:
        await gateway.close()


async def test_exec_plugin_token(control_plane: Cluster, tmp_path: Path) -> None:
    """An exec credential plugin's token is sent as the bearer token."""
    token = (control_plane.cp.workdir / "aegis.token").read_text().strip()
    script = tmp_path / "plugin.py"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": token}}
    script.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(script)]}}
    gateway = await LiveGateway.connect(kubeconfig=str(_kubeconfig(tmp_path / "kc", control_plane, user)))
    try:
        assert (await _whoami(gateway))["username"] == "system:serviceaccount:aegis-system:aegis"
    finally:
        await gateway.close()


async def test_a_server_certificate_from_another_ca_is_refused(control_plane: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the cluster's CA the system trust store does not know the test CA: the TLS check fails, as kubectl's would."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "empty.pem"))
    (tmp_path / "empty.pem").write_text("")
    gateway = await LiveGateway.connect(kubeconfig=str(_kubeconfig(tmp_path / "kc", control_plane, {"token": "x"}, ca=False)))
    try:
        with pytest.raises(ClusterUnreachableError, match="certificate verify failed"):
            await gateway.list_objects("Namespace", None)
    finally:
        await gateway.close()


async def test_impersonation_sends_the_user_and_every_group(control_plane: Cluster) -> None:
    """impersonating(identity): the API server sees that user with each group (an Impersonate-Group header each); the view's close keeps the connection."""
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.admin_kubeconfig))
    try:
        view = gateway.impersonating(SimpleNamespace(user="carol@example.com", groups=["devs", "oncall"]))
        who = await _whoami(view)
        assert who["username"] == "carol@example.com" and {"devs", "oncall"} <= set(who["groups"])
        await view.close()
        assert (await _whoami(gateway))["username"] != "carol@example.com"  # the gateway itself is still AEGIS's admin, and open
        with pytest.raises(ForbiddenError):  # carol has no RBAC grants: the API server decides as for her
            await view.list_objects("Secret", "default")
    finally:
        await gateway.close()
