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
    return f"🔔 {count} new alert{'s' if count != 1 else ''} firing on this workload: {shown}"


def resolved_by_alertmanager() -> str:
    return "✅ Alertmanager reports every alert of this incident resolved."


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


def step_interrupted(incident_id: str, note: str) -> str:
    return f"⚠️ {incident_id}: {note}"


def outcome(action: str, refusal: str, detail: str) -> str:
    """The private reply to a click the lifecycle refused (core.incidents.view.Refusal values)."""
    if action in ("silence", "unsilence", "ack") and refusal != "unknown_incident":
        return silence_outcome(action, refusal, detail)
    verbs = {"verify": "Verify in shadow", "apply": "Apply fix", "rollback": "Roll back", "reject": "Reject"}
    doing = {"verify": "verify", "apply": "apply", "rollback": "roll back", "reject": "reject"}.get(action, action)
    if refusal == "unknown_incident":
        return unknown_incident(detail)
    if refusal == "read_only":
        return needs_live_cluster(verbs.get(action, action))
    if refusal == "not_authorized":
        return not_authorized(doing)
    if refusal == "stale":
        return outdated_proposal(detail)
    if refusal == "no_fix":
        return no_fix(detail)
    if refusal == "not_now":
        return f"That incident is {detail}: AEGIS cannot {doing} it now, and nothing changed. The buttons on the diagnosis show what is possible."
    if refusal == "policy":
        return apply_refused(detail)
    if refusal == "mode":
        mode, _, namespace = detail.partition(" ")
        return mode_forbids(doing, mode, namespace)
    if refusal == "expired":
        return proposal_expired(detail)
    if refusal == "changed":
        return workload_changed(detail)
    if refusal == "unchecked":
        return f"AEGIS will not {doing} this fix: it {detail}. Nothing changed. Try again when the workload can be read, or re-analyze it."
    if refusal == "unmapped":
        return (
            f"AEGIS acts in Kubernetes as the person who clicks, and you are not in its identity map (AEGIS_IDENTITY_MAP), so it cannot {doing} "
            "for you. Nothing was sent to the cluster. Ask an admin to map your Slack account to your Kubernetes user."
        )
    return action_failed(doing, detail)


def unknown_button() -> str:
    return "That button is not an AEGIS action I understand: nothing changed. Use the buttons on the latest diagnosis in the thread."


def reject_dialog_failed(reason: str) -> str:
    return f"Could not open the reject dialog ({reason}): nothing changed. Click Reject again."


def bad_submission() -> str:
    return "AEGIS could not read this dialog (it does not look like one AEGIS opened): nothing changed. Close it and click Reject on the diagnosis again."


def mode_forbids(action: str, mode: str, namespace: str) -> str:
    allowed = {"read-only": "only diagnoses", "suggest": "only proposes fixes", "verify": "may verify fixes in a shadow copy but not apply them"}
    return (
        f"AEGIS runs in *{mode}* mode in namespace {namespace}: it {allowed.get(mode, 'may not do that')}, so it cannot {action} here. "
        "Nothing changed. An admin can change AEGIS_MODE / AEGIS_NAMESPACE_MODES."
    )


def proposal_expired(incident_id: str) -> str:
    return (
        f"The proposal for {incident_id} is too old to act on (AEGIS_PROPOSAL_TTL_SECONDS): the workload may have changed since. "
        "Nothing changed. Re-analyze it first."
    )


def workload_changed(incident_id: str) -> str:
    return (
        f"The workload's pod template changed since it was diagnosed ({incident_id}; a deploy, an edit or a restart): the proposal was made "
        "for a template that is gone. Nothing changed. Re-analyze it first."
    )


def watch_result(incident_id: str, held: bool, note: str) -> str:
    return f"{'✅' if held else '⚠️'} {incident_id}: {note}"


def namespace_not_served(namespace: str) -> str:
    return (
        f"This channel does not serve namespace {namespace} (AEGIS_CHANNEL_NAMESPACES; kube-system and protected namespaces are never served "
        "by default), so AEGIS will not read it here. Nothing was opened. Ask in the channel that owns it."
    )


def silenced(user: str, until: str, link: str | None) -> str:
    """A thread reply: `until` is a Slack date token, `link` the silence in Alertmanager (a safe URL) or None."""
    where = f" (<{link}|the silence in Alertmanager>)" if link else ""
    return f"🔕 <@{user}> silenced this workload's alerts in Alertmanager until {until}{where}. Unsilence on the parent lifts it."


def unsilenced(user: str) -> str:
    return f"🔔 <@{user}> lifted the silence: Alertmanager notifies about this workload's alerts again."


def owner_taken(user: str, previous: str | None) -> str:
    return f"👤 <@{user}> took this over from <@{previous}>." if previous else f"👤 <@{user}> is on it."


def not_allowed_to_silence() -> str:
    return (
        "You are not allowed to silence or unsilence alerts from AEGIS threads: only the approvers and the users in AEGIS_SILENCERS may. "
        "Nothing changed. Ask someone on the on-call rota, or an admin to add you to AEGIS_SILENCERS."
    )


def silence_outcome(action: str, refusal: str, detail: str) -> str:
    """The private reply to a Silence, Unsilence or I'm on it click that did not happen."""
    if refusal == "not_authorized":
        return not_allowed_to_silence()
    if refusal == "not_now" and detail == "not silenced":
        return "This incident is not silenced (any more): nothing changed."
    if refusal == "not_now" and action == "ack":
        if detail == "yours":
            return "You are already the owner of this incident: nothing changed."
        return f"That incident is {detail}: there is nothing left to own, and nothing changed."
    if refusal == "not_now":
        return f"That incident is {detail}: its alerts can no longer be silenced from here, and nothing changed. Use Alertmanager's UI if they still fire."
    doing = {"silence": "silence the alerts", "unsilence": "lift the silence", "ack": "record you as the owner"}.get(action, action)
    return f"Could not {doing}: {detail}. Nothing changed."
