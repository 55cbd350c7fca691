"""The log that names the cause is read from a sibling pod when the worst pod has none to serve."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import yaml

from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, ObjectRef
from tests.incidents import EXAMPLES

SNAPSHOT = EXAMPLES / "crashloop-missing-env" / "snapshot"
TARGET = ObjectRef(kind="Deployment", namespace="shop", name="checkout")
LOGGED = "checkout-7d9f8b6c5d-x2x9k"
SILENT = "checkout-7d9f8b6c5d-zz9z9"  # crashed more often, but its previous log is gone


def _with_a_silent_sibling(tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(SNAPSHOT, snapshot)
    docs = list(yaml.safe_load_all((snapshot / "objects.yaml").read_text()))
    pod = next(d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"] == LOGGED)
    sibling = copy.deepcopy(pod)
    sibling["metadata"]["name"] = SILENT
    sibling["status"]["containerStatuses"][0]["restartCount"] = 9
    docs.append(sibling)
    (snapshot / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    return snapshot


async def test_a_worst_pod_without_logs_falls_back_to_a_sibling_that_has_them(tmp_path: Path) -> None:
    investigator = Investigator(SnapshotGateway.open(_with_a_silent_sibling(tmp_path)))
    bundle, _ = await investigator.collect(TARGET)
    assert [p["metadata"]["name"] for p in bundle.pods] == [LOGGED, SILENT], "the sibling whose log names the cause is the focus"
    assert [(entry.pod, entry.previous) for entry in bundle.logs] == [(LOGGED, True)]

    diagnosis = await investigator.investigate(TARGET)
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR
    assert "DATABASE_URL" in diagnosis.rca.summary
    assert diagnosis.fix is not None


async def test_the_worst_pods_own_log_is_read_when_it_has_one(tmp_path: Path) -> None:
    snapshot = _with_a_silent_sibling(tmp_path)
    logs = snapshot / "logs" / "shop"
    shutil.copytree(logs / LOGGED, logs / SILENT)
    bundle, _ = await Investigator(SnapshotGateway.open(snapshot)).collect(TARGET)
    assert [p["metadata"]["name"] for p in bundle.pods] == [SILENT, LOGGED], "the pod that crashed more stays the focus"
    assert [(entry.pod, entry.previous) for entry in bundle.logs] == [(SILENT, True)], "no sibling's log is read when the worst pod has one"


async def test_a_sibling_that_fails_less_is_not_made_the_focus(tmp_path: Path) -> None:
    """A Pending pod has no log to serve; a Running sibling's log must not replace it as the focus."""
    snapshot = _with_a_silent_sibling(tmp_path)
    docs = list(yaml.safe_load_all((snapshot / "objects.yaml").read_text()))
    silent = next(d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"] == SILENT)
    silent["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    logged = next(d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"] == LOGGED)
    logged["status"]["containerStatuses"][0].update(restartCount=0, lastState={}, state={"running": {"startedAt": "2026-11-25T09:00:00Z"}}, ready=True)
    logged["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    (snapshot / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    bundle, _ = await Investigator(SnapshotGateway.open(snapshot)).collect(TARGET)
    assert [p["metadata"]["name"] for p in bundle.pods] == [SILENT, LOGGED]
    assert bundle.logs == []
