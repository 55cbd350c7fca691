"""A real Kubernetes control plane on loopback for AEGIS's integration tier.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler, built from the Go
module proxy by tests/cluster/build.sh, and KWOK playing the nodes and pod states
(stages under tests/cluster/stages/). Everything lives in one directory: certs,
kubeconfigs, data, and one log per component.

    python tests/cluster/controlplane.py start --dir D [--detach]
    python tests/cluster/controlplane.py stop --dir D
    python tests/cluster/controlplane.py env --dir D

Only the standard library, PyYAML and httpx: no AEGIS imports, so the harness can
never hide a bug in the code it tests.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

try:
    from tests.cluster import simnet
except ImportError:  # run as a script: python tests/cluster/controlplane.py
    import simnet  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STAGES_DIR = HERE / "stages"
RBAC_DIR = REPO / "deploy" / "rbac"

ADMIN_TOKEN_USER = "aegis-test-admin"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
AEGIS_NAMESPACE = "aegis-system"
AEGIS_SA = "aegis"

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

STORAGE_CLASS = "standard"
PROVISIONER = "sim.aegis.dev/hostpath"

ANN_MISSING_REFS = "sim.aegis.dev/missing-refs"
ANN_MISSING_VOLUMES = "sim.aegis.dev/missing-volumes"
ANN_WRITES = "sim.aegis.dev/writes"
ANN_DISK_FULL = "sim.aegis.dev/disk-full"
ANN_NODE_FAILS = "sim.aegis.dev/node-fails"
ANN_NODE_DOWN = "sim.aegis.dev/node-down"
ANN_DEPENDENCY_FAILURES = "sim.aegis.dev/dependency-failures"

JSONObj = dict[str, Any]


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or reached."""


class BinariesMissing(ControlPlaneError):
    """The binaries are not in the cache: run tests/cluster/build.sh."""


def bin_dir() -> Path:
    """The cache directory build.sh fills (AEGIS_CLUSTER_BIN overrides it)."""
    override = os.environ.get("AEGIS_CLUSTER_BIN")
    if override:
        return Path(override)
    out = subprocess.run(["bash", str(HERE / "build.sh"), "--print-bin"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def missing_binaries(bins: Path) -> list[str]:
    return [b for b in BINARIES if not os.access(bins / b, os.X_OK)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed: {res.stderr.strip()}")


def make_pki(d: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1 and the in-cluster names, an SA key pair."""
    if shutil.which("openssl") is None:
        raise ControlPlaneError("openssl is not installed (Debian package: openssl)")
    d.mkdir(parents=True, exist_ok=True)
    _openssl("genrsa", "-out", "ca.key", "2048", cwd=d)
    _openssl(
        "req", "-x509", "-new", "-nodes", "-key", "ca.key", "-sha256", "-days", "30",
        "-subj", "/CN=aegis-test-ca", "-out", "ca.crt", cwd=d,
    )  # fmt: skip
    (d / "serving.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    _openssl("genrsa", "-out", "serving.key", "2048", cwd=d)
    _openssl("req", "-new", "-key", "serving.key", "-subj", "/CN=kube-apiserver", "-out", "serving.csr", cwd=d)
    _openssl(
        "x509", "-req", "-in", "serving.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-sha256", "-extfile", "serving.ext", "-out", "serving.crt", cwd=d,
    )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


def kubeconfig(server: str, ca_pem: bytes, user: str, token: str, context: str) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "aegis-test",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "aegis-test", "user": user}}],
        "current-context": context,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL me when the process that started me dies (Linux
    PR_SET_PDEATHSIG), so a test run killed by `timeout` or SIGKILL leaves no control plane behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@dataclass
class Component:
    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        fh = self.log.open("ab")
        try:
            # a session of its own: teardown signals the whole process group
            self.proc = subprocess.Popen(
                self.args, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509 (only a prctl call; started before the watcher thread)
            )  # fmt: skip
        finally:
            fh.close()

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-25:]
            raise ControlPlaneError(f"{self.name} exited with code {self.proc.returncode}; last lines of {self.log}:\n" + "\n".join(tail))


def kill_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group of pid, then SIGKILL whatever is left."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap our own child, or the group never empties
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class Api:
    """A tiny synchronous client for the Kubernetes API (admin or any token)."""

    def __init__(self, url: str, token: str, ca_file: Path) -> None:
        self.url = url
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(ca_file)),
            timeout=httpx.Timeout(15.0, connect=5.0),
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> JSONObj:
        r = self.client.get(path, **kw)
        r.raise_for_status()
        return dict(r.json())

    def get_or_none(self, path: str) -> JSONObj | None:
        r = self.client.get(path)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return dict(r.json())

    def create(self, path: str, body: Mapping[str, Any], exist_ok: bool = False) -> JSONObj:
        r = self.client.post(path, json=body)
        if exist_ok and r.status_code == 409:
            return dict(body)
        if r.status_code >= 400:
            raise ControlPlaneError(f"POST {path} -> {r.status_code}: {r.text}")
        return dict(r.json())

    def patch(self, path: str, body: Any, kind: str = "strategic", **kw: Any) -> JSONObj:
        ctype = {
            "strategic": "application/strategic-merge-patch+json",
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "apply": "application/apply-patch+yaml",
        }[kind]
        r = self.client.patch(path, content=json.dumps(body), headers={"Content-Type": ctype}, **kw)
        if r.status_code >= 400:
            raise ControlPlaneError(f"PATCH {path} -> {r.status_code}: {r.text}")
        return dict(r.json())

    def delete(self, path: str) -> int:
        return self.client.delete(path).status_code


# ----------------------------------------------------------------- REST mapping
_PLURALS = {
    "Namespace": ("api/v1", "namespaces", False),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Secret": ("api/v1", "secrets", True),
    "Service": ("api/v1", "services", True),
    "Pod": ("api/v1", "pods", True),
    "Node": ("api/v1", "nodes", False),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "ResourceQuota": ("api/v1", "resourcequotas", True),
    "LimitRange": ("api/v1", "limitranges", True),
    "Endpoints": ("api/v1", "endpoints", True),
    "PersistentVolume": ("api/v1", "persistentvolumes", False),
    "StorageClass": ("apis/storage.k8s.io/v1", "storageclasses", False),
    "CronJob": ("apis/batch/v1", "cronjobs", True),
    "PodDisruptionBudget": ("apis/policy/v1", "poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("apis/autoscaling/v2", "horizontalpodautoscalers", True),
    "Ingress": ("apis/networking.k8s.io/v1", "ingresses", True),
    "PriorityClass": ("apis/scheduling.k8s.io/v1", "priorityclasses", False),
    "EndpointSlice": ("apis/discovery.k8s.io/v1", "endpointslices", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "StatefulSet": ("apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("apis/apps/v1", "daemonsets", True),
    "ReplicaSet": ("apis/apps/v1", "replicasets", True),
    "Job": ("apis/batch/v1", "jobs", True),
    "NetworkPolicy": ("apis/networking.k8s.io/v1", "networkpolicies", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Lease": ("apis/coordination.k8s.io/v1", "leases", True),
    "ValidatingAdmissionPolicy": ("apis/admissionregistration.k8s.io/v1", "validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("apis/admissionregistration.k8s.io/v1", "validatingadmissionpolicybindings", False),
}


def resource_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a kind this harness knows (collection, or one object with name)."""
    try:
        prefix, plural, namespaced = _PLURALS[kind]
    except KeyError as exc:
        raise ControlPlaneError(f"controlplane.py does not know the kind {kind!r}") from exc
    path = f"/{prefix}"
    if namespaced:
        path += f"/namespaces/{namespace or 'default'}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    return path


# ------------------------------------------------------ missing reference watcher
Objects = Mapping[tuple[str, str], JSONObj]


def _missing_refs(pod: JSONObj, cms: Objects, secrets: Objects) -> tuple[dict[str, str], dict[str, str]]:
    """(container -> kubelet message, volume -> kubelet message) for what this pod references but is missing."""
    ns = pod["metadata"]["namespace"]
    spec = pod.get("spec", {})
    env_missing: dict[str, str] = {}

    def cm_key(name: str, key: str, optional: bool) -> str | None:
        obj = cms.get((ns, name))
        if obj is None:
            return None if optional else f'configmap "{name}" not found'
        if key not in (obj.get("data") or {}) and key not in (obj.get("binaryData") or {}):
            return None if optional else f"couldn't find key {key} in ConfigMap {ns}/{name}"
        return None

    def secret_key(name: str, key: str, optional: bool) -> str | None:
        obj = secrets.get((ns, name))
        if obj is None:
            return None if optional else f'secret "{name}" not found'
        if key not in (obj.get("data") or {}) and key not in (obj.get("stringData") or {}):
            return None if optional else f"couldn't find key {key} in Secret {ns}/{name}"
        return None

    for c in [*(spec.get("initContainers") or []), *spec.get("containers", [])]:
        msg: str | None = None
        for ef in c.get("envFrom") or []:
            if msg:
                break
            if "configMapRef" in ef:
                r = ef["configMapRef"]
                if (ns, r.get("name", "")) not in cms and not r.get("optional"):
                    msg = f'configmap "{r.get("name", "")}" not found'
            elif "secretRef" in ef:
                r = ef["secretRef"]
                if (ns, r.get("name", "")) not in secrets and not r.get("optional"):
                    msg = f'secret "{r.get("name", "")}" not found'
        for e in c.get("env") or []:
            if msg:
                break
            vf = e.get("valueFrom") or {}
            if "configMapKeyRef" in vf:
                r = vf["configMapKeyRef"]
                msg = cm_key(r.get("name", ""), r.get("key", ""), bool(r.get("optional")))
            elif "secretKeyRef" in vf:
                r = vf["secretKeyRef"]
                msg = secret_key(r.get("name", ""), r.get("key", ""), bool(r.get("optional")))
        if msg:
            env_missing[c["name"]] = msg

    vol_missing: dict[str, str] = {}
    for v in spec.get("volumes") or []:
        msg = None
        if "configMap" in v:
            r = v["configMap"]
            obj = cms.get((ns, r.get("name", "")))
            if obj is None:
                if not r.get("optional"):
                    msg = f'configmap "{r.get("name", "")}" not found'
            else:
                keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {})
                for it in r.get("items") or []:
                    if it.get("key") not in keys and not r.get("optional"):
                        msg = f"configmap references non-existent config key: {it.get('key')}"
                        break
        elif "secret" in v:
            r = v["secret"]
            obj = secrets.get((ns, r.get("secretName", "")))
            if obj is None:
                if not r.get("optional"):
                    msg = f'secret "{r.get("secretName", "")}" not found'
            else:
                keys = set(obj.get("data") or {})
                for it in r.get("items") or []:
                    if it.get("key") not in keys and not r.get("optional"):
                        msg = f"references non-existent secret key: {it.get('key')}"
                        break
        if msg:
            vol_missing[v["name"]] = f'MountVolume.SetUp failed for volume "{v["name"]}" : {msg}'
    return env_missing, vol_missing


_UNITS = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _bytes(quantity: str) -> float:
    match = re.match(r"^([0-9.]+)([a-zA-Z]*)$", str(quantity).strip())
    return float(match.group(1)) * _UNITS.get(match.group(2), 1) if match else 0.0


def _disk_full(pod: JSONObj, writes: dict[str, Any], claims: Objects) -> dict[str, str]:
    """{container: ENOSPC log line} for each container that keeps more under its path than the claim there holds."""
    spec, ns = pod.get("spec", {}), pod["metadata"]["namespace"]
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    full: dict[str, str] = {}
    for c in spec.get("containers", []):
        need = writes.get(c["name"]) if isinstance(writes, dict) else None
        if not isinstance(need, dict) or not need.get("path") or not need.get("size"):
            continue
        path = str(need["path"])
        mounts = [m for m in c.get("volumeMounts") or [] if path == m.get("mountPath") or path.startswith(str(m.get("mountPath", "")).rstrip("/") + "/")]
        if not mounts:
            continue
        mount = max(mounts, key=lambda m: len(str(m.get("mountPath", ""))))
        claim_name = (volumes.get(mount.get("name")) or {}).get("persistentVolumeClaim", {}).get("claimName")
        claim = claims.get((ns, claim_name)) if claim_name else None
        capacity = ((claim or {}).get("status", {}).get("capacity") or {}).get("storage")
        if capacity and _bytes(str(need["size"])) >= _bytes(capacity):
            segment = f"{path.rstrip('/')}/wal/00000000000000{len(path):02X}.seg"
            full[c["name"]] = f"FATAL failed to append segment: write {segment}: no space left on device"
    return full


def _cri(ts: str, lines: list[tuple[str, str]]) -> str:
    """CRI log format, as containerd writes it: `<RFC3339Nano> <stream> F <line>`."""
    base = ts.replace("Z", "") if ts else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    return "".join(f"{base}.{i:09d}Z {stream} F {text}\n" for i, (stream, text) in enumerate(lines))


def _ann_json(pod: JSONObj, key: str) -> Any:
    raw = (pod["metadata"].get("annotations") or {}).get(f"sim.aegis.dev/{key}")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def app_logs(pod: JSONObj, c: JSONObj, status: JSONObj) -> tuple[str, str | None]:
    """(current, previous) log text of the simulated app in container c (previous None: no earlier run)."""
    name, image = c["name"], c.get("image", "")
    version = image.rsplit(":", 1)[-1] if ":" in image else "latest"
    serves = _ann_json(pod, "serves").get(name) or {}
    port = serves.get("port", 8080)
    boot = [("stdout", f"INFO starting {name} version={version}")]
    listening = [*boot, ("stdout", f"INFO listening on :{port}")]
    state, last = status.get("state", {}), status.get("lastState", {})
    # A container that is not restarted (a Job's pod, restartPolicy Never) ends in state.terminated.
    ended = state.get("terminated") if not last.get("terminated") else None
    term = last.get("terminated") or ended or {}
    started = (state.get("running") or {}).get("startedAt") or term.get("startedAt") or pod.get("status", {}).get("startTime", "")

    crashed: list[tuple[str, str]] | None = None
    if term:
        reason, code = term.get("reason"), term.get("exitCode")
        if reason == "OOMKilled":
            crashed = [*boot, ("stdout", "INFO loading working set into memory"), ("stdout", "INFO loaded 131072 entries")]
        elif reason == "StartError":
            crashed = []
        elif code == 143:
            crashed = [*listening, ("stdout", "INFO received SIGTERM, shutting down")]
        elif code == 1 and _ann_json(pod, "disk-full").get(name):
            crashed = [*boot, ("stdout", "INFO replaying write-ahead log"), ("stderr", str(_ann_json(pod, "disk-full")[name]))]
        elif code == 1 and _ann_json(pod, "dependency-failures").get(name):
            crashed = [*boot, ("stderr", str(_ann_json(pod, "dependency-failures")[name]))]
        elif code == 1:
            need = _ann_json(pod, "requires-env").get(name) or []
            have = {e.get("name") for e in c.get("env") or []}
            missing = [v for v in need if v not in have]
            if missing:
                crashed = [*boot, ("stderr", f"FATAL: required environment variable {missing[0]} is not set")]
            else:
                crashed = [
                    *listening,
                    ("stderr", "Traceback (most recent call last):"),
                    ("stderr", '  File "/app/server.py", line 214, in handle_request'),
                    ("stderr", "    amount = order['pricing']['total']"),
                    ("stderr", "KeyError: 'pricing'"),
                ]
        else:
            crashed = boot
    previous = _cri(term.get("startedAt", started), crashed) if crashed is not None else None
    if ended:
        return previous or "", None  # its only run: what it printed is its current log
    if state.get("running"):
        lines = list(listening)
        probe = (c.get("readinessProbe") or {}).get("httpGet") or {}
        if serves and probe and probe.get("path", "/") != serves.get("readyPath", "/"):
            lines.append(("stdout", f'INFO 10.244.0.1 - "GET {probe.get("path", "/")} HTTP/1.1" 404 (kube-probe/1.36)'))
        return _cri(started, lines), previous
    if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff" and previous is not None:
        return previous, previous  # kubelet serves the last (dead) container's log
    return "", previous


class RefWatcher(threading.Thread):
    """Stamps pods whose env/envFrom/volumes reference a missing ConfigMap/Secret (or key)
    with sim.aegis.dev/missing-refs / missing-volumes, and clears the stamp once the
    reference resolves; posts the kubelet-style Failed / FailedMount events."""

    def __init__(self, api: Api, interval: float = 0.25, logs_dir: Path | None = None) -> None:
        super().__init__(name="aegis-ref-watcher", daemon=True)
        self.api = api
        self.interval = interval
        self.logs_dir = logs_dir
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self._events: dict[str, tuple[int, float]] = {}
        self._logs_objects: set[str] = set()
        self._files: dict[Path, str] = {}
        self._down_since: dict[str, float] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception as exc:  # keep watching; keep the last errors for debugging
                self.errors = [*self.errors[-20:], repr(exc)]
            self.stop_event.wait(self.interval)

    def tick(self) -> None:
        self._guard(self.provision)
        self._guard(self.resize)
        down = self.fail_nodes()
        pods = self.api.get("/api/v1/pods")["items"]
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in down:
                self._guard(lambda pod=pod: self.stamp_node_down(pod))
        if any(ANN_WRITES in (p["metadata"].get("annotations") or {}) for p in pods):
            claims = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in self.api.get("/api/v1/persistentvolumeclaims")["items"]}  # fmt: skip
            for pod in pods:
                self._guard(lambda pod=pod: self.stamp_disk(pod, claims))
        if any(self._references(p) for p in pods):
            cms = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in self.api.get("/api/v1/configmaps")["items"]}  # fmt: skip
            secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in self.api.get("/api/v1/secrets")["items"]}  # fmt: skip
            for pod in pods:
                self._guard(lambda pod=pod: self.stamp(pod, cms, secrets))
        if any(simnet.wants(p) for p in pods):
            self._guard(lambda: self.stamp_dependencies(pods))
        if self.logs_dir is not None:
            root = self.logs_dir
            for pod in pods:
                self._guard(lambda pod=pod: self.write_logs(pod, root))

    def _guard(self, fn: Any) -> None:
        """One object's failure (e.g. its namespace is terminating) must not starve the others."""
        try:
            fn()
        except (httpx.HTTPError, ControlPlaneError, OSError, KeyError) as exc:
            self.errors = [*self.errors[-20:], repr(exc)]

    def stamp(self, pod: JSONObj, cms: Objects, secrets: Objects) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ann = meta.get("annotations") or {}
        env_missing, vol_missing = _missing_refs(pod, cms, secrets) if self._references(pod) else ({}, {})
        want = {
            ANN_MISSING_REFS: json.dumps(env_missing, sort_keys=True) if env_missing else None,
            ANN_MISSING_VOLUMES: json.dumps(vol_missing, sort_keys=True) if vol_missing else None,
        }
        if any(ann.get(k) != v for k, v in want.items()):
            self.api.patch(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"metadata": {"annotations": want}},
                kind="merge",
            )
        if meta.get("uid") and pod.get("spec", {}).get("nodeName"):
            if vol_missing:
                vol, msg = sorted(vol_missing.items())[0]
                self._event(pod, "FailedMount", msg, f"volume-{vol}", "")
            elif env_missing:
                c, msg = sorted(env_missing.items())[0]
                inits = {i["name"] for i in pod["spec"].get("initContainers") or []}
                where = "spec.initContainers" if c in inits else "spec.containers"
                self._event(pod, "Failed", f"Error: {msg}", f"config-{c}", f"{where}{{{c}}}")

    def stamp_disk(self, pod: JSONObj, claims: Objects) -> None:
        """sim.aegis.dev/writes ({container: {path, size}}): the app keeps `size` bytes under `path`; when
        the claim mounted there has less capacity, stamp sim.aegis.dev/disk-full with the app's ENOSPC line."""
        meta = pod["metadata"]
        ann = meta.get("annotations") or {}
        if meta.get("deletionTimestamp") or ANN_WRITES not in ann:
            return
        full = _disk_full(pod, _ann_json(pod, "writes"), claims)
        want = json.dumps(full, sort_keys=True) if full else None
        if ann.get(ANN_DISK_FULL) != want:
            self.api.patch(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", {"metadata": {"annotations": {ANN_DISK_FULL: want}}}, kind="merge")

    def fail_nodes(self) -> set[str]:
        """sim.aegis.dev/node-fails on a Node ({"after": s, "types": [...], "status", "reason", "message"}): once the
        node is that old, its conditions of those types turn to that status, as the node controller writes them when
        a kubelet stops posting (or a kubelet posts when it is unhealthy), and it is stamped sim.aegis.dev/node-down so
        KWOK's node-initialize leaves it down. The names of the nodes down long enough for the node controller to
        have seen it (one monitor period, 5 s): their pods may now be stamped, and that pod update makes the node
        controller mark them not Ready."""
        settled: set[str] = set()
        for node in self.api.get("/api/v1/nodes")["items"]:
            meta = node["metadata"]
            raw = (meta.get("annotations") or {}).get(ANN_NODE_FAILS)
            if not raw or meta.get("deletionTimestamp"):
                continue
            try:
                plan = json.loads(raw)
                created = calendar.timegm(time.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
            except (ValueError, KeyError):
                continue
            if time.time() - created < float(plan.get("after", 0)):
                continue
            name = meta["name"]
            since = self._down_since.setdefault(name, time.monotonic())
            if time.monotonic() - since >= 6.0:
                settled.add(name)
            if (meta.get("annotations") or {}).get(ANN_NODE_DOWN) is None:
                self.api.patch(f"/api/v1/nodes/{name}", {"metadata": {"annotations": {ANN_NODE_DOWN: "true"}}}, kind="merge")
            current = {c.get("type"): c for c in node.get("status", {}).get("conditions") or []}
            types = plan.get("types") or ["Ready"]
            if all(current.get(t, {}).get("status") == plan.get("status") for t in types):
                continue
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            conditions = [
                {
                    "type": t, "status": plan.get("status", "Unknown"), "reason": plan.get("reason", "NodeStatusUnknown"),
                    "message": plan.get("message", "Kubelet stopped posting node status."),
                    "lastHeartbeatTime": current.get(t, {}).get("lastHeartbeatTime", now), "lastTransitionTime": now,
                }
                for t in types
            ]  # fmt: skip
            self.api.patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": conditions}}, kind="strategic")
        return settled

    def stamp_node_down(self, pod: JSONObj) -> None:
        """A pod on a node that is down: stamped so KWOK's pod-ready leaves it alone, and marked not Ready with the
        node controller's NodeNotReady event, as its MarkPodsNotReady does for the pods of a node gone Unknown."""
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") or (meta.get("annotations") or {}).get(ANN_NODE_DOWN):
            return
        node = str(pod["spec"]["nodeName"])
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        self.api.patch(path, {"metadata": {"annotations": {ANN_NODE_DOWN: node}}}, kind="merge")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.api.patch(f"{path}/status", {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}}, kind="strategic")
        self._event(pod, "NodeNotReady", "Node is not ready", "node-not-ready", "", component="node-controller")

    def resize(self) -> None:
        """Play the external resizer: a bound claim of the standard class asking for more than its
        capacity gets it (PV spec.capacity, then the claim's status.capacity), as a CSI driver with online expansion."""
        for pvc in self.api.get("/api/v1/persistentvolumeclaims")["items"]:
            spec, status = pvc.get("spec", {}), pvc.get("status", {})
            want = spec.get("resources", {}).get("requests", {}).get("storage")
            have = (status.get("capacity") or {}).get("storage")
            if status.get("phase") != "Bound" or spec.get("storageClassName") != STORAGE_CLASS or not want or not have:
                continue
            if _bytes(want) <= _bytes(have):
                continue
            self.api.patch(f"/api/v1/persistentvolumes/{spec['volumeName']}", {"spec": {"capacity": {"storage": want}}}, kind="merge")
            meta = pvc["metadata"]
            self.api.patch(
                f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}/status",
                {"status": {"capacity": {"storage": want}}},
                kind="merge",
            )
    def stamp_dependencies(self, pods: list[JSONObj]) -> None:
        """Stamp each pod whose declared calls fail (simnet) with the line its app prints; clear it once they succeed."""

        def keyed(path: str) -> dict[tuple[str, str], JSONObj]:
            return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in self.api.get(path)["items"]}

        world = {
            "services": keyed("/api/v1/services"),
            "endpoints": keyed("/api/v1/endpoints"),
            "configmaps": keyed("/api/v1/configmaps"),
            "policies": self.api.get("/apis/networking.k8s.io/v1/networkpolicies")["items"],
            "pods": [p for p in pods if p.get("status", {}).get("phase") == "Running" or p.get("spec", {}).get("nodeName")],
        }
        decided: dict[tuple[str, ...], bool] = {}

        def can(ns: str, account: str, verb: str, resource: str, group: str) -> bool:
            key = (ns, account, verb, resource, group)
            if key not in decided:
                review = self.api.create(
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SubjectAccessReview",
                        "spec": {
                            "user": f"system:serviceaccount:{ns}:{account}",
                            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                            "resourceAttributes": {"namespace": ns, "verb": verb, "resource": resource, "group": group},
                        },
                    },
                )
                decided[key] = bool(review.get("status", {}).get("allowed"))
            return decided[key]

        for pod in pods:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or not simnet.wants(pod) or not pod.get("spec", {}).get("nodeName"):
                continue
            found = simnet.failures(pod, world, can)
            want = json.dumps(found, sort_keys=True) if found else None
            if (meta.get("annotations") or {}).get(ANN_DEPENDENCY_FAILURES) != want:
                self.api.patch(
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                    {"metadata": {"annotations": {ANN_DEPENDENCY_FAILURES: want}}},
                    kind="merge",
                )

    def write_logs(self, pod: JSONObj, root: Path) -> None:
        """What the simulated app printed, per container, for KWOK to serve to `kubectl logs [--previous]`."""
        meta, spec, st = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
        if not spec.get("nodeName") or meta.get("deletionTimestamp"):
            return
        if not st.get("containerStatuses") and not st.get("initContainerStatuses"):
            return
        ns, name = meta["namespace"], meta["name"]
        entries = []
        for kind, key in (("initContainers", "initContainerStatuses"), ("containers", "containerStatuses")):
            statuses = {s["name"]: s for s in st.get(key) or []}
            for c in spec.get(kind) or []:
                current, previous = app_logs(pod, c, statuses.get(c["name"], {}))
                base = root / ns / name
                cur_file, prev_file = base / f"{c['name']}.log", base / f"{c['name']}.previous.log"
                self._write(cur_file, current)
                if previous is not None:
                    self._write(prev_file, previous)
                entries.append({"containers": [c["name"]], "logsFile": str(cur_file), "previousLogsFile": str(prev_file)})
        key = f"{ns}/{name}/{meta['uid']}"
        if key in self._logs_objects:
            return
        self.api.create(
            f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{ns}/logs",
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Logs",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": meta["uid"]}],
                },
                "spec": {"logs": entries},
            },
            exist_ok=True,
        )
        self._logs_objects.add(key)

    def _write(self, path: Path, text: str) -> None:
        if self._files.get(path) == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        self._files[path] = text

    def provision(self) -> None:
        """Play the volume provisioner of the `standard` StorageClass: a PV pre-bound to each
        pending claim of that class (the PV controller then binds them), deleted once released."""
        pvcs = self.api.get("/api/v1/persistentvolumeclaims")["items"]
        for pvc in pvcs:
            meta, spec = pvc["metadata"], pvc.get("spec", {})
            if pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName") or meta.get("deletionTimestamp"):
                continue
            if spec.get("storageClassName") != STORAGE_CLASS:
                continue
            name = f"pvc-{meta['uid']}"
            pv = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {
                    "capacity": {"storage": spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")},
                    "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                    "volumeMode": spec.get("volumeMode", "Filesystem"),
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": f"/var/lib/aegis-sim/{name}", "type": "DirectoryOrCreate"},
                    "claimRef": {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "namespace": meta["namespace"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                    },
                },
            }
            self.api.create("/api/v1/persistentvolumes", pv, exist_ok=True)
        for pv in self.api.get("/api/v1/persistentvolumes")["items"]:
            if (
                pv["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
                and pv.get("status", {}).get("phase") in ("Released", "Failed")
                and not pv["metadata"].get("deletionTimestamp")
            ):
                self.api.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")

    @staticmethod
    def _references(pod: JSONObj) -> bool:
        spec = pod.get("spec", {})
        for c in [*(spec.get("initContainers") or []), *spec.get("containers", [])]:
            if c.get("envFrom"):
                return True
            for e in c.get("env") or []:
                if e.get("valueFrom", {}).get("configMapKeyRef") or e.get("valueFrom", {}).get("secretKeyRef"):
                    return True
        return any("configMap" in v or "secret" in v for v in spec.get("volumes") or [])

    def _event(self, pod: JSONObj, reason: str, message: str, suffix: str, field_path: str, component: str = "kubelet") -> None:
        meta = pod["metadata"]
        name = f"{meta['name']}.aegis-sim-{suffix}"
        key = f"{meta['namespace']}/{name}"
        count, last = self._events.get(key, (0, 0.0))
        if time.monotonic() - last < 10.0:
            return
        count += 1
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                **({"fieldPath": field_path} if field_path else {}),
            },
            "type": "Warning",
            "reason": reason,
            "message": message,
            "source": {"component": component, **({"host": pod["spec"]["nodeName"]} if component == "kubelet" else {})},
            "reportingComponent": component,
            "reportingInstance": pod["spec"]["nodeName"] if component == "kubelet" else "",
            "firstTimestamp": meta.get("creationTimestamp", now),
            "lastTimestamp": now,
            "count": count,
        }
        self.api.patch(
            f"/api/v1/namespaces/{meta['namespace']}/events/{name}",
            ev,
            kind="apply",
            params={"fieldManager": "aegis-sim-kubelet", "force": "true"},
        )
        self._events[key] = (count, time.monotonic())


# --------------------------------------------------------------- control plane
@dataclass
class ControlPlane:
    """Start with start(), stop with stop() (idempotent; also use as a context manager)."""

    workdir: Path
    nodes: int = 2
    node_cpu: str = "4"
    node_memory: str = "8Gi"
    bins: Path | None = None
    verbose: bool = False
    components: list[Component] = field(default_factory=list)
    api_url: str = ""
    admin_token: str = ""
    time_to_ready: float = 0.0
    watcher: RefWatcher | None = None
    _api: Api | None = None

    # paths
    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def aegis_kubeconfig(self) -> Path:
        return self.workdir / "aegis.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def kubectl_path(self) -> Path | None:
        assert self.bins is not None
        p = self.bins / "kubectl"
        return p if os.access(p, os.X_OK) else None

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.api_url, self.admin_token, self.ca_file)
        return self._api

    def log(self, msg: str) -> None:
        print(f"[controlplane {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0) -> None:
        t0 = time.monotonic()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        self.time_to_ready = time.monotonic() - t0
        self.log(f"ready in {self.time_to_ready:.1f}s: {self.api_url} (kubeconfig {self.admin_kubeconfig})")

    def _start(self, timeout: float) -> None:
        if self.bins is None:
            self.bins = bin_dir()
        missing = missing_binaries(self.bins)
        if missing:
            raise BinariesMissing(
                f"control-plane binaries missing in {self.bins}: {', '.join(missing)}; build them with: tests/cluster/build.sh (15-30 min the first time)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        make_pki(self.pki)
        self.admin_token = base64.b32encode(os.urandom(20)).decode().lower()
        (self.pki / "tokens.csv").write_text(f'{self.admin_token},{ADMIN_TOKEN_USER},uid-admin,"system:masters"\n')
        etcd_port, etcd_peer, api_port = free_port(), free_port(), free_port()
        kcm_port, sched_port, kwok_port = free_port(), free_port(), free_port()
        self.api_url = f"https://127.0.0.1:{api_port}"
        ca_pem = self.ca_file.read_bytes()
        self.admin_kubeconfig.write_text(kubeconfig(self.api_url, ca_pem, ADMIN_TOKEN_USER, self.admin_token, "admin"))
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        b = self.bins
        pki = self.pki
        kc = str(self.admin_kubeconfig)

        etcd = Component(
            "etcd",
            [
                str(b / "etcd"), "--name=aegis", f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=aegis=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync", "--quota-backend-bytes=4294967296", "--log-level=warn",
            ],
            logs / "etcd.log",
        )  # fmt: skip
        self._launch(etcd)
        self._wait("etcd health", deadline, lambda: httpx.get(f"http://127.0.0.1:{etcd_port}/health", timeout=2).status_code == 200)

        apiserver = Component(
            "kube-apiserver",
            [
                str(b / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
                f"--tls-cert-file={pki / 'serving.crt'}", f"--tls-private-key-file={pki / 'serving.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={pki / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--endpoint-reconciler-type=none",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                f"--kubelet-certificate-authority={pki / 'ca.crt'}",
                f"--kubelet-client-certificate={pki / 'serving.crt'}",
                f"--kubelet-client-key={pki / 'serving.key'}",
                "--allow-privileged=true",
                "--event-ttl=1h",
                "--profiling=false",
            ],
            logs / "kube-apiserver.log",
        )  # fmt: skip
        self._launch(apiserver)
        self._wait("kube-apiserver /readyz", deadline, self._readyz)

        common = [
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", "--leader-elect=false",
        ]  # fmt: skip
        self._launch(
            Component(
                "kube-controller-manager",
                [
                    str(b / "kube-controller-manager"), *common, f"--secure-port={kcm_port}",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    f"--cluster-cidr={POD_CIDR}",
                    "--use-service-account-credentials=false",
                    # short, so the tests see rollouts and evictions quickly
                    "--concurrent-deployment-syncs=10",
                ],
                logs / "kube-controller-manager.log",
            )
        )  # fmt: skip
        self._launch(
            Component(
                "kube-scheduler",
                [str(b / "kube-scheduler"), *common, f"--secure-port={sched_port}"],
                logs / "kube-scheduler.log",
            )
        )
        for crd_file in sorted((HERE / "crds").glob("*.yaml")):
            for crd in yaml.safe_load_all(crd_file.read_text()):
                if crd:
                    self.api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, exist_ok=True)
                    self._wait(f"CRD {crd['metadata']['name']} established", deadline, lambda n=crd["metadata"]["name"]: self._crd_established(n))
        stage_args = [f"--config={p}" for p in sorted((STAGES_DIR / "default").glob("*.yaml"))]
        stage_args += [f"--config={p}" for p in sorted(STAGES_DIR.glob("*.yaml"))]
        self._launch(
            Component(
                "kwok",
                [
                    str(b / "kwok"), f"--kubeconfig={kc}", "--manage-all-nodes=true",
                    f"--server-address=127.0.0.1:{kwok_port}", "--node-ip=127.0.0.1", f"--node-port={kwok_port}",
                    f"--cidr={POD_CIDR.replace('/16', '/24')}",
                    "--node-lease-duration-seconds=40",
                    "--enable-crds=Logs",
                    f"--tls-cert-file={pki / 'serving.crt'}", f"--tls-private-key-file={pki / 'serving.key'}",
                    *stage_args,
                ],
                logs / "kwok.log",
            )
        )  # fmt: skip

        self.api.create(
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
                # as most cloud default classes do; the harness plays the resizer (RefWatcher.resize)
                "allowVolumeExpansion": True,
            },
            exist_ok=True,
        )
        self.watcher = RefWatcher(self.api, logs_dir=self.workdir / "podlogs")
        self.watcher.start()

        for i in range(self.nodes):
            self.api.create("/api/v1/nodes", self.node_manifest(f"kwok-node-{i}"), exist_ok=True)

        self._wait(
            "ServiceAccount default/default",
            deadline,
            lambda: self.api.get_or_none("/api/v1/namespaces/default/serviceaccounts/default") is not None,
        )
        self._wait("nodes Ready", deadline, self._nodes_ready)
        self._setup_aegis_identity(ca_pem, deadline)
        (self.workdir / "state.json").write_text(
            json.dumps(
                {
                    "api_url": self.api_url,
                    "admin_kubeconfig": str(self.admin_kubeconfig),
                    "aegis_kubeconfig": str(self.aegis_kubeconfig),
                    "pids": {c.name: c.proc.pid for c in self.components if c.proc},
                    "supervisor_pid": os.getpid(),
                    "bin_dir": str(self.bins),
                },
                indent=2,
            )
        )

    def node_manifest(self, name: str) -> JSONObj:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/role": "agent",
                    "node-role.kubernetes.io/agent": "",
                    "type": "kwok",
                },
            },
            "spec": {},
            "status": {
                "allocatable": {"cpu": self.node_cpu, "memory": self.node_memory, "pods": "110", "ephemeral-storage": "95Gi"},
                "capacity": {"cpu": self.node_cpu, "memory": self.node_memory, "pods": "110", "ephemeral-storage": "100Gi"},
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "fake",
                    "containerRuntimeVersion": "containerd://2.1.0",
                    "kernelVersion": "6.1.0",
                    "osImage": "Debian GNU/Linux 13 (trixie)",
                },
                "phase": "Running",
            },
        }

    def _launch(self, c: Component) -> None:
        if self.verbose:
            self.log(f"starting {c.name}: {' '.join(c.args)}")
        else:
            self.log(f"starting {c.name} (log {c.log})")
        c.start(self.workdir)
        self.components.append(c)

    def _check_components(self) -> None:
        for c in self.components:
            c.check_alive()

    def _wait(self, what: str, deadline: float, probe: Any) -> None:
        t0 = time.monotonic()
        last_err = ""
        while True:
            self._check_components()
            try:
                if probe():
                    self.log(f"{what}: ok after {time.monotonic() - t0:.1f}s")
                    return
            except (httpx.HTTPError, ControlPlaneError, OSError) as exc:
                last_err = repr(exc)
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what} (last error: {last_err or 'none'})")
            time.sleep(0.2)

    def _readyz(self) -> bool:
        r = httpx.get(
            f"{self.api_url}/readyz",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            timeout=3,
        )
        return r.status_code == 200 and r.text.strip() == "ok"

    def _crd_established(self, name: str) -> bool:
        crd = self.api.get_or_none(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conds = ((crd or {}).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conds)

    def _nodes_ready(self) -> bool:
        items = self.api.get("/api/v1/nodes")["items"]
        ready = [
            n
            for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
            and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in n.get("spec", {}).get("taints", []) or [])
        ]
        return len(ready) >= self.nodes

    def _setup_aegis_identity(self, ca_pem: bytes, deadline: float) -> None:
        """ServiceAccount aegis in aegis-system bound to the shipped ClusterRole; token via TokenRequest."""
        api = self.api
        docs = [doc for path in sorted(RBAC_DIR.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
        # Namespaces first: the Role and RoleBinding of leader election live in AEGIS's own namespace.
        for doc in sorted(docs, key=lambda d: d["kind"] != "Namespace"):
            api.create(resource_path(doc["kind"], doc["metadata"].get("namespace")), doc, exist_ok=True)
        self._wait(
            f"ServiceAccount {AEGIS_NAMESPACE}/{AEGIS_SA}",
            deadline,
            lambda: api.get_or_none(f"/api/v1/namespaces/{AEGIS_NAMESPACE}/serviceaccounts/{AEGIS_SA}") is not None,
        )
        tr = api.create(
            f"/api/v1/namespaces/{AEGIS_NAMESPACE}/serviceaccounts/{AEGIS_SA}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 86400}},
        )
        token = tr["status"]["token"]
        self.aegis_kubeconfig.write_text(kubeconfig(self.api_url, ca_pem, f"system:serviceaccount:{AEGIS_NAMESPACE}:{AEGIS_SA}", token, "aegis"))
        (self.workdir / "aegis.token").write_text(token)

    def aegis_api(self) -> Api:
        token = (self.workdir / "aegis.token").read_text().strip()
        return Api(self.api_url, token, self.ca_file)

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop_event.set()
            self.watcher.join(timeout=5)
            self.watcher = None
        if self._api is not None:
            self._api.close()
            self._api = None
        # reverse order: kwok, scheduler, controller-manager, apiserver, etcd
        for c in reversed(self.components):
            if c.proc is not None and c.proc.poll() is None:
                kill_group(c.proc.pid)
            elif c.proc is not None:
                kill_group(c.proc.pid, grace=0.5)  # its children, if any
            if c.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(timeout=5)
        self.components.clear()

    def env(self) -> dict[str, str]:
        out = {
            "KUBECONFIG": str(self.admin_kubeconfig),
            "AEGIS_TEST_ADMIN_KUBECONFIG": str(self.admin_kubeconfig),
            "AEGIS_TEST_AEGIS_KUBECONFIG": str(self.aegis_kubeconfig),
            "AEGIS_TEST_API_URL": self.api_url,
        }
        if self.bins is not None:
            out["PATH"] = f"{self.bins}:{os.environ.get('PATH', '')}"
        return out


# ------------------------------------------------------------------------- CLI
def _state(d: Path) -> JSONObj:
    p = d / "state.json"
    if not p.exists():
        raise SystemExit(f"no control plane state in {d} (not started, or still starting)")
    return dict(json.loads(p.read_text()))


def _cmd_start(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve() if args.dir else Path(tempfile.mkdtemp(prefix="aegis-cp-"))
    if args.detach:
        d.mkdir(parents=True, exist_ok=True)
        log = (d / "controlplane.log").open("ab")
        cmd = [sys.executable, str(Path(__file__).resolve()), "start", "--dir", str(d), "--nodes", str(args.nodes)]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + args.timeout + 10
        while time.monotonic() < deadline:
            if (d / "ready").exists():
                print((d / "ready").read_text(), end="")
                return 0
            if proc.poll() is not None:
                print((d / "controlplane.log").read_text(errors="replace")[-4000:], file=sys.stderr)
                return 1
            time.sleep(0.2)
        kill_group(proc.pid)
        print(f"timed out; see {d / 'controlplane.log'}", file=sys.stderr)
        return 1

    cp = ControlPlane(d, nodes=args.nodes, verbose=args.verbose)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cp.start(timeout=args.timeout)
        ready = f"ready in {cp.time_to_ready:.1f}s\n" + "".join(f"export {k}={v}\n" for k, v in cp.env().items())
        (d / "ready").write_text(ready)
        print(ready, end="", flush=True)
        while not stop.is_set():
            cp._check_components()
            stop.wait(1.0)
    finally:
        cp.stop()
        (d / "ready").unlink(missing_ok=True)
        (d / "state.json").unlink(missing_ok=True)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    st = _state(d)
    sup = int(st.get("supervisor_pid", 0))
    if sup and sup != os.getpid():
        with contextlib.suppress(ProcessLookupError):
            os.kill(sup, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(sup, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    for pid in st.get("pids", {}).values():  # whatever the supervisor left behind
        kill_group(int(pid), grace=2.0)
    print(f"stopped control plane in {d}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    st = _state(d)
    print(f"export KUBECONFIG={st['admin_kubeconfig']}")
    print(f"export AEGIS_TEST_ADMIN_KUBECONFIG={st['admin_kubeconfig']}")
    print(f"export AEGIS_TEST_AEGIS_KUBECONFIG={st['aegis_kubeconfig']}")
    print(f"export AEGIS_TEST_API_URL={st['api_url']}")
    print(f"export PATH={st['bin_dir']}:$PATH")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start a control plane; runs until SIGTERM/SIGINT unless --detach")
    s.add_argument("--dir", help="working directory (default: a new temp dir)")
    s.add_argument("--nodes", type=int, default=2)
    s.add_argument("--timeout", type=float, default=120.0)
    s.add_argument("--detach", action="store_true", help="start in the background, return when ready")
    s.add_argument("-v", "--verbose", action="store_true")
    s.set_defaults(fn=_cmd_start)
    t = sub.add_parser("stop", help="stop the control plane started with --dir")
    t.add_argument("--dir", required=True)
    t.set_defaults(fn=_cmd_stop)
    e = sub.add_parser("env", help="print shell exports for a running control plane")
    e.add_argument("--dir", required=True)
    e.set_defaults(fn=_cmd_env)
    args = p.parse_args(argv)
    try:
        return int(args.fn(args))
    except BinariesMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def wait_until(what: str, probe: Any, timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Poll probe() until it returns something truthy; fail with `what` and the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
