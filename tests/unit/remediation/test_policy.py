"""The policy gate: authorization, four-eyes, the shadow pass, protected namespaces and the fields a fix class may change."""

from __future__ import annotations

from datetime import UTC, datetime

from aegis.core.models import (
    Category,
    Diagnosis,
    FixProposal,
    Incident,
    IncidentId,
    IncidentSource,
    IncidentState,
    ObjectRef,
    PatchOperation,
    RCAResult,
    Risk,
)
from aegis.core.remediation.policy import RemediationPolicy, check

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def incident(state: IncidentState = IncidentState.VERIFIED, namespace: str = "shop", path: str = "/spec/template/spec/containers/0/env/-") -> Incident:
    target = ObjectRef(kind="Deployment", namespace=namespace, name="checkout")
    fix = FixProposal(
        target=target,
        patch=[PatchOperation(op="test", path="/spec/template/spec/containers/0/name", value="app"), PatchOperation(op="add", path=path, value={"name": "A"})],
        summary="add env",
        decision_rationale="because",
        risk=Risk.LOW,
    )
    rca = RCAResult(category=Category.MISSING_ENV_VAR, summary="s", confidence=0.9, analysis_steps=[], evidence_summary=[], evidence_ids=[])
    diagnosis = Diagnosis(target=target, workload=target, rca=rca, evidence=[], fix=fix, analyzed_at=NOW)
    return Incident(
        id=IncidentId("INC-1"), source=IncidentSource.SLASH_COMMAND, state=state, title="t", target=target, requested_by="U_REQ",
        diagnosis=diagnosis, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def test_an_authorized_approver_of_a_verified_fix_is_allowed() -> None:
    """Authorized, verified, an ordinary namespace, an env change for a missing-env fix: allowed."""
    assert check(RemediationPolicy(), incident(), approved_by="U_OK", authorized=True).allowed


def test_unauthorized_is_refused_with_the_reason() -> None:
    """The Authorizer's refusal is the gate's refusal, with its reason."""
    decision = check(RemediationPolicy(), incident(), approved_by="U_NO", authorized=False, authz_reason="not an approver")
    assert not decision.allowed and "not an approver" in decision.reason


def test_four_eyes_refuses_the_requester() -> None:
    """With four-eyes on, whoever asked for the analysis cannot approve its fix; others can."""
    policy = RemediationPolicy(four_eyes=True)
    assert "four-eyes" in check(policy, incident(), approved_by="U_REQ", authorized=True).reason
    assert check(policy, incident(), approved_by="U_OTHER", authorized=True).allowed


def test_shadow_pass_is_required_by_default() -> None:
    """A diagnosed but unverified fix is refused by default and allowed when the policy does not require a pass."""
    refused = check(RemediationPolicy(), incident(IncidentState.DIAGNOSED), approved_by="U", authorized=True)
    assert not refused.allowed and "Verify in shadow" in refused.reason
    assert check(RemediationPolicy(require_shadow_pass=False), incident(IncidentState.DIAGNOSED), approved_by="U", authorized=True).allowed


def test_protected_namespaces_are_refused() -> None:
    """kube-system is always protected; configured namespaces too."""
    assert "protected" in check(RemediationPolicy(), incident(namespace="kube-system"), approved_by="U", authorized=True).reason
    policy = RemediationPolicy(protected_namespaces=frozenset({"kube-system", "payments"}))
    assert not check(policy, incident(namespace="payments"), approved_by="U", authorized=True).allowed


def test_a_patch_outside_the_fix_class_fields_is_refused() -> None:
    """A missing-env fix that changes the image is outside its allowlist: refused, naming the path."""
    decision = check(RemediationPolicy(), incident(path="/spec/template/spec/containers/0/image"), approved_by="U", authorized=True)
    assert not decision.allowed and "/spec/template/spec/containers/0/image" in decision.reason
