"""What Roll back restores: the pod template of a workload, the selector of a Service, the changed fields of a bare Pod."""

from __future__ import annotations

from aegis.core.models import FixProposal, ObjectRef, PatchOperation, Risk
from aegis.core.remediation.remediator import restore_roots


def fix(kind: str, *paths: str) -> FixProposal:
    ops = [PatchOperation(op="replace", path=p, value=1) for p in paths]
    return FixProposal(target=ObjectRef(kind=kind, namespace="n", name="x"), patch=ops, summary="s", decision_rationale="r", risk=Risk.LOW)


def test_roots_per_kind() -> None:
    """Workloads restore /spec/template, Services /spec/selector, bare Pods the exact fields (an append restores its list)."""
    assert restore_roots("Deployment", fix("Deployment", "/spec/template/spec/containers/0/image")) == ["/spec/template"]
    assert restore_roots("Service", fix("Service", "/spec/selector/app")) == ["/spec/selector"]
    assert restore_roots("Pod", fix("Pod", "/spec/containers/0/image", "/spec/containers/0/env/-")) == ["/spec/containers/0/image", "/spec/containers/0/env"]
