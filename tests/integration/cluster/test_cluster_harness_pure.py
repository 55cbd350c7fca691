"""Pure checks of the cluster harness (no control plane needed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster.controlplane import _missing_refs, app_logs
from tests.cluster.stages import gen_stages

REPO = Path(__file__).resolve().parents[3]


def test_generated_stages_are_in_sync(tmp_path: Path) -> None:
    gen_stages.main(tmp_path / "out.yaml")
    committed = (REPO / "tests/cluster/stages/aegis-failures.yaml").read_text()
    assert (tmp_path / "out.yaml").read_text() == committed, "run: python tests/cluster/stages/gen_stages.py"


def _pod(spec: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "ns", "annotations": {}}, "spec": spec, "status": {}}


def test_missing_refs_messages_are_kubelets() -> None:
    pod = _pod(
        {
            "containers": [
                {"name": "a", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
                {"name": "b", "envFrom": [{"secretRef": {"name": "creds"}}]},
                {"name": "c", "env": [{"name": "Y", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}}]},
            ],
            "volumes": [{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "missing", "path": "m"}]}}],
        }
    )
    env, vols = _missing_refs(pod, {}, {})
    assert env == {"a": 'configmap "cfg" not found', "b": 'secret "creds" not found'}
    assert vols == {"v": 'MountVolume.SetUp failed for volume "v" : configmap "cfg" not found'}
    cms = {("ns", "cfg"): {"data": {"other": "1"}}}
    env, vols = _missing_refs(pod, cms, {("ns", "creds"): {"data": {}}})
    assert env == {"a": "couldn't find key k in ConfigMap ns/cfg"}
    assert vols == {"v": 'MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: missing'}


def test_app_logs_follow_the_failure() -> None:
    pod = _pod({"containers": [{"name": "app", "image": "r/app:1.2.3", "env": []}]})
    pod["metadata"]["annotations"] = {"sim.aegis.dev/requires-env": json.dumps({"app": ["DATABASE_URL"]})}  # type: ignore[index]
    status = {
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z"}},
    }
    current, previous = app_logs(pod, pod["spec"]["containers"][0], status)  # type: ignore[index]
    assert previous is not None and "stderr F FATAL: required environment variable DATABASE_URL is not set" in previous
    assert current == previous
    running = {"state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
    current, previous = app_logs(pod, pod["spec"]["containers"][0], running)  # type: ignore[index]
    assert previous is None and current.startswith("2026-01-01T00:00:00.000000000Z stdout F INFO starting app version=1.2.3")
