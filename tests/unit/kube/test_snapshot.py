"""The snapshot backend reads AEGIS snapshots, v1 Lists and cluster-info dumps, and names bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.core.errors import NotFoundError, SnapshotError, UsageError
from aegis.core.kube.snapshot import SnapshotGateway


def _pod(name: str, ns: str = "web") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "spec": {"containers": [{"name": "c"}]}}


async def test_v1_list_and_logs(tmp_path: Path) -> None:
    """A `v1 List` objects.yaml and logs/<ns>/<pod>/<container>[.previous].log are read."""
    (tmp_path / "objects.yaml").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [_pod("a"), _pod("b")]}))
    logs = tmp_path / "logs" / "web" / "a"
    logs.mkdir(parents=True)
    (logs / "c.log").write_text("now\n")
    (logs / "c.previous.log").write_text("one\ntwo\nthree\n")
    gw = SnapshotGateway.open(tmp_path)
    assert [p["metadata"]["name"] for p in await gw.list_objects("Pod", "web", "app=b")] == ["b"]
    assert await gw.logs("web", "a", "c", previous=True, tail_lines=2) == "two\nthree\n"
    assert await gw.logs("web", "a", "c", previous=False, tail_lines=10) == "now\n"
    assert await gw.logs("web", "b", "c", previous=False, tail_lines=10) is None
    with pytest.raises(NotFoundError, match="Pod 'zzz' not found in namespace web"):
        await gw.get("Pod", "web", "zzz")


async def test_snapshot_is_read_only(tmp_path: Path) -> None:
    """Changing anything through a snapshot explains that a live cluster is needed."""
    (tmp_path / "objects.yaml").write_text(json.dumps(_pod("a")))
    with pytest.raises(UsageError, match="read-only"):
        await SnapshotGateway.open(tmp_path).patch_json("Pod", "web", "a", [], dry_run=True)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    """A YAML syntax error reports objects.yaml and the line number."""
    (tmp_path / "objects.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(SnapshotError, match=r"objects\.yaml:\d+: invalid YAML"):
        SnapshotGateway.open(tmp_path)


def test_not_a_snapshot(tmp_path: Path) -> None:
    """A directory without objects.yaml or a cluster dump is refused with what was expected."""
    with pytest.raises(SnapshotError, match=r"expected objects\.yaml"):
        SnapshotGateway.open(tmp_path)


async def test_cluster_info_dump(tmp_path: Path) -> None:
    """kubectl cluster-info dump directories: per-namespace JSON lists and logs.txt split per container."""
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "NodeList", "items": [{"metadata": {"name": "n1"}}]}))
    ns = tmp_path / "web"
    (ns / "a").mkdir(parents=True)
    (ns / "pods.json").write_text(json.dumps({"kind": "PodList", "items": [_pod("a")]}))
    (ns / "events.json").write_text(json.dumps({"kind": "EventList", "items": []}))
    (ns / "a" / "logs.txt").write_text("==== START logs for container c of pod web/a ====\nboom\n==== END logs for container c of pod web/a ====\n")
    gw = SnapshotGateway.open(tmp_path)
    assert (await gw.get("Pod", "web", "a"))["kind"] == "Pod"
    assert (await gw.get("Node", None, "n1"))["kind"] == "Node"
    assert await gw.logs("web", "a", "c", previous=False, tail_lines=5) == "boom\n"
    assert not gw.collected("ConfigMap"), "a dump has no ConfigMaps: their absence must mean unknown"
