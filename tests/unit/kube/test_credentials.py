"""The credentials loader reads kubeconfigs and the ServiceAccount mount as kubectl and client-go do.

Real files and real certificates (openssl), a real exec plugin (a Python script run as a process);
the HTTPS side is proven against the control plane in tests/integration/kube/.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.core.errors import UsageError
from aegis.core.kube import credentials


def _kubeconfig(path: Path, *, user: dict[str, Any], cluster: dict[str, Any] | None = None, context: str = "ctx", extra: dict[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a client certificate it signed, made by openssl."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-subj", "/CN=test-ca", "-days", "2", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-subj", "/CN=alice/O=devs", "-out", "client.csr")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.crt")
    return d


async def test_token_and_ca_data_from_the_current_context(tmp_path: Path, pki: Path) -> None:
    """A token user and certificate-authority-data: bearer header, the URL without its slash, only that CA trusted."""
    ca = base64.b64encode((pki / "ca.crt").read_bytes()).decode()
    path = _kubeconfig(tmp_path / "kc", user={"token": "t0ken"}, cluster={"server": "https://127.0.0.1:6443/", "certificate-authority-data": ca})
    creds = await credentials.load(kubeconfig=str(path), context=None, in_cluster=False)
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.where == "context ctx"
    assert await creds.headers() == {"Authorization": "Bearer t0ken"}
    context = creds.aiohttp_ssl
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


async def test_client_certificate_files_resolve_against_the_kubeconfig_directory(tmp_path: Path, pki: Path) -> None:
    """Relative client-certificate, client-key and certificate-authority paths are read from beside the kubeconfig."""
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / name).write_bytes((pki / name).read_bytes())
    path = _kubeconfig(
        tmp_path / "kc",
        user={"client-certificate": "client.crt", "client-key": "client.key"},
        cluster={"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"},
    )
    creds = await credentials.load(kubeconfig=str(path), context=None, in_cluster=False)
    assert await creds.headers() == {}
    assert isinstance(creds.ssl_context, ssl.SSLContext)


async def test_client_certificate_data_is_loaded_and_not_left_on_disk(tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-data certificates are loaded through a private temp dir that is gone afterwards."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    user = {
        "client-certificate-data": base64.b64encode((pki / "client.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((pki / "client.key").read_bytes()).decode(),
    }
    creds = await credentials.load(kubeconfig=str(_kubeconfig(tmp_path / "kc", user=user)), context=None, in_cluster=False)
    assert creds.ssl_context is not None
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_certificate_without_its_key_is_refused(tmp_path: Path, pki: Path) -> None:
    """Half a client certificate is a configuration error naming the context."""
    path = _kubeconfig(tmp_path / "kc", user={"client-certificate": str(pki / "client.crt")})
    with pytest.raises(UsageError, match="context 'ctx' has a client certificate without its key"):
        await credentials.load(kubeconfig=str(path), context=None, in_cluster=False)


async def test_unknown_context_names_the_ones_that_exist(tmp_path: Path) -> None:
    """--context with a name not in the file: one line naming the file and the contexts it has."""
    path = _kubeconfig(tmp_path / "kc", user={"token": "x"})
    with pytest.raises(UsageError, match=r"cannot load Kubernetes credentials: context 'prod' is not in .*kc \(contexts: ctx\)"):
        await credentials.load(kubeconfig=str(path), context="prod", in_cluster=False)


async def test_kubeconfig_files_merge_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KUBECONFIG=a:b: entries of a win over b's of the same name; b's other contexts are usable; current-context from a."""
    a = _kubeconfig(tmp_path / "a", user={"token": "from-a"}, context="shared")
    b_doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://b.example:6443"}}, {"name": "other", "cluster": {"server": "https://other.example"}}],
        "users": [{"name": "u", "user": {"token": "from-b"}}],
        "contexts": [{"name": "shared", "context": {"cluster": "c", "user": "u"}}, {"name": "b-only", "context": {"cluster": "other", "user": "u"}}],
        "current-context": "b-only",
    }
    (tmp_path / "b").write_text(yaml.safe_dump(b_doc))
    monkeypatch.setenv("KUBECONFIG", f"{a}:{tmp_path / 'missing'}:{tmp_path / 'b'}")
    current = await credentials.load(kubeconfig=None, context=None, in_cluster=False)
    assert (current.where, current.server, await current.headers()) == ("context shared", "https://127.0.0.1:6443", {"Authorization": "Bearer from-a"})
    other = await credentials.load(kubeconfig=None, context="b-only", in_cluster=False)
    assert (other.server, await other.headers()) == ("https://other.example", {"Authorization": "Bearer from-a"})


async def test_no_kubeconfig_says_how_to_point_aegis_at_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing found: the message lists where it looked and the four ways to fix it."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UsageError, match=r"no kubeconfig found .*--kubeconfig.*AEGIS_IN_CLUSTER=true.*--snapshot"):
        await credentials.load(kubeconfig=None, context=None, in_cluster=False)


async def test_exec_plugin_token_is_renewed_when_it_expires(tmp_path: Path) -> None:
    """An exec plugin's token is used until its expirationTimestamp, then the plugin runs again; its env and args reach it."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os, sys, datetime, pathlib\n"
        "count = pathlib.Path(sys.argv[1]); n = int(count.read_text()) + 1 if count.exists() else 1; count.write_text(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['spec']['interactive'] is False, info\n"
        "exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(os.environ['LIFETIME']))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "  'status': {'token': f'tok-{n}', 'expirationTimestamp': exp.strftime('%Y-%m-%dT%H:%M:%SZ')}}))\n"
    )
    counter = tmp_path / "count"
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(plugin), str(counter)],
        "env": [{"name": "LIFETIME", "value": "3600"}],
    }
    creds = await credentials.load(kubeconfig=str(_kubeconfig(tmp_path / "kc", user={"exec": exec_spec})), context=None, in_cluster=False)
    assert await creds.headers() == {"Authorization": "Bearer tok-1"}
    assert await creds.headers() == {"Authorization": "Bearer tok-1"}
    # A token that expires within the renewal margin is renewed on every use.
    exec_spec["env"] = [{"name": "LIFETIME", "value": "2"}]
    short = await credentials.load(kubeconfig=str(_kubeconfig(tmp_path / "kc2", user={"exec": exec_spec})), context=None, in_cluster=False)
    assert await short.headers() == {"Authorization": "Bearer tok-3"}
    assert await short.headers() == {"Authorization": "Bearer tok-4"}


async def test_a_failing_exec_plugin_is_one_line_with_its_message(tmp_path: Path) -> None:
    """The plugin's exit code and stderr, not a traceback."""
    exec_spec = {"command": sys.executable, "args": ["-c", "import sys; sys.exit('login expired: run sso login')"]}
    with pytest.raises(UsageError, match=r"failed \(exit 1\): login expired: run sso login"):
        await credentials.load(kubeconfig=str(_kubeconfig(tmp_path / "kc", user={"exec": exec_spec})), context=None, in_cluster=False)


async def test_legacy_auth_provider_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """auth-provider users (removed from kubectl) name the exec plugin as the way forward."""
    path = _kubeconfig(tmp_path / "kc", user={"auth-provider": {"name": "gcp", "config": {}}})
    with pytest.raises(UsageError, match="legacy auth-provider 'gcp'; configure its exec credential plugin"):
        await credentials.load(kubeconfig=str(path), context=None, in_cluster=False)


async def test_insecure_skip_tls_verify_and_tls_server_name(tmp_path: Path) -> None:
    """insecure-skip-tls-verify turns verification off (for aiohttp and the load probe alike); tls-server-name is kept."""
    cluster = {"server": "https://10.0.0.1:6443", "insecure-skip-tls-verify": True, "tls-server-name": "api.internal", "proxy-url": "http://proxy:3128"}
    creds = await credentials.load(kubeconfig=str(_kubeconfig(tmp_path / "kc", user={"token": "x"}, cluster=cluster)), context=None, in_cluster=False)
    context = creds.aiohttp_ssl
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert (creds.tls_server_name, creds.proxy) == ("api.internal", "http://proxy:3128")


async def test_in_cluster_reads_the_service_account_mount_and_rereads_the_token(tmp_path: Path, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KUBERNETES_SERVICE_HOST/PORT give the URL (IPv6 bracketed); the token file is re-read after a minute, as bound tokens rotate."""
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
    creds = credentials.from_service_account(tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"})
    assert (creds.server, creds.where) == ("https://[fd00::1]:443", "in-cluster")
    assert await creds.headers() == {"Authorization": "Bearer first"}
    (tmp_path / "token").write_text("rotated\n")
    assert await creds.headers() == {"Authorization": "Bearer first"}  # cached for a minute
    monkeypatch.setattr(credentials, "_TOKEN_FILE_REREAD_SECONDS", 0.0)
    creds._tokens.expires_at = 0.0
    assert await creds.headers() == {"Authorization": "Bearer rotated"}


def test_in_cluster_outside_a_pod_says_so(tmp_path: Path) -> None:
    """No service environment: the error says AEGIS_IN_CLUSTER works only inside a pod."""
    with pytest.raises(UsageError, match="works only inside a pod"):
        credentials.from_service_account(tmp_path, {})
    with pytest.raises(UsageError, match="no ServiceAccount token at"):
        credentials.from_service_account(tmp_path, {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
