"""Apply on a StatefulSet: an API error while evicting stuck pods is a failed phase, never an exception after the patch landed."""

from __future__ import annotations

from typing import Any, cast

from aegis.core.errors import ForbiddenError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import FixProposal, KubeObject, ObjectRef, PatchOperation, Risk
from aegis.core.remediation.remediator import Remediator

STS: KubeObject = {
    "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "n", "generation": 2, "resourceVersion": "7", "uid": "u1"},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "db", "image": "db:1"}]}}},
    "status": {"observedGeneration": 2, "readyReplicas": 1, "updatedReplicas": 1, "currentRevision": "r2", "updateRevision": "r2"},
}


class ForbiddenListGateway:
    """Just enough of KubeGateway: the patch lands, listing pods is forbidden (an RBAC older than the eviction rule)."""

    async def get(self, kind: str, namespace: str | None, name: str) -> KubeObject:
        return STS

    async def patch_json(self, kind: str, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool) -> KubeObject:
        return STS

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[KubeObject]:
        raise ForbiddenError("list", "pods", namespace)


async def test_forbidden_eviction_keeps_the_record_and_says_why() -> None:
    """The result still carries the previous state for Roll back, and the unblock phase names the missing grant."""
    fix = FixProposal(
        target=ObjectRef(kind="StatefulSet", namespace="n", name="db"),
        patch=[PatchOperation(op="replace", path="/spec/template/spec/containers/0/image", value="db:0")],
        summary="s",
        decision_rationale="r",
        risk=Risk.LOW,
    )
    result = await Remediator(cast(KubeGateway, ForbiddenListGateway())).apply(fix)
    assert result.record is not None and result.record.previous["/spec/template"] == STS["spec"]["template"]
    unblock = next(p for p in result.phases if p.name == "unblock")
    assert not unblock.ok and "grant 'list' on 'pods'" in unblock.detail
