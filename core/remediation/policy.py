"""The policy gate for Apply: every refusal says why, in a sentence a person can act on.

The caller (the bot) decides whether the approver is authorized (its Authorizer knows Slack user
ids and groups) and passes the decision in; the gate adds what does not depend on Slack:
four-eyes, the shadow pass, protected namespaces, and the fields a fix of its class may change
(the same allowlist the LLM guards use, `core.analyzers.scope`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from aegis.core.config import Settings
from aegis.core.fixes import scope
from aegis.core.incidents import states
from aegis.core.models import Incident, IncidentState

ALWAYS_PROTECTED = frozenset({"kube-system"})


class Mode(StrEnum):
    """How far AEGIS may go in a namespace: the trust ladder, one rung at a time."""

    READ_ONLY = "read-only"  # diagnose only
    SUGGEST = "suggest"  # the fix is shown; nothing runs
    VERIFY = "verify"  # Verify in shadow; no Apply
    APPLY = "apply"  # Verify, Apply and Roll back


# Reject closes an incident and changes nothing, so every mode allows it.
_PERMITS: dict[Mode, frozenset[states.Action]] = {
    Mode.READ_ONLY: frozenset({states.Action.REJECT}),
    Mode.SUGGEST: frozenset({states.Action.REJECT}),
    Mode.VERIFY: frozenset({states.Action.REJECT, states.Action.VERIFY}),
    Mode.APPLY: frozenset({states.Action.REJECT, states.Action.VERIFY, states.Action.APPLY, states.Action.ROLLBACK}),
}


@dataclass(frozen=True)
class RemediationPolicy:
    require_shadow_pass: bool = True
    four_eyes: bool = False
    protected_namespaces: frozenset[str] = ALWAYS_PROTECTED
    mode: Mode = Mode.APPLY
    namespace_modes: tuple[tuple[str, Mode], ...] = field(default_factory=tuple)
    proposal_ttl_seconds: float = 3600.0
    apply_watch_seconds: float = 300.0
    auto_rollback: bool = False
    channel_namespaces: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)
    shadow_as_user: bool = False  # the shadow's contents are created as the person who clicked Verify

    @classmethod
    def from_settings(cls, settings: Settings) -> RemediationPolicy:
        return cls(
            require_shadow_pass=settings.require_shadow_pass,
            four_eyes=settings.four_eyes,
            protected_namespaces=ALWAYS_PROTECTED | frozenset(settings.protected_namespaces),
            mode=Mode(settings.mode),
            namespace_modes=tuple((glob, Mode(mode)) for glob, mode in settings.namespace_modes),
            proposal_ttl_seconds=settings.proposal_ttl_seconds,
            apply_watch_seconds=settings.apply_watch_seconds,
            auto_rollback=settings.auto_rollback,
            channel_namespaces=tuple((channel, tuple(globs)) for channel, globs in settings.channel_namespaces.items()),
            shadow_as_user=settings.shadow_as_user,
        )

    def serves(self, channel: str | None, namespace: str) -> bool:
        """Whether a thread in `channel` may be about `namespace` (AEGIS_CHANNEL_NAMESPACES). Unset: every namespace but
        the protected ones; set: only the channel's globs (a channel not listed gets none)."""
        if not self.channel_namespaces:
            return namespace not in self.protected_namespaces
        globs = dict(self.channel_namespaces).get(channel or "", ())
        return any(fnmatch.fnmatchcase(namespace, glob) for glob in globs)

    def mode_for(self, namespace: str) -> Mode:
        """AEGIS_NAMESPACE_MODES' first glob that matches the namespace, else AEGIS_MODE."""
        return next((mode for glob, mode in self.namespace_modes if fnmatch.fnmatchcase(namespace, glob)), self.mode)

    def permits(self, action: states.Action, namespace: str) -> bool:
        """Whether the namespace's mode allows the action at all (the state and the person are checked elsewhere)."""
        return action in _PERMITS[self.mode_for(namespace)]

    def expired(self, incident: Incident, now: datetime | None = None) -> bool:
        """Whether the incident's proposal is older than the TTL (its diagnosis time)."""
        if incident.diagnosis is None:
            return False
        age = (now or datetime.now(UTC)) - incident.diagnosis.analyzed_at
        return age.total_seconds() > self.proposal_ttl_seconds

    def applicable_states(self) -> frozenset[IncidentState]:
        """The states Apply may start from: the lifecycle table's, narrowed to VERIFIED when a shadow pass is required."""
        proposed = states.allowed_from(states.Action.APPLY)
        return proposed & {IncidentState.VERIFIED} if self.require_shadow_pass else proposed


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str


def check(
    policy: RemediationPolicy, incident: Incident, *, approved_by: str, authorized: bool, authz_reason: str = "", verified_by: str | None = None
) -> GateDecision:
    """Whether `approved_by` may apply the incident's fix now; the first reason that refuses.

    `verified_by`: who clicked Verify in shadow for this proposal; with four-eyes neither they nor whoever asked
    for the analysis may apply it (an alert's incident has no requester, so its verifier counts)."""
    diagnosis = incident.diagnosis
    if diagnosis is None or diagnosis.fix is None:
        return GateDecision(False, f"{incident.id} has no proposed fix: there is nothing to apply")
    fix = diagnosis.fix
    if not authorized:
        return GateDecision(False, f"{approved_by} may not approve fixes ({authz_reason or 'not an approver'})")
    if policy.four_eyes and incident.requested_by and incident.requested_by == approved_by:
        return GateDecision(False, "four-eyes policy: the person who asked for the analysis cannot approve its fix; ask another approver")
    if policy.four_eyes and verified_by and verified_by == approved_by:
        return GateDecision(False, "four-eyes policy: the person who verified the fix cannot also apply it; ask another approver")
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
