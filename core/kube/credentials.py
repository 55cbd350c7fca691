"""Credentials for the API server: a kubeconfig read as kubectl reads it, or the pod's ServiceAccount.

LiveGateway needs three things to talk to a cluster: the server's URL, a TLS context (the cluster's
CA, a client certificate) and the headers that authenticate each request (a bearer token, from the
kubeconfig, a token file, or an exec plugin). This module produces them from the same sources
kubectl uses, with the standard library only: a generated Kubernetes client costs ~0.4 s of import
for a loader this small.

Supported: KUBECONFIG (several files, merged first-wins as kubectl does) or ~/.kube/config; a
context by name; `certificate-authority[-data]`, `insecure-skip-tls-verify`, `tls-server-name`,
`proxy-url`; users with `token`, `tokenFile`, `client-certificate[-data]` + `client-key[-data]`,
`username`/`password`, and `exec` plugins (client.authentication.k8s.io ExecCredential: token
and/or client certificate, re-run when the token expires). In-cluster: KUBERNETES_SERVICE_HOST/PORT
and the ServiceAccount mount (token re-read every minute, as client-go does, since bound tokens
rotate). Legacy `auth-provider` users are refused with a message naming the exec plugin to use.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aegis.core.errors import UsageError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TOKEN_FILE_REREAD_SECONDS = 60.0
_EXEC_TIMEOUT_SECONDS = 60.0
# An exec token is renewed this long before it expires, so a request never carries a stale one.
_EXPIRY_MARGIN_SECONDS = 10.0


class CredentialsError(UsageError):
    """The kubeconfig or the in-cluster config cannot be used; the message says which part and why."""

    def __init__(self, message: str) -> None:
        super().__init__(f"cannot load Kubernetes credentials: {message}")


@dataclass
class _TokenSource:
    """Where a request's bearer token comes from: a fixed value, a file re-read now and then, or an exec plugin."""

    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    exec_spec: Mapping[str, Any] | None = None
    base_dir: Path | None = None
    expires_at: float | None = None  # monotonic deadline of `token` (file: next re-read; exec: expiry)
    exec_cert: tuple[bytes, bytes] | None = field(default=None, repr=False)
    _lock: asyncio.Lock | None = field(default=None, repr=False)

    loaded: bool = False

    def _fresh(self) -> bool:
        return self.loaded and (self.expires_at is None or time.monotonic() < self.expires_at)

    async def current(self) -> str | None:
        if self.token_file is None and self.exec_spec is None:
            return self.token
        if self._fresh():
            return self.token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # concurrent requests share one refresh
            if self._fresh():
                return self.token
            if self.token_file is not None:
                self.token = _read_token_file(self.token_file)
                self.expires_at = time.monotonic() + _TOKEN_FILE_REREAD_SECONDS
                self.loaded = True
            else:
                assert self.exec_spec is not None
                await self.run_exec()
        return self.token

    async def run_exec(self) -> None:
        assert self.exec_spec is not None
        self.token, self.expires_at, self.exec_cert = await _run_exec_plugin(self.exec_spec, self.base_dir)
        self.loaded = True


@dataclass
class Credentials:
    """How to reach and authenticate to one API server."""

    server: str
    ssl_context: ssl.SSLContext | None  # None: plain http, or TLS verification switched off (see `verify`)
    verify: bool
    where: str
    tls_server_name: str | None = None
    proxy: str | None = None
    basic_auth: str | None = field(default=None, repr=False)
    _tokens: _TokenSource = field(default_factory=_TokenSource, repr=False)

    async def headers(self) -> dict[str, str]:
        """The authentication headers for the next request (refreshes an expired exec or file token)."""
        token = await self._tokens.current()
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.basic_auth:
            return {"Authorization": f"Basic {self.basic_auth}"}
        return {}

    @property
    def aiohttp_ssl(self) -> ssl.SSLContext | bool:
        """The `ssl=` argument aiohttp takes: our context, or False when verification is off."""
        if self.ssl_context is not None:
            return self.ssl_context
        return self.verify


async def load(*, kubeconfig: str | None, context: str | None, in_cluster: bool) -> Credentials:
    """Credentials as kubectl would find them (explicit file, KUBECONFIG, ~/.kube/config), or in-cluster."""
    if in_cluster:
        return from_service_account(SERVICE_ACCOUNT_DIR, os.environ)
    paths = kubeconfig_paths(kubeconfig)
    merged = _merge([(path, _read_yaml(path)) for path in paths])
    return await from_kubeconfig(merged, context)


def kubeconfig_paths(explicit: str | None) -> list[Path]:
    """The kubeconfig files kubectl would read, or a UsageError that says how to point AEGIS at one."""
    candidates = [explicit] if explicit else [*filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)), "~/.kube/config"]
    found = [Path(os.path.expanduser(c)) for c in candidates if os.path.isfile(os.path.expanduser(c))]
    if explicit is None and os.environ.get("KUBECONFIG") and found:
        return found  # every listed file that exists, merged
    if found:
        return found[:1]
    raise UsageError(
        f"no kubeconfig found (looked at {', '.join(candidates)}): pass --kubeconfig, set KUBECONFIG or AEGIS_KUBECONFIG, "
        "set AEGIS_IN_CLUSTER=true inside a pod, or use --snapshot DIR to analyze offline"
    )


@dataclass(frozen=True)
class _Merged:
    """Named clusters, users and contexts (each with the directory its relative paths resolve against)."""

    clusters: dict[str, tuple[dict[str, Any], Path]]
    users: dict[str, tuple[dict[str, Any], Path]]
    contexts: dict[str, dict[str, Any]]
    current_context: str | None
    files: list[Path]


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CredentialsError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(doc, dict):
        raise CredentialsError(f"{path} is not a kubeconfig (a YAML mapping with clusters, users and contexts)")
    return doc


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> _Merged:
    """kubectl's merge of several kubeconfig files: the first file to name an entry wins."""
    clusters: dict[str, tuple[dict[str, Any], Path]] = {}
    users: dict[str, tuple[dict[str, Any], Path]] = {}
    contexts: dict[str, dict[str, Any]] = {}
    current: str | None = None
    for path, doc in docs:
        base = path.resolve().parent
        for entry in doc.get("clusters") or []:
            if isinstance(entry, dict) and entry.get("name") is not None:
                clusters.setdefault(str(entry["name"]), (dict(entry.get("cluster") or {}), base))
        for entry in doc.get("users") or []:
            if isinstance(entry, dict) and entry.get("name") is not None:
                users.setdefault(str(entry["name"]), (dict(entry.get("user") or {}), base))
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") is not None:
                contexts.setdefault(str(entry["name"]), dict(entry.get("context") or {}))
        current = current or (str(doc["current-context"]) if doc.get("current-context") else None)
    return _Merged(clusters, users, contexts, current, [p for p, _ in docs])


async def from_kubeconfig(merged: _Merged, context: str | None) -> Credentials:
    files = ", ".join(str(p) for p in merged.files)
    name = context or merged.current_context
    if not name:
        raise CredentialsError(f"no current-context in {files}; pass --context")
    ctx = merged.contexts.get(name)
    if ctx is None:
        raise CredentialsError(f"context {name!r} is not in {files} (contexts: {', '.join(sorted(merged.contexts)) or 'none'})")
    cluster_name = str(ctx.get("cluster") or "")
    if cluster_name not in merged.clusters:
        raise CredentialsError(f"context {name!r} names cluster {cluster_name!r}, which is not in {files}")
    cluster, cluster_dir = merged.clusters[cluster_name]
    user, user_dir = merged.users.get(str(ctx.get("user") or ""), ({}, cluster_dir))
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise CredentialsError(f"cluster {cluster_name!r} has no https:// server URL (got {server!r})")

    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise CredentialsError(f"user of context {name!r} uses the legacy auth-provider {provider!r}; configure its exec credential plugin instead")
    tokens = _TokenSource(base_dir=user_dir)
    if user.get("token"):
        tokens.token = str(user["token"])
    elif user.get("tokenFile"):
        tokens.token_file = _resolve(str(user["tokenFile"]), user_dir)
    elif user.get("exec"):
        tokens.exec_spec = dict(user["exec"])
        await tokens.run_exec()  # now: its client certificate (if any) goes into the TLS context
    cert = _pem(user, "client-certificate", user_dir)
    key = _pem(user, "client-key", user_dir)
    if tokens.exec_cert is not None and cert is None:
        cert, key = tokens.exec_cert
    if (cert is None) != (key is None):
        raise CredentialsError(f"user of context {name!r} has a client certificate without its key (or a key without its certificate)")
    basic = None
    if user.get("username") and user.get("password"):
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()

    verify = not bool(cluster.get("insecure-skip-tls-verify"))
    context_ssl = None
    if server.startswith("https://"):
        ca = _pem(cluster, "certificate-authority", cluster_dir)
        context_ssl = _ssl_context(ca, cert, key, verify=verify)
    return Credentials(
        server=server,
        ssl_context=context_ssl,
        verify=verify,
        where=f"context {name}",
        tls_server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None,
        proxy=str(cluster["proxy-url"]) if cluster.get("proxy-url") else None,
        basic_auth=basic,
        _tokens=tokens,
    )


def from_service_account(sa_dir: Path, environ: Mapping[str, str]) -> Credentials:
    """In-cluster: the API server from the pod's environment, the token and CA from the ServiceAccount mount."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise CredentialsError("KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set: AEGIS_IN_CLUSTER=true works only inside a pod")
    token_file, ca_file = sa_dir / "token", sa_dir / "ca.crt"
    if not token_file.is_file():
        raise CredentialsError(f"no ServiceAccount token at {token_file} (is automountServiceAccountToken off?)")
    tokens = _TokenSource(token_file=token_file)
    ca = _read_bytes(ca_file) if ca_file.is_file() else None
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return Credentials(server=server, ssl_context=_ssl_context(ca, None, None, verify=True), verify=True, where="in-cluster", _tokens=tokens)


def _ssl_context(ca: bytes | None, cert: bytes | None, key: bytes | None, *, verify: bool) -> ssl.SSLContext:
    if verify:
        # With the cluster's own CA, only that CA is trusted (as kubectl does); without one, the system's.
        context = ssl.create_default_context(cadata=ca.decode("ascii", errors="replace")) if ca else ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        _load_cert_chain(context, cert, key)
    return context


def _load_cert_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads a client certificate only from files: write both to a private temp dir, load, delete at once."""
    with tempfile.TemporaryDirectory(prefix="aegis-kube-") as tmp:
        cert_path, key_path = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        try:
            context.load_cert_chain(str(cert_path), str(key_path))
        except ssl.SSLError as exc:
            raise CredentialsError(f"the client certificate or key cannot be loaded: {exc.reason or exc}") from exc


def _pem(section: Mapping[str, Any], name: str, base: Path) -> bytes | None:
    """`<name>-data` (base64 PEM) or `<name>` (a file, relative to the kubeconfig's directory)."""
    data = section.get(f"{name}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=False)
        except ValueError as exc:
            raise CredentialsError(f"{name}-data is not base64") from exc
    path = section.get(name)
    return _read_bytes(_resolve(str(path), base)) if path else None


def _resolve(path: str, base: Path) -> Path:
    expanded = Path(os.path.expanduser(path))
    return expanded if expanded.is_absolute() else base / expanded


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_token_file(path: Path) -> str:
    return _read_bytes(path).decode("utf-8", errors="replace").strip()


async def _run_exec_plugin(spec: Mapping[str, Any], base: Path | None) -> tuple[str | None, float | None, tuple[bytes, bytes] | None]:
    """Run a client-go credential plugin; (token, monotonic expiry, client cert+key)."""
    command = str(spec.get("command") or "")
    if not command:
        raise CredentialsError("the user's exec plugin has no command")
    if base is not None and ("/" in command or command.startswith(".")):
        command = str(_resolve(command, base))
    api_version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1")
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if isinstance(item, dict) and "name" in item:
            env[str(item["name"])] = str(item.get("value", ""))
    # AEGIS runs without a terminal: the plugin must not prompt.
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}})
    try:
        proc = await asyncio.create_subprocess_exec(
            command, *[str(a) for a in spec.get("args") or []],
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
    except OSError as exc:
        hint = f" ({spec['installHint']})" if spec.get("installHint") else ""
        raise CredentialsError(f"cannot run the exec plugin {command!r}: {exc.strerror or exc}{hint}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=_EXEC_TIMEOUT_SECONDS)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise CredentialsError(f"the exec plugin {command!r} did not answer within {_EXEC_TIMEOUT_SECONDS:g}s") from exc
    if proc.returncode != 0:
        raise CredentialsError(f"the exec plugin {command!r} failed (exit {proc.returncode}): {err.decode(errors='replace').strip()[:200]}")
    try:
        status = json.loads(out).get("status") or {}
    except (ValueError, AttributeError) as exc:
        raise CredentialsError(f"the exec plugin {command!r} did not print an ExecCredential as JSON") from exc
    token = str(status["token"]) if status.get("token") else None
    cert = (str(status["clientCertificateData"]).encode(), str(status["clientKeyData"]).encode()) if status.get("clientCertificateData") else None
    if token is None and cert is None:
        raise CredentialsError(f"the exec plugin {command!r} returned neither a token nor a client certificate")
    expires = None
    if status.get("expirationTimestamp"):
        try:
            at = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise CredentialsError(f"the exec plugin {command!r} returned a malformed expirationTimestamp") from exc
        expires = time.monotonic() + (at.timestamp() - time.time()) - _EXPIRY_MARGIN_SECONDS
    return token, expires, cert
