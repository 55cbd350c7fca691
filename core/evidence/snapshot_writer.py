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
]  # fmt: skip


def write(bundle: ObjectBundle, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "objects.yaml", directory / "snapshot.yaml"]
    docs = [_strip(o) for o in bundle.all_objects()]
    written[0].write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    meta = {
        "target": bundle.target.model_dump(),
        "observed_at": bundle.observed_at.isoformat(),
        "kinds": [k for k in COLLECTED_KINDS if bundle.knows(k)],
    }
    written[1].write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    for entry in bundle.logs:
        path = directory / "logs" / bundle.namespace / entry.pod / f"{entry.container}{'.previous' if entry.previous else ''}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry.text, encoding="utf-8")
        written.append(path)
    return written


def _strip(obj: dict[str, object]) -> dict[str, object]:
    """Drop managedFields: noise for people, and the biggest part of most objects."""
    return objects.without_server_fields(obj, drop_meta=("managedFields",), keep_status=True, drop_annotations=())
