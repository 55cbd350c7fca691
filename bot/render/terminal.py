"""The `aegis analyze` text report: header, cause, steps, evidence, fix.

`lines(d)` is the report as (text, style) lines, pure. On a terminal `print_report` hands them to
rich (bold headings, a coloured diff, a frame); into a pipe or a file it writes the plain text and
never imports rich, whose import (with pygments for highlighting) would cost a live
`aegis analyze` about a tenth of a second for colours nobody sees.
"""

from __future__ import annotations

import sys
from typing import TextIO

from aegis.core.models import Diagnosis

Line = tuple[str, str]  # (text, rich style: "" for none)


def lines(d: Diagnosis) -> list[Line]:
    rca = d.rca
    out: list[Line] = []
    title = f"AEGIS diagnosis · {d.target.kind.lower()}/{d.target.name} -n {d.target.namespace}"
    if d.workload and d.workload != d.target:
        title += f" (workload {d.workload.kind.lower()}/{d.workload.name})"
    out.append((title, "bold"))
    out.append((f"Root cause {rca.category.value} · confidence {rca.confidence:.0%}", "bold cyan"))
    out.append((rca.summary, ""))
    out.append(("\nAnalysis steps", "bold"))
    out += [(f"  {number}. {step}", "") for number, step in enumerate(rca.analysis_steps, start=1)]
    out.append(("\nEvidence", "bold"))
    for evidence in d.evidence:
        out.append((f"  • {evidence.id} {evidence.kind.value} {evidence.summary}", ""))
        if evidence.excerpt and evidence.id in rca.evidence_ids:
            out += [("      " + line, "dim") for line in evidence.excerpt.splitlines()[-6:]]
    if d.fix:
        fix = d.fix
        out.append((f"\nProposed fix ({fix.risk.value} risk) on {fix.target.kind.lower()}/{fix.target.name}: {fix.summary}", "bold"))
        out += [(line, _diff_style(line)) for line in (fix.diff or "(no textual change)").splitlines()]
        out.append((f"Why this fix: {fix.decision_rationale}", ""))
        if fix.risk_notes:
            out.append((f"Risk: {fix.risk_notes}", ""))
        out += [(f"  ✗ rejected: {alternative}", "") for alternative in fix.alternatives_rejected]
    else:
        out.append(("\nNo safe automatic fix.", "bold"))
        out += [(f"  → {step}", "") for step in d.manual_steps]
    out += [(f"note: {note}", "dim") for note in d.notes]
    return out


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return "cyan" if line.startswith("@@") else ""


def print_report(d: Diagnosis, stream: TextIO | None = None) -> None:
    """The report on `stream` (stdout): framed and coloured on a terminal, plain text otherwise."""
    out = stream or sys.stdout
    report = lines(d)
    if not out.isatty():
        out.write("\n".join(text for text, _ in report) + "\n")
        return
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.text import Text

    Console(file=out, soft_wrap=False).print(Panel(Group(*(Text(text, style=style) for text, style in report)), expand=True))
