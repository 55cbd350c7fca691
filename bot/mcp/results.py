"""Pure shaping of MCP answers: redaction, thread links, the Apply note, error texts.

Everything a tool returns passes through `redacted` (the same masking as logs and Slack), so a
value that slipped past collection-time redaction does not reach an assistant's context either.
Error texts say what happened and what to do next, as the CLI's and Slack's do.
"""

from __future__ import annotations

from typing import Any

from aegis.core import redaction
from aegis.core.errors import AegisError, ClusterUnreachableError, ForbiddenError, NotFoundError, UsageError
from aegis.core.models import Incident, IncidentState
from aegis.core.report import AnalysisReport
from aegis.core.targets import USAGE

SLACK_BASE = "https://slack.com"

APPLY_NOTE = (
    "AEGIS never applies a fix from here. Apply stays a person's click on **Apply fix** in the incident's Slack thread, "
    "after the policy checks (approver, shadow pass, protected namespaces)."
)


# A fix's patch and diff are computed from objects `redaction.redact_object` already cleaned at
# collection; masking their text again would corrupt them (the free-text key=value rule reads
# `secretKeyRef:` and the next diff line as a credential), and the patch must stay the one proposed.
_COMPUTED_FROM_REDACTED = frozenset({"patch", "diff"})


def redacted(value: Any) -> Any:
    """`value` (JSON-shaped) with every free-text string masked; keys and structure kept so the JSON stays valid."""
    if isinstance(value, str):
        return redaction.mask(value)
    if isinstance(value, dict):
        return redacted_dict(value)
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def redacted_dict(value: dict[str, Any]) -> dict[str, Any]:
    """`redacted` for a JSON object (the shape every tool answer has)."""
    return {k: v if k in _COMPUTED_FROM_REDACTED else redacted(v) for k, v in value.items()}


def thread_link(incident: Incident, workspace_url: str | None) -> str | None:
    """The Slack permalink of the incident's thread, or None when it has none yet."""
    if not incident.channel or not incident.thread_ts:
        return None
    base = (workspace_url or SLACK_BASE).rstrip("/")
    return f"{base}/archives/{incident.channel}/p{incident.thread_ts.replace('.', '')}"


def apply_note(incident: Incident | None, workspace_url: str | None) -> str:
    """What a person does to apply: the thread to open, or how to get one."""
    link = thread_link(incident, workspace_url) if incident else None
    if incident is not None and link:
        return f"{APPLY_NOTE} Incident {incident.id} ({incident.state.value}): {link}"
    return f"{APPLY_NOTE} No incident thread exists for this target yet: run `/aegis analyze TARGET -n NAMESPACE` in Slack to open one."


def incident_summary(incident: Incident, workspace_url: str | None) -> dict[str, Any]:
    """One line of `list_incidents`: what it is, where it stands, where its thread is."""
    return redacted_dict(
        {
            "id": incident.id,
            "state": incident.state.value,
            "title": incident.title,
            "severity": incident.severity,
            "source": incident.source.value,
            "target": incident.target.model_dump() if incident.target else None,
            "category": incident.diagnosis.rca.category.value if incident.diagnosis else None,
            "created_at": incident.created_at.isoformat(),
            "updated_at": incident.updated_at.isoformat(),
            "thread": thread_link(incident, workspace_url),
        }
    )


def incident_detail(incident: Incident, transitions: list[dict[str, Any]], workspace_url: str | None) -> dict[str, Any]:
    """`get_incident`: the summary, its diagnosis as the `--output json` contract, and its history."""
    detail = incident_summary(incident, workspace_url)
    detail["diagnosis"] = AnalysisReport.from_diagnosis(incident.diagnosis).model_dump(mode="json") if incident.diagnosis else None
    detail["last_error"] = incident.last_error
    detail["transitions"] = transitions
    detail["apply"] = apply_note(incident, workspace_url) if incident.state in _APPLY_STATES else None
    return redacted_dict(detail)


_APPLY_STATES = frozenset({IncidentState.DIAGNOSED, IncidentState.VERIFIED, IncidentState.VERIFICATION_FAILED})


def explain(exc: AegisError) -> str:
    """An error as a tool error: what happened, and what the caller (a person or an agent) does next."""
    text = redaction.mask(str(exc))
    if isinstance(exc, NotFoundError):
        where = f" -n {exc.namespace}" if exc.namespace else ""
        return f"{text}. Check the name and namespace (kubectl get {exc.kind.lower()}{where}); {USAGE}."
    if isinstance(exc, ClusterUnreachableError):
        return (
            f"{text}. Check that the API server is up and that the kubeconfig and context are right "
            "(AEGIS_KUBECONFIG, AEGIS_KUBE_CONTEXT, or the tool's `context` argument), then call again."
        )
    if isinstance(exc, ForbiddenError | UsageError):
        return text
    return f"{text}."
