"""Block Kit for the fix lifecycle: shadow progress and verdict, apply and roll back results (pure).

The verdict carries its evidence: the phases with durations, the readiness timeline, restarts,
Warning events, the load probe, and what makes the shadow less than representative.
"""

from __future__ import annotations

from collections.abc import Sequence

from aegis.bot.render.blocks import MAX_SECTION, SlackMessage, _clip, escape, fit, subject
from aegis.core.models import Incident, PhaseTiming, VerificationResult


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION)}}


def _context(text: str) -> dict[str, object]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 2900)}]}


def phase_lines(phases: Sequence[PhaseTiming]) -> str:
    return "\n".join(
        f"{'✓' if p.ok else '✗'} {p.name} · {p.duration_ms / 1000:.1f}s" + (f" — {escape(_clip(p.detail, 200))}" if p.detail else "") for p in phases
    )


def verifying(incident: Incident, phases: Sequence[PhaseTiming], actor: str) -> SlackMessage:
    text = f"🧪 Verifying the fix for {subject(incident)} in a shadow copy (asked by <@{actor}>)…"
    body = [_section(escape(text).replace("&lt;@", "<@").replace("&gt;", ">"))]
    if phases:
        body.append(_section(phase_lines(phases)))
    return fit(f"{incident.id}: verifying the fix in a shadow copy…", body)


def verdict(incident: Incident, result: VerificationResult) -> SlackMessage:
    head = "✅ *Shadow verification passed*" if result.passed else f"❌ *Shadow verification {result.outcome}*"
    body = [_section(f"{head} · score {result.score:.2f} · {result.duration_ms / 1000:.1f}s\n{escape(result.reason)}")]
    body.append(_section("*Phases*\n" + phase_lines(result.phases)))
    if result.timeline:
        points = " → ".join(
            f"{s.at_seconds:.0f}s {s.ready}/{s.desired} ready" + (f", {s.restarts} restarts" if s.restarts else "") for s in result.timeline[-8:]
        )
        body.append(_section(f"*Readiness* {escape(points)}"))
    evidence = [f"restarts: {result.restarts}"]
    if result.warning_events:
        evidence.append("Warning events:\n" + "\n".join(f"• {escape(_clip(w, 280))}" for w in result.warning_events[:5]))
    else:
        evidence.append("no Warning events")
    if result.probe is not None:
        p = result.probe
        latency = f", p50 {p.p50_ms:.0f} ms, p95 {p.p95_ms:.0f} ms" if p.p50_ms is not None and p.p95_ms is not None else ""
        evidence.append(f"load probe: *{p.status}* ({p.requests} requests, error rate {p.error_rate:.0%}{latency}) — {escape(_clip(p.reason, 300))}")
    body.append(_section("\n".join(evidence)))
    if not result.representative or result.representativeness_notes:
        flag = "⚠️ *Not fully representative*" if not result.representative else "ℹ️ *Shadow differs from production*"
        body.append(_section(flag + "\n" + "\n".join(f"• {escape(n)}" for n in result.representativeness_notes)))
    body.append(_context(f"{incident.id} · proposal r{result.proposal_revision} · shadow namespace `{result.namespace}` (deleted)"))
    text = f"{incident.id}: shadow verification {'passed' if result.passed else result.outcome} — {result.reason}"
    return fit(_clip(text, 3000), body)


def action_result(incident: Incident, verb: str, actor: str, ok: bool, reason: str, phases: Sequence[PhaseTiming]) -> SlackMessage:
    head = f"{'✅' if ok else '❌'} *{verb}* by <@{actor}>"
    body = [_section(f"{head}\n{escape(reason)}")]
    if phases:
        body.append(_section(phase_lines(phases)))
    return fit(_clip(f"{incident.id}: {verb} by {actor} — {reason}", 3000), body)


def working(incident: Incident, verb: str, actor: str) -> SlackMessage:
    return fit(f"{incident.id}: {verb}…", [_section(f"⏳ {verb} {escape(subject(incident))} (asked by <@{actor}>)…")])
