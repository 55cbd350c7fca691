"""SnapshotGateway: a cluster's state frozen in a directory, read offline.

Two layouts are read:
- AEGIS snapshots (`aegis snapshot` writes them, people can hand-write them): `objects.yaml`
  (multi-document YAML or a `v1 List`, objects as `kubectl get -o yaml` prints them) and
  `logs/<namespace>/<pod>/<container>.log` / `<container>.previous.log`. An optional
  `snapshot.yaml` lists the kinds that were collected (`kinds: [...]`): a kind not listed is
  unknown, not absent, so no analyzer concludes that a ConfigMap is missing from a snapshot that
  never looked for ConfigMaps. Without it, every kind is taken as collected.
- `kubectl cluster-info dump --output-directory DIR`: `nodes.json`, `<ns>/{pods,events,services,
  deployments,replicasets,daemonsets,replication-controllers}.json` and `<ns>/<pod>/logs.txt`
  (all containers, between kubectl's START/END markers; no previous logs).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import yaml

from aegis.core.errors import NotFoundError, SnapshotError, UsageError
from aegis.core.kube.gateway import ApiEndpoint, Listing, Propagation, WatchEvent
from aegis.core.models import KubeIdentity, KubeObject
from aegis.core.objects import kinds, selectors

_DUMP_FILES = {
    "pods.json": "Pod",
    "events.json": "Event",
    "services.json": "Service",
    "deployments.json": "Deployment",
    "replicasets.json": "ReplicaSet",
    "daemonsets.json": "DaemonSet",
    "replication-controllers.json": "ReplicationController",
}
# libyaml's parser when PyYAML was built with it: several times faster on large snapshots.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_DUMP_LOG_MARK = re.compile(r"^==== (START|END) logs for container (\S+) of pod (\S+)/(\S+) ====$")


class SnapshotGateway:
    """KubeGateway over a snapshot directory (read-only)."""

    def __init__(
        self,
        directory: Path,
        objects: list[KubeObject],
        logs: dict[tuple[str, str, str, bool], str],
        collected_kinds: frozenset[str] | None,
    ) -> None:
        self._dir = directory
        self._objects = objects
        self._logs = logs
        self._collected = collected_kinds

    @classmethod
    def open(cls, directory: str | Path) -> SnapshotGateway:
        path = Path(directory)
        if not path.is_dir():
            raise SnapshotError(f"snapshot directory {path} does not exist or is not a directory")
        if (path / "objects.yaml").is_file():
            return cls._open_aegis(path)
        if (path / "nodes.json").is_file() or any(path.glob("*/pods.json")):
            return cls._open_cluster_dump(path)
        raise SnapshotError(
            f"{path} is not a snapshot: expected objects.yaml (aegis snapshot) or nodes.json and <namespace>/pods.json (kubectl cluster-info dump)"
        )

    @classmethod
    def _open_aegis(cls, path: Path) -> SnapshotGateway:
        objects = _load_yaml_objects(path / "objects.yaml")
        logs: dict[tuple[str, str, str, bool], str] = {}
        for log_file in sorted((path / "logs").glob("*/*/*.log")):
            namespace, pod = log_file.parent.parent.name, log_file.parent.name
            name = log_file.name.removesuffix(".log")
            previous = name.endswith(".previous")
            container = name.removesuffix(".previous")
            logs[(namespace, pod, container, previous)] = _read_text(log_file)
        collected: frozenset[str] | None = None
        manifest = path / "snapshot.yaml"
        if manifest.is_file():
            meta = _parse_yaml_file(manifest)
            if not isinstance(meta, dict) or not isinstance(meta.get("kinds"), list):
                raise SnapshotError(f"{manifest}: expected a mapping with a 'kinds' list")
            collected = frozenset(str(k) for k in meta["kinds"])
            if "EndpointSlice" in collected:
                collected |= {"Endpoints"}
        return cls(path, [*objects, *_endpoints_from_slices(objects)], logs, collected)

    @classmethod
    def _open_cluster_dump(cls, path: Path) -> SnapshotGateway:
        objects: list[KubeObject] = []
        files = [path / "nodes.json"] if (path / "nodes.json").is_file() else []
        files += sorted(p for p in path.glob("*/*.json") if p.name in _DUMP_FILES)
        for file in files:
            kind = "Node" if file.name == "nodes.json" else _DUMP_FILES[file.name]
            try:
                doc = json.loads(_read_text(file))
            except json.JSONDecodeError as exc:
                raise SnapshotError(f"{file}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
            for item in doc.get("items") or []:
                item.setdefault("kind", kind)
                objects.append(_core_event(item))
        logs: dict[tuple[str, str, str, bool], str] = {}
        for log_file in sorted(path.glob("*/*/logs.txt")):
            logs.update(_split_dump_logs(_read_text(log_file)))
        collected = frozenset({"Node", *_DUMP_FILES.values()})
        return cls(path, objects, logs, collected)

    @property
    def description(self) -> str:
        return f"snapshot {self._dir}"

    @property
    def read_only(self) -> bool:
        return True

    def collected(self, kind: str) -> bool:
        """Whether the snapshot looked for this kind at all (absence means 'does not exist')."""
        return self._collected is None or kind in self._collected

    async def get(self, kind: str, namespace: str | None, name: str) -> KubeObject:
        namespaced = kinds.KINDS[kind].namespaced if kind in kinds.KINDS else True
        for obj in self._objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") == kind and meta.get("name") == name and (not namespaced or meta.get("namespace", "default") == namespace):
                return obj
        raise NotFoundError(kind, name, namespace if namespaced else None)

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[KubeObject]:
        found = []
        for obj in self._objects:
            meta = obj.get("metadata") or {}
            if obj.get("kind") != kind:
                continue
            if namespace and meta.get("namespace", "default") != namespace and kind in kinds.KINDS and kinds.KINDS[kind].namespaced:
                continue
            if selectors.matches(meta.get("labels") or {}, label_selector):
                found.append(obj)
        return found

    async def logs(self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int) -> str | None:
        text = self._logs.get((namespace, pod, container, previous))
        if text is None:
            return None
        lines = text.splitlines()
        return "\n".join(lines[-tail_lines:]) + ("\n" if lines else "")

    async def patch_json(self, kind: str, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool) -> KubeObject:
        raise self._read_only(f"changing {kind}/{name}")

    async def create(self, kind: str, namespace: str | None, obj: KubeObject, *, dry_run: bool = False) -> KubeObject:
        raise self._read_only(f"creating {kind}/{(obj.get('metadata') or {}).get('name', '')}")

    async def delete(self, kind: str, namespace: str | None, name: str, *, propagation: Propagation = "Background") -> bool:
        raise self._read_only(f"deleting {kind}/{name}")

    async def evict(self, namespace: str, pod: str) -> bool:
        raise self._read_only(f"evicting pod/{pod}")

    async def list_versioned(self, kind: str, namespace: str | None, label_selector: str | None = None) -> Listing:
        return Listing(items=await self.list_objects(kind, namespace, label_selector), resource_version="")

    async def watch(
        self,
        kind: str,
        namespace: str | None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: float = 60.0,
    ) -> AsyncGenerator[WatchEvent, None]:
        raise self._read_only(f"watching {kind}")
        yield  # pragma: no cover - makes this an async generator, as the Protocol expects

    async def api_endpoint(self) -> ApiEndpoint | None:
        return None

    def _read_only(self, what: str) -> UsageError:
        return UsageError(f"{self.description} is read-only: {what} needs a live cluster (run without --snapshot, with a kubeconfig or in-cluster credentials)")

    def impersonating(self, identity: KubeIdentity) -> SnapshotGateway:
        return self  # nothing is ever written to a snapshot

    async def close(self) -> None:
        return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror}") from exc


def _parse_yaml_file(path: Path) -> Any:
    try:
        return yaml.load(_read_text(path), Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{path}:{_yaml_line(exc)}: invalid YAML: {_yaml_problem(exc)}") from exc


def _load_yaml_objects(path: Path) -> list[KubeObject]:
    text = _read_text(path)
    objects: list[KubeObject] = []
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{path}:{_yaml_line(exc)}: invalid YAML: {_yaml_problem(exc)}") from exc
    for index, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise SnapshotError(f"{path}: document {index} is not a Kubernetes object (no 'kind')")
        if doc["kind"] == "List" or (doc["kind"].endswith("List") and "items" in doc):
            # The API server's typed lists (PodList, EventList) leave kind off their items; kubectl's List keeps it.
            item_kind = None if doc["kind"] == "List" else doc["kind"].removesuffix("List")
            for item in doc.get("items") or []:
                if isinstance(item, dict) and item_kind and "kind" not in item:
                    item["kind"] = item_kind
                if isinstance(item, dict) and "kind" in item:
                    objects.append(_core_event(item))
        else:
            objects.append(_core_event(doc))
    return objects


def _endpoints_from_slices(objects: list[KubeObject]) -> list[KubeObject]:
    """v1 Endpoints for Services a snapshot holds only EndpointSlices of (Endpoints are deprecated since 1.33).

    Addresses whose `conditions.ready` is not false are ready (the API reads a missing value as ready).
    """
    have = {((o.get("metadata") or {}).get("namespace"), (o.get("metadata") or {}).get("name")) for o in objects if o.get("kind") == "Endpoints"}
    built: dict[tuple[str, str], KubeObject] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        key = (str(meta.get("namespace", "default")), str(service))
        if obj.get("kind") != "EndpointSlice" or not service or key in have:
            continue
        endpoints = built.setdefault(key, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": key[1], "namespace": key[0]}, "subsets": []})
        subset: dict[str, Any] = {"addresses": [], "notReadyAddresses": []}
        for endpoint in obj.get("endpoints") or []:
            ready = (endpoint.get("conditions") or {}).get("ready") is not False
            for ip in endpoint.get("addresses") or []:
                address = {"ip": ip} | {k: endpoint[k] for k in ("targetRef", "nodeName", "hostname") if endpoint.get(k)}
                subset["addresses" if ready else "notReadyAddresses"].append(address)
        subset = {k: v for k, v in subset.items() if v}
        if subset:
            subset["ports"] = [{k: p[k] for k in ("name", "port", "protocol") if k in p} for p in obj.get("ports") or []]
            endpoints["subsets"].append(subset)
    return list(built.values())


def _core_event(obj: KubeObject) -> KubeObject:
    """An Event read as the core/v1 Event analyzers read (involvedObject, message, count).

    events.k8s.io/v1 names them regarding, note and series.count; the core/v1 view of an event a
    component recorded through that API (the scheduler's FailedScheduling) carries series but no count.
    """
    if obj.get("kind") != "Event":
        return obj
    count = (obj.get("series") or {}).get("count") or obj.get("deprecatedCount")
    if count and not obj.get("count"):
        obj["count"] = count
    if not str(obj.get("apiVersion", "")).startswith("events.k8s.io/"):
        return obj
    if "regarding" in obj:
        obj.setdefault("involvedObject", obj["regarding"])
    if "note" in obj:
        obj.setdefault("message", obj["note"])
    if obj.get("eventTime") and not obj.get("lastTimestamp"):
        obj["lastTimestamp"] = (obj.get("series") or {}).get("lastObservedTime") or obj["eventTime"]
    return obj


def _yaml_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return str(mark.line + 1) if mark is not None else "?"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).strip()


def _split_dump_logs(text: str) -> dict[tuple[str, str, str, bool], str]:
    """Split a cluster-info dump logs.txt into one log per container."""
    logs: dict[tuple[str, str, str, bool], str] = {}
    current: tuple[str, str, str, bool] | None = None
    lines: list[str] = []
    for line in text.splitlines():
        mark = _DUMP_LOG_MARK.match(line.strip())
        if mark and mark.group(1) == "START":
            current, lines = (mark.group(3), mark.group(4), mark.group(2), False), []
        elif mark and current is not None:
            logs[current] = "\n".join(lines) + "\n"
            current = None
        elif current is not None:
            lines.append(line)
    return logs
