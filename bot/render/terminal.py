"""The `aegis analyze` text report, rendered with rich: header, cause, steps, evidence, fix."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from aegis.core.models import Diagnosis


def render(d: Diagnosis) -> RenderableType:
    rca = d.rca
    parts: list[RenderableType] = []
    title = f"AEGIS diagnosis · {d.target.kind.lower()}/{d.target.name} -n {d.target.namespace}"
    if d.workload and d.workload != d.target:
        title += f" (workload {d.workload.kind.lower()}/{d.workload.name})"
    parts.append(Text(title, style="bold"))
    parts.append(Text.from_markup(f"[bold]Root cause[/] [cyan]{rca.category.value}[/] · confidence {rca.confidence:.0%}"))
    parts.append(Text(rca.summary))
    parts.append(Text("\nAnalysis steps", style="bold"))
    for number, step in enumerate(rca.analysis_steps, start=1):
        parts.append(Text(f"  {number}. {step}"))
    parts.append(Text("\nEvidence", style="bold"))
    for evidence in d.evidence:
        parts.append(Text.from_markup(f"  • [bold]{evidence.id}[/] [dim]{evidence.kind.value}[/] {escape(evidence.summary)}"))
        if evidence.excerpt and evidence.id in rca.evidence_ids:
            excerpt = "\n".join("      " + line for line in evidence.excerpt.splitlines()[-6:])
            parts.append(Text(excerpt, style="dim"))
    if d.fix:
        fix = d.fix
        parts.append(Text.from_markup(f"\n[bold]Proposed fix[/] ({fix.risk.value} risk) on {fix.target.kind.lower()}/{fix.target.name}: {escape(fix.summary)}"))
        parts.append(Syntax(fix.diff or "(no textual change)", "diff", theme="ansi_dark", background_color="default"))
        parts.append(Text.from_markup(f"[bold]Why this fix[/] {escape(fix.decision_rationale)}"))
        if fix.risk_notes:
            parts.append(Text.from_markup(f"[bold]Risk[/] {escape(fix.risk_notes)}"))
        for alternative in fix.alternatives_rejected:
            parts.append(Text(f"  ✗ rejected: {alternative}"))
    else:
        parts.append(Text("\nNo safe automatic fix.", style="bold"))
        for step in d.manual_steps:
            parts.append(Text(f"  → {step}"))
    for note in d.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    return Panel(Group(*parts), expand=True)
