"""What the MCP tools may do in a namespace: read it at all, and run a shadow verification.

Today the answer comes from the settings every surface shares: protected namespaces
(`AEGIS_PROTECTED_NAMESPACES`, kube-system always) are excluded, AEGIS's own shadow namespaces
are not incidents, and a read-only source (a snapshot) cannot host a shadow.
`verification_allowed` reads the per-namespace mode (AEGIS_MODE / AEGIS_NAMESPACE_MODES): only
`verify` and `apply` allow it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aegis.core.config import Settings
from aegis.core.incidents.states import Action
from aegis.core.remediation.policy import RemediationPolicy

SHADOW_PREFIX = "aegis-shadow-"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOWED = Decision(True)


def namespace_allowed(settings: Settings, namespace: str) -> Decision:
    """Whether AEGIS looks at `namespace` at all through MCP; the refusal says what to do instead."""
    if namespace in RemediationPolicy.from_settings(settings).protected_namespaces:
        return Decision(
            False,
            f"namespace {namespace} is excluded by the configuration (AEGIS_PROTECTED_NAMESPACES; kube-system always): "
            "AEGIS does not diagnose or verify there; inspect it with kubectl, or ask whoever runs AEGIS to change the setting",
        )
    if namespace.startswith(SHADOW_PREFIX):
        return Decision(
            False, f"namespace {namespace} is one of AEGIS's own throwaway shadow copies, not an incident; diagnose the production workload instead"
        )
    return ALLOWED


def verification_allowed(settings: Settings, namespace: str, *, read_only: bool) -> Decision:
    """Whether a shadow verification of a fix for a workload in `namespace` may run now."""
    if read_only:
        return Decision(
            False,
            "shadow verification needs a live cluster: this server reads a snapshot (aegis mcp --snapshot); "
            "start `aegis mcp` without --snapshot against the cluster to verify",
        )
    policy = RemediationPolicy.from_settings(settings)
    if not policy.permits(Action.VERIFY, namespace):
        mode = policy.mode_for(namespace).value
        return Decision(
            False,
            f"AEGIS runs in {mode} mode in namespace {namespace} (AEGIS_MODE / AEGIS_NAMESPACE_MODES): it does not verify fixes there; "
            "read the proposed fix in the diagnosis, or ask whoever runs AEGIS for verify or apply mode",
        )
    return namespace_allowed(settings, namespace)
