"""Block Kit for incident threads: pure functions, models in, SlackMessage out.

Built with slack_sdk.models.blocks so the SDK validates each block; `fit()` then keeps a message
inside Slack's limits (50 blocks, 3,000 characters a section, ~12k characters in all) by cutting
with a pointer, never by failing the post. Every message has a real-sentence fallback `text`:
push notifications and screen readers read only that (notes/slack-ux.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from aegis.core.models import Diagnosis, Incident, IncidentState

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_TOTAL = 12000
MAX_STEPS = 8
MAX_EVIDENCE = 10
CUT = "… (cut to fit Slack; `aegis analyze` or the attached file has the full text)"

ACTION_REJECT = "aegis.reject"
ACTION_VERIFY = "aegis.verify"
ACTION_APPLY = "aegis.apply"
ACTION_ROLLBACK = "aegis.rollback"

_STATUS = {
    IncidentState.OPEN: ("🔴", "OPEN"),
    IncidentState.INVESTIGATING: ("🔎", "INVESTIGATING"),
    IncidentState.DIAGNOSED: ("🟠", "DIAGNOSED"),
    IncidentState.VERIFYING: ("🧪", "VERIFYING"),
    IncidentState.VERIFIED: ("🟢", "VERIFIED"),
    IncidentState.VERIFICATION_FAILED: ("🟥", "VERIFICATION FAILED"),
    IncidentState.APPLYING: ("🛠️", "APPLYING"),
    IncidentState.APPLIED: ("🟢", "FIX APPLIED"),
    IncidentState.APPLY_FAILED: ("🟥", "APPLY FAILED"),
    IncidentState.RESOLVED: ("✅", "RESOLVED"),
    IncidentState.REJECTED: ("⚪", "REJECTED"),
    IncidentState.ROLLED_BACK: ("↩️", "ROLLED BACK"),
}
_LIFECYCLE = [
    ("Investigated", {IncidentState.DIAGNOSED, IncidentState.VERIFYING, IncidentState.VERIFIED, IncidentState.VERIFICATION_FAILED,
                      IncidentState.APPLYING, IncidentState.APPLIED, IncidentState.APPLY_FAILED, IncidentState.RESOLVED,
                      IncidentState.REJECTED, IncidentState.ROLLED_BACK}),
    ("Verified", {IncidentState.VERIFIED, IncidentState.APPLYING, IncidentState.APPLIED, IncidentState.APPLY_FAILED, IncidentState.RESOLVED}),
    ("Applied", {IncidentState.APPLIED, IncidentState.RESOLVED}),
    ("Resolved", {IncidentState.RESOLVED}),
]  # fmt: skip


class SlackMessage(BaseModel):
    """What chat.postMessage / chat.update receive: fallback text and Block Kit blocks."""

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[dict[str, Any]]


class Links(BaseModel):
    """Where to look next, scoped to the incident (Grafana dashboard, Loki in Explore)."""

    model_config = ConfigDict(frozen=True)

    grafana: str | None = None
    loki: str | None = None


def escape(text: str) -> str:
    """Slack mrkdwn control characters (&, <, >) as entities, so user text cannot form links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def date_token(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """`<!date^…>`: Slack shows each reader the time in their own zone."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{fmt}|{moment.strftime('%Y-%m-%d %H:%M UTC')}>"


def status_word(state: IncidentState) -> str:
    emoji, word = _STATUS[state]
    return f"{emoji} {word}"


def subject(incident: Incident) -> str:
    if incident.target:
        return f"{incident.target.kind.lower()}/{incident.target.name} -n {incident.target.namespace}"
    return incident.title


def fallback_text(incident: Incident) -> str:
    """`🔴 DIAGNOSED · critical · CrashLoopBackOff shop/checkout (INC-142)`: a real sentence for notifications."""
    cause = f" {incident.diagnosis.rca.category.value}" if incident.diagnosis else ""
    return f"{status_word(incident.state)} · {incident.severity} ·{cause} {subject(incident)} ({incident.id})"


def parent(incident: Incident) -> SlackMessage:
    """The one parent message of an incident, edited in place at every state change."""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(text=f"*{status_word(incident.state)}* · {escape(incident.severity)} · *{escape(incident.title)}* ({incident.id})")
        ),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(_context_bits(incident)) + f" · started {date_token(incident.created_at)}")]),
    ]
    if incident.diagnosis:
        rca = incident.diagnosis.rca
        fix = "fix proposed in thread" if incident.diagnosis.fix else "no automatic fix; see thread"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=f"Likely cause: *{rca.category.value}* ({rca.confidence:.0%}) — {escape(_clip(rca.summary, 400))} · {fix}")
            )
        )
    elif incident.target is None:
        details = [f"`{escape(k)}`={escape(v)}" for k, v in sorted(incident.labels.items())]
        details += [f"*{escape(k)}*: {escape(v)}" for k, v in sorted(incident.annotations.items())]
        if details:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip("\n".join(details), MAX_SECTION))))
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text="No Kubernetes target in the alert labels (namespace with pod, deployment, statefulset or daemonset): nothing to analyze."
                    )
                ]
            )
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=lifecycle_line(incident))]))
    if incident.repeat_count:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"fired {incident.repeat_count + 1}× · last {date_token(incident.updated_at, '{time}')}")])
        )
    return fit(fallback_text(incident), blocks)


def lifecycle_line(incident: Incident) -> str:
    parts = []
    for label, done_states in _LIFECYCLE:
        parts.append(f"{'✅' if incident.state in done_states else '◻'} {label}")
    if incident.state is IncidentState.REJECTED:
        parts.append("⚪ Rejected")
    return " · ".join(parts)


def _context_bits(incident: Incident) -> list[str]:
    """mrkdwn pieces: names and labels escaped, the requester a real mention (escaping the whole line showed `<@U…>` literally)."""
    bits = []
    if incident.target:
        bits += [f"namespace {escape(incident.target.namespace)}", f"{incident.target.kind.lower()} {escape(incident.target.name)}"]
    if incident.diagnosis and incident.diagnosis.workload and incident.diagnosis.workload != incident.target:
        bits.append(f"workload {incident.diagnosis.workload.kind.lower()}/{escape(incident.diagnosis.workload.name)}")
    if incident.source.value == "alertmanager":
        bits.append(f"alert {escape(incident.labels.get('alertname', '?'))}")
    elif incident.requested_by:
        bits.append(f"via <@{escape(incident.requested_by)}> /aegis")
    return bits


def investigating(incident: Incident) -> SlackMessage:
    text = f"🔎 Investigating {subject(incident)}: collecting status, events, logs and recent changes…"
    return fit(text, [SectionBlock(text=MarkdownTextObject(text=escape(text)))])


def diagnosis_reply(incident: Incident, diagnosis: Diagnosis, links: Links | None = None, *, actions: Sequence[str] = (ACTION_REJECT,)) -> SlackMessage:
    """The diagnosis as a thread reply: cause, steps, evidence, the fix and why, and the buttons that work now."""
    rca = diagnosis.rca
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"Diagnosis: {rca.category.value} ({rca.confidence:.0%})", 150))),
        SectionBlock(text=MarkdownTextObject(text=_clip(escape(rca.summary), MAX_SECTION))),
    ]
    steps = [f"{n}. {escape(step)}" for n, step in enumerate(rca.analysis_steps[:MAX_STEPS], start=1)]
    if len(rca.analysis_steps) > MAX_STEPS:
        steps.append(f"_…{len(rca.analysis_steps) - MAX_STEPS} more steps in the full report_")
    blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip("*Analysis*\n" + "\n".join(steps), MAX_SECTION))))
    by_id = {e.id: e for e in diagnosis.evidence}
    bullets = []
    for eid in rca.evidence_ids[:MAX_EVIDENCE]:
        evidence = by_id.get(eid)
        if evidence is None:
            continue
        link = f" <{evidence.link}|open>" if evidence.link else ""
        bullets.append(f"• *{eid}* _{evidence.kind.value}_ {escape(_clip(evidence.summary, 280))}{link}")
    if bullets:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip("*Evidence*\n" + "\n".join(bullets), MAX_SECTION))))
    log_excerpt = next((by_id[e].excerpt for e in rca.evidence_ids if e in by_id and by_id[e].kind.value == "log" and by_id[e].excerpt), "")
    if log_excerpt:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_code(log_excerpt, 1200))))
    if diagnosis.fix:
        fix = diagnosis.fix
        blocks.append(DividerBlock())
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=_clip(
                        f"*Proposed fix* on `{fix.target.kind.lower()}/{escape(fix.target.name)}` "
                        f"(JSON patch, {len(fix.patch)} ops, {fix.risk.value} risk): {escape(fix.summary)}",
                        MAX_SECTION,
                    )
                )
            )
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_code(fix.diff, 2400))))
        why = f"*Why this fix* {escape(fix.decision_rationale)}"
        if fix.risk_notes:
            why += f"\n*Impact* {escape(fix.risk_notes)}"
        if fix.alternatives_rejected:
            why += "\n*Ruled out*\n" + "\n".join(f"✗ {escape(a)}" for a in fix.alternatives_rejected[:4])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(why, MAX_SECTION))))
    else:
        manual = "\n".join(f"→ {escape(step)}" for step in diagnosis.manual_steps) or "→ Read the evidence above."
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(f"*No safe automatic fix.* What to do by hand:\n{manual}", MAX_SECTION))))
    buttons = _buttons(incident, diagnosis, actions)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"actions:{incident.id}:{incident.proposal_revision}", elements=buttons))
    footer = [f"{incident.id} · proposal r{incident.proposal_revision} · analyzed {date_token(diagnosis.analyzed_at)} in {diagnosis.duration_ms:.0f} ms"]
    if links and links.grafana:
        footer.append(f"<{links.grafana}|Grafana dashboard>")
    if links and links.loki:
        footer.append(f"<{links.loki}|Loki logs>")
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=" · ".join(footer))]))
    for note in diagnosis.notes[:2]:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(f"note: {escape(note)}", 300))]))
    text = f"{incident.id}: {rca.category.value} ({rca.confidence:.0%}) on {subject(incident)} — {rca.summary}"
    return fit(_clip(text, 3000), blocks)


def action_value(incident: Incident) -> str:
    """A button's value carries the proposal revision, so a click on an outdated proposal is refused."""
    return json.dumps({"incident": incident.id, "rev": incident.proposal_revision}, separators=(",", ":"))


def _buttons(incident: Incident, diagnosis: Diagnosis, actions: Sequence[str]) -> list[ButtonElement]:
    value = action_value(incident)
    target = diagnosis.fix.target if diagnosis.fix else incident.target
    where = f"{target.kind.lower()}/{target.name} in {target.namespace}" if target else incident.title
    made: list[ButtonElement] = []
    if ACTION_VERIFY in actions and diagnosis.fix:
        made.append(ButtonElement(text="Verify in shadow", action_id=ACTION_VERIFY, value=value, style="primary"))
    if ACTION_APPLY in actions and diagnosis.fix:
        made.append(
            ButtonElement(
                text="Apply fix…",
                action_id=ACTION_APPLY,
                value=value,
                style="danger",
                confirm=ConfirmObject(
                    title="Apply this fix?", text=_clip(f"Patch {where}: {diagnosis.fix.summary}", 300), confirm="Apply", deny="Cancel", style="danger"
                ),
            )
        )
    if ACTION_ROLLBACK in actions:
        restore = f"Restore {where} as it was before the fix."
        if target and target.kind == "StatefulSet":
            restore += " Its pods that are not Ready on the fix's revision are evicted, or the StatefulSet would wait for them forever."
        made.append(
            ButtonElement(
                text="Roll back…",
                action_id=ACTION_ROLLBACK,
                value=value,
                style="danger",
                confirm=ConfirmObject(title="Roll back the fix?", text=_clip(restore, 300), confirm="Roll back", deny="Cancel"),
            )
        )
    if ACTION_REJECT in actions:
        made.append(ButtonElement(text="Reject…", action_id=ACTION_REJECT, value=value))
    return made


def closed_note(incident: Incident, actor: str, verb: str, reason: str, at: datetime) -> SlackMessage:
    """A thread reply recording who closed or changed the incident, when and why."""
    why = f": {escape(reason)}" if reason else ""
    text = f"{status_word(incident.state)} — {verb} by <@{actor}> at {date_token(at)}{why}"
    return fit(f"{incident.id} {verb} by {actor}{': ' + reason if reason else ''}", [SectionBlock(text=MarkdownTextObject(text=_clip(text, MAX_SECTION)))])


def superseded(message_blocks: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """The same message without its buttons, with a note: used when a proposal is outdated or decided."""
    kept = [b for b in message_blocks if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return kept


def fit(text: str, blocks: Sequence[Block | dict[str, Any]]) -> SlackMessage:
    """Serialize (validating each block) and keep the message inside Slack's limits."""
    dicts = [b.to_dict() if isinstance(b, Block) else dict(b) for b in blocks]
    if len(dicts) > MAX_BLOCKS:
        dicts = [
            *dicts[: MAX_BLOCKS - 1],
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…{len(dicts) - MAX_BLOCKS + 1} more blocks not shown"}]},
        ]
    total = 0
    kept: list[dict[str, Any]] = []
    for block in dicts:
        size = len(json.dumps(block, ensure_ascii=False))
        if total + size > MAX_TOTAL:
            kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": CUT}]})
            break
        total += size
        kept.append(block)
    return SlackMessage(text=_clip(text, 3000), blocks=kept)


def block_kit_builder_url(message: SlackMessage) -> str:
    """A Block Kit Builder link that previews the message without a workspace."""
    return "https://app.slack.com/block-kit-builder#" + quote(json.dumps({"blocks": message.blocks}, separators=(",", ":")), safe="")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(CUT) - 1)] + "\n" + CUT


def _code(text: str, limit: int) -> str:
    body = text.replace("```", "ʼʼʼ")
    if len(body) > limit:
        body = body[:limit] + "\n… (cut; full text attached in the thread)"
    return f"```{body}```"
