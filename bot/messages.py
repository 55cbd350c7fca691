"""Every sentence a person reads in Slack that is not a rendered diagnosis.

One place, so wording stays consistent and each message says what happened and what to do next.
"""

from __future__ import annotations

from aegis.core.targets import USAGE

HELP = (
    "*AEGIS* diagnoses broken Kubernetes workloads and proposes safe fixes.\n"
    "• `/aegis analyze deploy/checkout -n shop` — investigate and post the diagnosis in a thread here\n"
    "• `/aegis analyze pod/api-7f9c-x2x9k -n payments`\n"
    "• `/aegis status` — open incidents\n"
    "• `/aegis help` — this message\n"
    f"{USAGE}. Alerts from Alertmanager open their own threads."
)


def ack_analyzing(target: str) -> str:
    return f"Analyzing {target}… I'll post the diagnosis in a thread in this channel."


def bad_command(problem: str) -> str:
    return f"{problem}\nWrite it as `/aegis analyze TARGET [-n NAMESPACE]`, e.g. `/aegis analyze deploy/checkout -n shop`. `/aegis help` shows more."


def unknown_subcommand(word: str) -> str:
    return f"I don't know `{word}`. Try `/aegis analyze TARGET -n NS`, `/aegis status` or `/aegis help`."


def analysis_failed(target: str, reason: str) -> str:
    return f"⚠️ Could not analyze {target}: {reason}"


def not_authorized(action: str) -> str:
    return (
        f"You are not allowed to {action} AEGIS incidents: only the approvers and approver groups in AEGIS's policy may. "
        "Ask someone on the on-call rota, or an admin to add you (AEGIS_APPROVERS / AEGIS_APPROVER_GROUPS)."
    )


def already_closed(incident_id: str, state: str) -> str:
    return f"{incident_id} is already {state}: nothing changed."


def outdated_proposal(incident_id: str) -> str:
    return f"This proposal for {incident_id} has been superseded by a newer one in the thread: nothing changed. Use the buttons on the latest diagnosis."


def unknown_incident(incident_id: str) -> str:
    return f"I have no incident {incident_id} (it may belong to another AEGIS installation): nothing changed."


def no_open_incidents() -> str:
    return "No open incidents. 🎉"


def needs_live_cluster(action: str) -> str:
    return f"{action} needs a live cluster: this AEGIS runs on a snapshot (read-only). Nothing changed."


def alert_without_target() -> str:
    return (
        "This alert names no Kubernetes workload (labels namespace + pod/deployment/statefulset/daemonset/cronjob/job_name/"
        "persistentvolumeclaim), so there is nothing to analyze."
    )


def new_alerts_firing(count: int, names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"🔔 {count} new alert{'s' if count != 1 else ''} firing in this group: {shown}"


def resolved_by_alertmanager() -> str:
    return "✅ Alertmanager reports every alert of this group resolved."


def post_failed(reason: str) -> str:
    return f"AEGIS could not post to Slack ({reason}); the incident is recorded and will show in `/aegis status`."


def no_fix(incident_id: str) -> str:
    return f"{incident_id} has no proposed fix (AEGIS found no safe patch): there is nothing to verify or apply. Follow the manual steps in the thread."


def cannot_now(incident_id: str, action: str, state: str) -> str:
    return f"{incident_id} is {state}: AEGIS cannot {action} it now, and nothing changed. The buttons on the diagnosis show what is possible."


def apply_refused(reason: str) -> str:
    return f"Apply refused: {reason}. Nothing changed."


def action_failed(action: str, reason: str) -> str:
    return f"Could not {action}: {reason}"
