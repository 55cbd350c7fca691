"""Block Kit for incident threads: pure functions, models in, SlackMessage out.

Blocks are plain JSON built by small helpers; `fit()` keeps a message inside Slack's limits (50
blocks, ~12k characters in all) and `SlackMessage` clips every text to its own Block Kit limit
(`clip_block`: 3,000 a section, 150 a header, 75 a button, ...) by cutting with a pointer, never
by failing the post. Texts are only clipped, never validated into an exception: whatever an alert
or a diagnosis says, the message renders (tests check the output with slack_sdk's validators).
Every message has a real-sentence fallback `text`: push notifications and screen readers read only
that (notes/slack-ux.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, field_validator

from aegis.core.models import Diagnosis, Incident, IncidentState

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_TOTAL = 12000
MAX_STEPS = 8
MAX_EVIDENCE = 10
MAX_TITLE = 300  # the parent's title line; the labels and annotations below it carry the rest
CUT = "… (cut to fit Slack; `aegis analyze` or the attached file has the full text)"

ACTION_REJECT = "aegis.reject"
ACTION_VERIFY = "aegis.verify"
ACTION_APPLY = "aegis.apply"
ACTION_ROLLBACK = "aegis.rollback"
ACTION_REANALYZE = "aegis.reanalyze"
# The parent's own buttons (who is on it, whether it pages); a silence's hours are in its action id.
ACTION_ACK = "aegis.ack"
ACTION_SILENCE = {1: "aegis.silence.1h", 4: "aegis.silence.4h", 24: "aegis.silence.24h"}
ACTION_UNSILENCE = "aegis.unsilence"
# Annotations people put links in (kubernetes-mixin, Grafana's alerting, common rule packs), first found wins.
RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook")
DASHBOARD_ANNOTATIONS = ("dashboard_url", "grafana_url", "dashboard", "grafana_dashboard_url")

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


BlockDict = dict[str, Any]
"""One Block Kit block as JSON."""


class SlackMessage(BaseModel):
    """What chat.postMessage / chat.update receive: fallback text and Block Kit blocks.

    Every text is clipped to its Block Kit limit on construction (`clip_block`), whoever built the
    message: an alert whose summary is 10,000 characters is posted cut, never refused by Slack.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[dict[str, Any]]

    @field_validator("text")
    @classmethod
    def _fallback_fits(cls, text: str) -> str:
        return clip(text, MAX_FALLBACK)

    @field_validator("blocks")
    @classmethod
    def _blocks_fit(cls, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [clip_block(b) for b in blocks]


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


def parent(incident: Incident, actions: Sequence[str] = (), *, now: datetime | None = None) -> SlackMessage:
    """The one parent message of an incident, edited in place at every state change, with the buttons in `actions`
    (ACTION_ACK, ACTION_SILENCE's, ACTION_UNSILENCE: the thread decides which the incident offers)."""
    # An alert's title (alertname: summary) is whatever Alertmanager sent: show the start of it.
    title = escape(clip(incident.title, MAX_TITLE))
    blocks: list[BlockDict] = [
        _section(f"*{status_word(incident.state)}* · {escape(clip(incident.severity, 40))} · *{title}* ({incident.id})"),
        _context(" · ".join(_context_bits(incident)) + f" · started {date_token(incident.created_at)}"),
    ]
    if incident.diagnosis:
        rca = incident.diagnosis.rca
        fix = "fix proposed in thread" if incident.diagnosis.fix else "no automatic fix; see thread"
        blocks.append(_section(f"Likely cause: *{rca.category.value}* ({rca.confidence:.0%}) — {escape(_clip(rca.summary, 400))} · {fix}"))
    elif incident.target is None:
        details = [f"`{escape(k)}`={escape(v)}" for k, v in sorted(incident.labels.items())]
        details += [f"*{escape(k)}*: {escape(v)}" for k, v in sorted(incident.annotations.items())]
        if details:
            blocks.append(_section(_clip("\n".join(details), MAX_SECTION)))
        blocks.append(_context("No Kubernetes target in the alert labels (namespace with pod, deployment, statefulset or daemonset): nothing to analyze."))
    blocks.append(_context(lifecycle_line(incident)))
    if incident.watch:
        # Only the whole window says the fix held (the watch after Apply).
        icon = "✅" if incident.watch.startswith("held") else "⚠️" if incident.watch.startswith(("regressed", "not confirmed")) else "🔭"
        blocks.append(_context(f"{icon} {escape(incident.watch)}"))
    if incident.repeat_count:
        blocks.append(_context(f"fired {incident.repeat_count + 1}× · last {date_token(incident.updated_at, '{time}')}"))
    blocks.extend(_attention(incident, actions, now or datetime.now(UTC)))
    return fit(fallback_text(incident), blocks)


def _attention(incident: Incident, actions: Sequence[str], now: datetime) -> list[BlockDict]:
    """Who is on it, whether it is silenced, where to look (runbook, dashboard, the alert's source, the silence),
    and the buttons for them."""
    made: list[BlockDict] = []
    people = []
    if incident.owner:
        people.append(f"👤 Owner: <@{escape(incident.owner)}>")
    silence = incident.silence
    if silence is not None and silence.until > now:
        people.append(f"🔕 Silenced until {date_token(silence.until)} by <@{escape(silence.by)}>")
    if people:
        made.append(_context(" · ".join(people)))
    links = alert_links(incident, now)
    if links:
        made.append(_context(" · ".join(f"<{url}|{label}>" for label, url in links)))
    buttons = _parent_buttons(incident, actions)
    if buttons:
        made.append({"type": "actions", "block_id": f"parent:{incident.id}", "elements": buttons})
    return made


def alert_links(incident: Incident, now: datetime | None = None) -> list[tuple[str, str]]:
    """(label, URL) for the parent: the runbook and dashboard annotations, the alert's source (generatorURL) and the
    silence in Alertmanager. Each was redacted at the webhook like all alert text; only http(s) URLs become links."""
    found: list[tuple[str, str]] = []
    for label, keys in (("📕 Runbook", RUNBOOK_ANNOTATIONS), ("📊 Dashboard", DASHBOARD_ANNOTATIONS)):
        url = next((link_url(incident.annotations[k]) for k in keys if link_url(incident.annotations.get(k, ""))), None)
        if url:
            found.append((label, url))
    source = link_url(incident.generator_url or "")
    if source:
        found.append(("📈 Alert source", source))
    silence = incident.silence
    if silence is not None and silence.url and silence.until > (now or datetime.now(UTC)):
        url = link_url(silence.url)
        if url:
            found.append(("🔕 Silence in Alertmanager", url))
    return found


def link_url(value: str) -> str | None:
    """`value` as the URL of a Slack mrkdwn link, or None when it is no http(s) URL.

    The characters that would end or split `<url|label>` (<, >, |) and whitespace are percent-encoded; &
    stays, as in every link AEGIS builds (Slack reads it as is)."""
    url = value.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
        return None
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20").replace("\n", "%0A").replace("\t", "%09")


def _parent_buttons(incident: Incident, actions: Sequence[str]) -> list[BlockDict]:
    value = action_value(incident)
    made: list[BlockDict] = []
    if ACTION_ACK in actions:
        made.append(_button("I'm on it", ACTION_ACK, value, style="primary" if incident.owner is None else None))
    for hours, action_id in ACTION_SILENCE.items():
        if action_id in actions:
            made.append(_button(f"Silence {hours} h", action_id, value))
    if ACTION_UNSILENCE in actions:
        confirm = _confirm("Lift the silence?", "Alertmanager notifies about this workload's alerts again at once.", "Unsilence")
        made.append(_button("Unsilence", ACTION_UNSILENCE, value, confirm=confirm))
    return made


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
        bits += _alert_bits(incident)
    elif incident.requested_by:
        bits.append(f"via <@{escape(incident.requested_by)}> /aegis")
    return bits


def _listed(kind: str, names: Sequence[str], shown: int = 5) -> str:
    more = f" +{len(names) - shown} more" if len(names) > shown else ""
    return f"{kind}{'s' if len(names) != 1 else ''} " + ", ".join(escape(clip(n, 80)) for n in names[:shown]) + more


def _alert_bits(incident: Incident) -> list[str]:
    """The alert names and pods that joined the incident: firing ones first; resolved ones counted."""
    if not incident.alerts:  # written before alerts were tracked one by one
        return [f"alert {escape(clip(incident.labels.get('alertname', '?'), 100))}"]
    firing = [a for a in incident.alerts if a.firing]
    bits = [_listed("alert", sorted({a.alertname for a in incident.alerts}))]
    pods = sorted({a.pod for a in firing if a.pod})
    if pods:
        bits.append(_listed("firing on pod", pods))
    resolved = len(incident.alerts) - len(firing)
    if resolved:
        bits.append(f"{resolved} of {len(incident.alerts)} resolved")
    return bits


def investigating(incident: Incident) -> SlackMessage:
    text = f"🔎 Investigating {subject(incident)}: collecting status, events, logs and recent changes…"
    return fit(text, [_section(escape(text))])


def diagnosis_reply(incident: Incident, diagnosis: Diagnosis, links: Links | None = None, *, actions: Sequence[str] = (ACTION_REJECT,)) -> SlackMessage:
    """The diagnosis as a thread reply: cause, steps, evidence, the fix and why, and the buttons that work now."""
    rca = diagnosis.rca
    blocks: list[BlockDict] = [
        _header(_clip(f"Diagnosis: {rca.category.value} ({rca.confidence:.0%})", 150)),
        _section(_clip(escape(rca.summary), MAX_SECTION)),
    ]
    steps = [f"{n}. {escape(step)}" for n, step in enumerate(rca.analysis_steps[:MAX_STEPS], start=1)]
    if len(rca.analysis_steps) > MAX_STEPS:
        steps.append(f"_…{len(rca.analysis_steps) - MAX_STEPS} more steps in the full report_")
    blocks.append(_section(_clip("*Analysis*\n" + "\n".join(steps), MAX_SECTION)))
    by_id = {e.id: e for e in diagnosis.evidence}
    bullets = []
    for eid in rca.evidence_ids[:MAX_EVIDENCE]:
        evidence = by_id.get(eid)
        if evidence is None:
            continue
        link = f" <{evidence.link}|open>" if evidence.link else ""
        bullets.append(f"• *{eid}* _{evidence.kind.value}_ {escape(_clip(evidence.summary, 280))}{link}")
    if bullets:
        blocks.append(_section(_clip("*Evidence*\n" + "\n".join(bullets), MAX_SECTION)))
    log_excerpt = next((by_id[e].excerpt for e in rca.evidence_ids if e in by_id and by_id[e].kind.value == "log" and by_id[e].excerpt), "")
    if log_excerpt:
        blocks.append(_section(_code(log_excerpt, 1200)))
    if diagnosis.fix:
        fix = diagnosis.fix
        blocks.append({"type": "divider"})
        blocks.append(
            _section(
                f"*Proposed fix* on `{fix.target.kind.lower()}/{escape(fix.target.name)}` "
                f"(JSON patch, {len(fix.patch)} ops, {fix.risk.value} risk): {escape(fix.summary)}"
            )
        )
        blocks.append(_section(_code(fix.diff, 2400)))
        why = f"*Why this fix* {escape(fix.decision_rationale)}"
        if fix.risk_notes:
            why += f"\n*Impact* {escape(fix.risk_notes)}"
        if fix.alternatives_rejected:
            why += "\n*Ruled out*\n" + "\n".join(f"✗ {escape(a)}" for a in fix.alternatives_rejected[:4])
        blocks.append(_section(_clip(why, MAX_SECTION)))
    else:
        manual = "\n".join(f"→ {escape(step)}" for step in diagnosis.manual_steps) or "→ Read the evidence above."
        blocks.append(_section(_clip(f"*No safe automatic fix.* What to do by hand:\n{manual}", MAX_SECTION)))
    buttons = _buttons(incident, diagnosis, actions)
    if buttons:
        blocks.append({"type": "actions", "block_id": f"actions:{incident.id}:{incident.proposal_revision}", "elements": buttons})
    footer = [f"{incident.id} · proposal r{incident.proposal_revision} · analyzed {date_token(diagnosis.analyzed_at)} in {diagnosis.duration_ms:.0f} ms"]
    if links and links.grafana:
        footer.append(f"<{links.grafana}|Grafana dashboard>")
    if links and links.loki:
        footer.append(f"<{links.loki}|Loki logs>")
    blocks.append(_context(" · ".join(footer)))
    for note in diagnosis.notes[:2]:
        blocks.append(_context(_clip(f"note: {escape(note)}", 300)))
    text = f"{incident.id}: {rca.category.value} ({rca.confidence:.0%}) on {subject(incident)} — {rca.summary}"
    return fit(_clip(text, 3000), blocks)


def action_value(incident: Incident) -> str:
    """A button's value carries the proposal revision, so a click on an outdated proposal is refused."""
    return json.dumps({"incident": incident.id, "rev": incident.proposal_revision}, separators=(",", ":"))


def _buttons(incident: Incident, diagnosis: Diagnosis, actions: Sequence[str]) -> list[BlockDict]:
    value = action_value(incident)
    target = diagnosis.fix.target if diagnosis.fix else incident.target
    where = f"{target.kind.lower()}/{target.name} in {target.namespace}" if target else incident.title
    made: list[BlockDict] = []
    if ACTION_VERIFY in actions and diagnosis.fix:
        made.append(_button("Verify in shadow", ACTION_VERIFY, value, style="primary"))
    if ACTION_APPLY in actions and diagnosis.fix:
        confirm = _confirm("Apply this fix?", f"Patch {where}: {diagnosis.fix.summary}", "Apply", style="danger")
        made.append(_button("Apply fix…", ACTION_APPLY, value, style="danger", confirm=confirm))
    if ACTION_ROLLBACK in actions:
        restore = f"Restore {where} as it was before the fix."
        if target and target.kind == "StatefulSet":
            restore += " Its pods that are not Ready on the fix's revision are evicted, or the StatefulSet would wait for them forever."
        made.append(_button("Roll back…", ACTION_ROLLBACK, value, style="danger", confirm=_confirm("Roll back the fix?", restore, "Roll back")))
    if ACTION_REJECT in actions:
        made.append(_button("Reject…", ACTION_REJECT, value))
    return made


def closed_note(incident: Incident, actor: str, verb: str, reason: str, at: datetime) -> SlackMessage:
    """A thread reply recording who closed or changed the incident, when and why."""
    why = f": {escape(reason)}" if reason else ""
    text = f"{status_word(incident.state)} — {verb} by <@{actor}> at {date_token(at)}{why}"
    return fit(f"{incident.id} {verb} by {actor}{': ' + reason if reason else ''}", [_section(_clip(text, MAX_SECTION))])


def note(mrkdwn: str) -> SlackMessage:
    """A one-section reply whose mrkdwn the caller built from safe parts (mentions, date tokens, link_url links)."""
    return fit(mrkdwn, [_section(_clip(mrkdwn, MAX_SECTION))])


def superseded(message_blocks: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """The same message without its buttons, with a note: used when a proposal is outdated or decided."""
    kept = [b for b in message_blocks if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return kept


def fit(text: str, blocks: Sequence[BlockDict]) -> SlackMessage:
    """Keep the message inside Slack's limits: 50 blocks, ~12k characters in all, each text within its
    own limit (clipped by SlackMessage itself, so messages built elsewhere are clipped too)."""
    dicts = [dict(b) for b in blocks]
    if len(dicts) > MAX_BLOCKS:
        dicts = [*dicts[: MAX_BLOCKS - 1], _context(f"…{len(dicts) - MAX_BLOCKS + 1} more blocks not shown")]
    total = 0
    kept: list[BlockDict] = []
    for block in (clip_block(b) for b in dicts):
        size = len(json.dumps(block, ensure_ascii=False))
        if total + size > MAX_TOTAL:
            kept.append(_context(CUT))
            break
        total += size
        kept.append(block)
    return SlackMessage(text=text, blocks=kept)


def block_kit_builder_url(message: SlackMessage) -> str:
    """A Block Kit Builder link that previews the message without a workspace."""
    return "https://app.slack.com/block-kit-builder#" + quote(json.dumps({"blocks": message.blocks}, separators=(",", ":")), safe="")


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, cut with a pointer to the full text; never empty (Slack refuses empty texts)."""
    if not text:
        return " "
    if len(text) <= limit:
        return text
    if limit <= len(CUT) + 10:
        return text[: max(0, limit - 1)] + "…"
    return text[: limit - len(CUT) - 1] + "\n" + CUT


_clip = clip  # the name bot/render/lifecycle.py imports


# Block Kit's per-field limits (api.slack.com/reference/block-kit), for the fields AEGIS writes.
_TEXT_LIMITS = {"section": MAX_SECTION, "header": 150, "context": MAX_SECTION}
_FIELD_LIMIT = 2000
_BLOCK_ID_LIMIT = 255
_BUTTON_LIMITS = {"text": 75, "value": 2000, "url": 3000, "action_id": 255}
_CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
MAX_FALLBACK = 3000


def clip_block(block: BlockDict) -> BlockDict:
    """One block with every text inside its Block Kit limit: the one place messages are made to fit."""
    out = dict(block)
    kind = out.get("type")
    if isinstance(out.get("block_id"), str):
        out["block_id"] = out["block_id"][:_BLOCK_ID_LIMIT]
    if kind in ("section", "header") and isinstance(out.get("text"), dict):
        out["text"] = _clip_text(out["text"], _TEXT_LIMITS[kind])
    if kind == "section" and isinstance(out.get("fields"), list):
        out["fields"] = [_clip_text(f, _FIELD_LIMIT) for f in out["fields"][:10]]
    if kind == "context" and isinstance(out.get("elements"), list):
        out["elements"] = [_clip_text(e, _TEXT_LIMITS["context"]) for e in out["elements"][:10]]
    if kind == "actions" and isinstance(out.get("elements"), list):
        out["elements"] = [_clip_button(e) for e in out["elements"][:25]]
    return out


def _clip_text(obj: Any, limit: int) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": clip(obj["text"], limit)}
    return obj


def _clip_button(element: Any) -> Any:
    if not isinstance(element, dict) or element.get("type") != "button":
        return element
    out = dict(element)
    for key, limit in _BUTTON_LIMITS.items():
        if key == "text":
            out["text"] = _clip_text(out.get("text"), limit)
        elif isinstance(out.get(key), str):
            out[key] = out[key][:limit]  # a value or id cut with a pointer would no longer parse; AEGIS's are short
    confirm = out.get("confirm")
    if isinstance(confirm, dict):
        out["confirm"] = {k: _clip_text(v, _CONFIRM_LIMITS[k]) if k in _CONFIRM_LIMITS else v for k, v in confirm.items()}
    return out


def _section(text: str) -> BlockDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> BlockDict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _header(text: str) -> BlockDict:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(text: str, action_id: str, value: str, *, style: str | None = None, confirm: dict[str, Any] | None = None) -> BlockDict:
    button: BlockDict = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _confirm(title: str, text: str, confirm: str, *, style: str | None = None) -> dict[str, Any]:
    dialog: dict[str, Any] = {"title": _plain(title), "text": _plain(text), "confirm": _plain(confirm), "deny": _plain("Cancel")}
    if style:
        dialog["style"] = style
    return dialog


def _code(text: str, limit: int) -> str:
    body = text.replace("```", "ʼʼʼ")
    if len(body) > limit:
        body = body[:limit] + "\n… (cut; full text attached in the thread)"
    return f"```{body}```"


def reanalyze_prompt(text: str, incident: str, revision: int) -> SlackMessage:
    """A private refusal with a Re-analyze button (an expired proposal, a workload that changed): the new analysis opens a fresh thread."""
    value = json.dumps({"incident": incident, "rev": revision}, separators=(",", ":"))
    return SlackMessage(
        text=text,
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}},
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Re-analyze"}, "action_id": ACTION_REANALYZE, "value": value}],
            },
        ],
    )
