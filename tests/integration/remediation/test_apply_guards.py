"""Apply on the real control plane when the workload is written between AEGIS's read and its patch, and when the patch is invalid.

A crash-looping Deployment's status and metadata change every few seconds (its controller counts the
failing pods, tools stamp annotations): that must not refuse a fix. A change to the pod template in
the same moment must: the kept previous state would no longer be what the patch replaced.
The other writer runs right after Apply's read, so the interleaving is the same on every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from aegis.core.kube.gateway import KubeGateway
from aegis.core.kube.live import LiveGateway
from aegis.core.models import FixProposal, KubeObject, ObjectRef, PatchOperation, Risk
from aegis.core.remediation.remediator import ApplyResult, Remediator
from tests.cluster.controlplane import resource_path
from tests.incidents import EXAMPLES, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example

pytestmark = pytest.mark.integration

EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "crashloop-missing-env")


class WriteAfterFirstRead:
    """A gateway whose first read of an object is followed, before it returns, by another writer's change."""

    def __init__(self, inner: KubeGateway, write: Callable[[], Any]) -> None:
        self._inner = inner
        self._write: Callable[[], Any] | None = write

    async def get(self, kind: str, namespace: str | None, name: str) -> KubeObject:
        obj = await self._inner.get(kind, namespace, name)
        if self._write is not None:
            write, self._write = self._write, None
            await asyncio.to_thread(write)
        return obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def add_database_url(target: ObjectRef) -> FixProposal:
    env = {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "DATABASE_URL"}}}
    return FixProposal(
        target=target,
        patch=[
            PatchOperation(op="test", path="/spec/template/spec/containers/0/name", value="checkout"),
            PatchOperation(op="add", path="/spec/template/spec/containers/0/env/-", value=env),
        ],
        summary="add DATABASE_URL from Secret checkout-db",
        decision_rationale="the log says DATABASE_URL is missing",
        risk=Risk.LOW,
    )


def env_names(cluster: Cluster, target: ObjectRef) -> list[str]:
    dep = cluster.deployment(target.namespace, target.name)
    return [e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0].get("env") or []]


async def apply_as_aegis(cluster: Cluster, fix: FixProposal, other_writer: Callable[[], Any] | None = None) -> ApplyResult:
    """Apply through AEGIS's own identity; `other_writer` runs right after Apply's first read."""
    live = await LiveGateway.connect(kubeconfig=str(cluster.aegis_kubeconfig))
    try:
        gateway = cast(KubeGateway, WriteAfterFirstRead(live, other_writer)) if other_writer else live
        return await Remediator(gateway, rollout_timeout=120).apply(fix)
    finally:
        await live.close()


async def test_a_status_or_metadata_write_between_read_and_patch_does_not_refuse_the_fix(control_plane: Cluster) -> None:
    """Another writer stamps an annotation between Apply's read and patch: the fix lands, and the kept template is the one read."""
    target = await asyncio.to_thread(deploy_example, control_plane, EXAMPLE)
    path = resource_path("Deployment", target.namespace, target.name)

    def annotate() -> None:
        control_plane.api.patch(path, {"metadata": {"annotations": {"example.com/last-sync": "now"}}}, kind="merge")

    applied = await apply_as_aegis(control_plane, add_database_url(target), annotate)
    assert applied.ok, f"{applied.outcome}: {applied.reason}\n{control_plane.dump(target.namespace)}"
    assert control_plane.deployment(target.namespace, target.name)["metadata"]["annotations"]["example.com/last-sync"] == "now"
    assert env_names(control_plane, target) == ["SERVICE_NAME", "DATABASE_URL"]
    assert applied.record is not None  # what Roll back restores is the template as read, before the fix
    assert [e["name"] for e in applied.record.previous["/spec/template"]["spec"]["containers"][0]["env"]] == ["SERVICE_NAME"]


async def test_a_template_edit_between_read_and_patch_refuses_the_fix_and_keeps_the_edit(control_plane: Cluster) -> None:
    """Someone edits the pod template between Apply's read and patch: refused as a conflict, their edit kept, nothing of the fix applied."""
    target = await asyncio.to_thread(deploy_example, control_plane, EXAMPLE)

    def someone_edits_the_template() -> None:
        edit = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "LOG_FORMAT", "value": "json"}}]
        control_plane.patch_deployment(target.namespace, target.name, edit, kind="json")

    applied = await apply_as_aegis(control_plane, add_database_url(target), someone_edits_the_template)
    assert applied.outcome == "conflict" and "changed since it was diagnosed" in applied.reason
    assert env_names(control_plane, target) == ["SERVICE_NAME", "LOG_FORMAT"]


async def test_an_invalid_patch_is_refused_with_the_servers_reason_and_no_env_value(control_plane: Cluster) -> None:
    """The API server quotes the whole object when a patch does not decode; the reason a person reads names the error, not the object."""
    target = await asyncio.to_thread(deploy_example, control_plane, EXAMPLE)
    literal = "pg-literal-Zq81x"  # an env literal, as teams do put connection strings in env
    edit = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "ANALYTICS_URL", "value": literal}}]
    control_plane.patch_deployment(target.namespace, target.name, edit, kind="json")
    invalid = FixProposal(
        target=target,
        patch=[PatchOperation(op="replace", path="/spec/replicas", value="three")],
        summary="scale",
        decision_rationale="r",
        risk=Risk.LOW,
    )
    applied = await apply_as_aegis(control_plane, invalid)
    assert applied.outcome == "failed" and "cannot unmarshal string" in applied.reason and "replicas" in applied.reason
    assert literal not in applied.reason and "apiVersion" not in applied.reason
    assert env_names(control_plane, target) == ["SERVICE_NAME", "ANALYTICS_URL"]  # nothing changed


async def test_guards_hold_on_values_with_shell_operators_and_non_ascii_text(control_plane: Cluster) -> None:
    """kube-apiserver compares `test` values by their bytes as Go encodes them: a guard on `a && b > f` or on "Zoë" must still match."""
    target = await asyncio.to_thread(deploy_example, control_plane, EXAMPLE)
    command = ["sh", "-c", "migrate && exec checkout > /proc/1/fd/1 2>&1 <&-"]
    edit = [
        {"op": "add", "path": "/spec/template/spec/containers/0/command", "value": command},
        {"op": "add", "path": "/spec/template/metadata/annotations/team", "value": "Zoë's payments squad\u2028on call"},
    ]
    control_plane.patch_deployment(target.namespace, target.name, edit, kind="json")
    fix = add_database_url(target)
    fix = fix.model_copy(update={"patch": [PatchOperation(op="test", path="/spec/template/spec/containers/0/command", value=command), *fix.patch]})
    applied = await apply_as_aegis(control_plane, fix)
    assert applied.ok, f"{applied.outcome}: {applied.reason}"
    assert env_names(control_plane, target) == ["SERVICE_NAME", "DATABASE_URL"]
