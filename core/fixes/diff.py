"""The workload diff people read beside a fix: the object as a person edits it, before and after the patch."""

from __future__ import annotations

import difflib
from typing import Any

import jsonpatch
import yaml

from aegis.core import objects
from aegis.core.models import KubeObject


def workload_diff(workload: KubeObject, patch: list[dict[str, Any]]) -> str:
    """A unified diff of the workload now and with the patch applied."""
    before = objects.clean_for_diff(workload)
    after = jsonpatch.apply_patch(before, patch)
    name = f"{workload.get('kind', '').lower()}/{objects.name(workload)}"
    return "\n".join(
        difflib.unified_diff(
            yaml.safe_dump(before, sort_keys=False).splitlines(),
            yaml.safe_dump(after, sort_keys=False).splitlines(),
            f"{name} (now)",
            f"{name} (fixed)",
            lineterm="",
            n=3,
        )
    )
