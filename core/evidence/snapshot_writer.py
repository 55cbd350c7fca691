"""Write an ObjectBundle as an AEGIS snapshot directory (what `aegis snapshot` produces).

The bundle is already redacted (Secret values are markers, secret-looking env values masked,
logs masked), so the directory can be handed to someone else or committed as a test fixture.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from aegis.core import objects
from aegis.core.evidence.bundle import ObjectBundle

COLLECTED_KINDS = [
    "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision", "Event", "ConfigMap",
    "Secret", "Service", "Endpoints", "PersistentVolumeClaim", "Node", "Job", "CronJob", "ResourceQuota", "StorageClass",
    "NetworkPolicy", "Role", "RoleBinding",
]  # fmt: skip


def write(bundle: ObjectBundle, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "objects.yaml", directory / "snapshot.yaml"]
    docs = [_strip(o) for o in _unique(_objects_of(bundle))]
    written[0].write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    meta = {
        "target": bundle.target.model_dump(),
        "observed_at": bundle.observed_at.isoformat(),
        "kinds": [k for k in COLLECTED_KINDS if bundle.knows(k)],
    }
    written[1].write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    for owner in [bundle, *(d.bundle for d in bundle.dependencies if d.bundle)]:
        for entry in owner.logs:
            path = directory / "logs" / owner.namespace / entry.pod / f"{entry.container}{'.previous' if entry.previous else ''}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry.text, encoding="utf-8")
            written.append(path)
    return written


def _objects_of(bundle: ObjectBundle) -> list[dict[str, object]]:
    """The bundle's objects and its dependencies' (a re-read follows the same Services to the same workloads)."""
    found = list(bundle.all_objects())
    for dependency in bundle.dependencies:
        if dependency.bundle is not None:
            found += dependency.bundle.all_objects()
    return found


def _unique(objs: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[tuple[object, object, object]] = set()
    out = []
    for obj in objs:
        meta = objects.meta(obj)
        key = (obj.get("kind"), meta.get("namespace"), meta.get("name"))
        if key not in seen:
            seen.add(key)
            out.append(obj)
    return out


def _strip(obj: dict[str, object]) -> dict[str, object]:
    """Drop managedFields: noise for people, and the biggest part of most objects (a ConfigMap's or Secret's keep
    who wrote them and when — already trimmed by the collector — for change detection)."""
    keep = obj.get("kind") in ("ConfigMap", "Secret")
    return objects.without_server_fields(obj, drop_meta=() if keep else ("managedFields",), keep_status=True, drop_annotations=())
