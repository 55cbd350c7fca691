"""Render the AEGIS chart with the helm that deploy/check.sh caches (AEGIS_HELM, else ~/.cache/aegis/helm-<version>)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "aegis"
HELM_VERSION = "v3.22.0"


def helm_binary() -> Path:
    found = Path(os.environ.get("AEGIS_HELM") or Path.home() / ".cache" / "aegis" / f"helm-{HELM_VERSION}" / "helm")
    if not found.is_file():
        msg = f"helm not found at {found}; run deploy/check.sh (it builds helm {HELM_VERSION} into ~/.cache/aegis)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def render(namespace: str, *sets: str, values: Path | None = None, release: str = "aegis") -> list[dict[str, Any]]:
    """`helm template` with the given --set values (and a values file); the manifests as dicts."""
    args = [str(helm_binary()), "template", release, str(CHART), "-n", namespace]
    if values is not None:
        args += ["-f", str(values)]
    for value in sets:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]
