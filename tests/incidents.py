"""Helpers to load example incidents and near-misses and check a fix against expected.json.

expected.json: {"target": ObjectRef, "category": str, "fix": bool, "fixed": [assertion, ...]}
where an assertion is {"path": JSON pointer into the fixed workload, and one of
"equals": value | "contains": object (a list at path has an item with these fields) |
"absent": true | "not_equals": value}.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer

from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Diagnosis, ObjectRef

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "incidents"
NEAR_MISSES = ROOT / "tests" / "unit" / "near_misses"


@dataclass(frozen=True)
class Incident:
    name: str
    directory: Path
    expected: dict[str, Any]

    @property
    def target(self) -> ObjectRef:
        return ObjectRef(**self.expected["target"])

    @property
    def snapshot(self) -> Path:
        return self.directory / "snapshot"


def load_all(root: Path) -> list[Incident]:
    return [Incident(d.name, d, json.loads((d / "expected.json").read_text())) for d in sorted(root.iterdir()) if (d / "expected.json").is_file()]


async def diagnose_snapshot(directory: Path, target: ObjectRef) -> Diagnosis:
    gateway = SnapshotGateway.open(directory)
    return await Investigator(gateway).investigate(target)


def diagnose_sync(incident: Incident) -> Diagnosis:
    return asyncio.run(diagnose_snapshot(incident.snapshot, incident.target))


async def workload_of(incident: Incident, diagnosis: Diagnosis) -> dict[str, Any]:
    assert diagnosis.fix is not None
    ref = diagnosis.fix.target
    return await SnapshotGateway.open(incident.snapshot).get(ref.kind, ref.namespace, ref.name)


def check_fixed(fixed: dict[str, Any], assertions: list[dict[str, Any]]) -> list[str]:
    """The assertions that do not hold on the fixed workload (empty: all hold)."""
    failures = []
    for assertion in assertions:
        path = assertion["path"]
        try:
            value = jsonpointer.resolve_pointer(fixed, path)
            present = True
        except jsonpointer.JsonPointerException:
            value, present = None, False
        if "absent" in assertion:
            if present:
                failures.append(f"{path} should be absent, is {value!r}")
        elif not present:
            failures.append(f"{path} is missing")
        elif "equals" in assertion and value != assertion["equals"]:
            failures.append(f"{path} is {value!r}, expected {assertion['equals']!r}")
        elif "not_equals" in assertion and value == assertion["not_equals"]:
            failures.append(f"{path} is still {value!r}")
        elif "contains" in assertion:
            wanted = assertion["contains"]
            if not isinstance(value, list) or not any(isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()) for item in value):
                failures.append(f"{path} has no item like {wanted!r}: {value!r}")
    return failures


def apply_fix(workload: dict[str, Any], diagnosis: Diagnosis) -> dict[str, Any]:
    """Apply the proposal's JSON patch, test guards included (raises if a guard fails)."""
    assert diagnosis.fix is not None
    result: dict[str, Any] = jsonpatch.apply_patch(workload, diagnosis.fix.patch_json())
    return result
