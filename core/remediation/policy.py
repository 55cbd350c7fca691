"""The policy gate for Apply: every refusal says why, in a sentence a person can act on.

The caller (the bot) decides whether the approver is authorized (its Authorizer knows Slack user
ids and groups) and passes the decision in; the gate adds what does not depend on Slack:
four-eyes, the shadow pass, protected namespaces, and the fields a fix of its class may change
(the same allowlist the LLM guards use, `core.analyzers.scope`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aegis.core.config import Settings
from aegis.core.fixes import scope
from aegis.core.incidents import states
from aegis.core.models import Incident, IncidentState

ALWAYS_PROTECTED = frozenset({"kube-system"})


@dataclass(frozen=True)
class RemediationPolicy:
    require_shadow_pass: bool = True
    four_eyes: bool = False
    protected_namespaces: frozenset[str] = ALWAYS_PROTECTED

    @classmethod
    def from_settings(cls, settings: Settings) -> RemediationPolicy:
        return cls(
            require_shadow_pass=settings.require_shadow_pass,
            four_eyes=settings.four_eyes,
            protected_namespaces=ALWAYS_PROTECTED | frozenset(settings.protected_namespaces),
        )

    def applicable_states(self) -> frozenset[IncidentState]:
        """The states Apply may start from: the lifecycle table's, narrowed to VERIFIED when a shadow pass is required."""
        proposed = states.allowed_from(states.Action.APPLY)
        return proposed & {IncidentState.VERIFIED} if self.require_shadow_pass else proposed


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str


def check(policy: RemediationPolicy, incident: Incident, *, approved_by: str, authorized: bool, authz_reason: str = "") -> GateDecision:
    """Whether `approved_by` may apply the incident's fix now; the first reason that refuses."""
    diagnosis = incident.diagnosis
    if diagnosis is None or diagnosis.fix is None:
        return GateDecision(False, f"{incident.id} has no proposed fix: there is nothing to apply")
    fix = diagnosis.fix
    if not authorized:
        return GateDecision(False, f"{approved_by} may not approve fixes ({authz_reason or 'not an approver'})")
    if policy.four_eyes and incident.requested_by and incident.requested_by == approved_by:
        return GateDecision(False, "four-eyes policy: the person who asked for the analysis cannot approve its fix; ask another approver")
    if fix.target.namespace in policy.protected_namespaces:
        return GateDecision(False, f"namespace {fix.target.namespace} is protected (AEGIS_PROTECTED_NAMESPACES): AEGIS never patches it; apply the fix by hand")
    if policy.require_shadow_pass and incident.state is not IncidentState.VERIFIED:
        return GateDecision(False, f"the fix has not passed a shadow verification (state: {incident.state.value}); click Verify in shadow first")
    if incident.state not in policy.applicable_states():
        return GateDecision(False, f"{incident.id} is {incident.state.value}: Apply is not possible now")
    if fix.target.kind not in scope.target_kinds(diagnosis.rca.category):
        return GateDecision(False, f"a {diagnosis.rca.category.value} fix may not change a {fix.target.kind}")
    for op in fix.patch:
        if op.op == "test":
            continue
        path = op.path[:-2] if op.path.endswith("/-") else op.path
        if not scope.allows(diagnosis.rca.category, fix.target.kind, path):
            return GateDecision(False, f"the patch changes {op.path}, which a {diagnosis.rca.category.value} fix may not touch")
    return GateDecision(True, "ok")
