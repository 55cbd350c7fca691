"""The `aegis analyze` text report: plain text into a pipe, the same lines framed and coloured on a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

from aegis.bot.render import terminal
from tests.incidents import EXAMPLES, diagnose_sync, load_all


def test_plain_text_into_a_pipe_carries_cause_steps_evidence_and_diff() -> None:
    """Not a terminal: no frame, no escape codes; the category, every step, the evidence ids and the diff lines are there."""
    incident = next(i for i in load_all(EXAMPLES) if i.name == "crashloop-missing-env")
    diagnosis = diagnose_sync(incident)
    out = io.StringIO()
    terminal.print_report(diagnosis, out)
    text = out.getvalue()
    assert "\x1b[" not in text and "╭" not in text
    assert "Root cause missing_env_var" in text
    assert all(step in text for step in diagnosis.rca.analysis_steps)
    assert all(f"• {e.id} " in text for e in diagnosis.evidence)
    assert diagnosis.fix is not None and "+        - name: DATABASE_URL" in text


def test_one_shot_analyze_imports_no_library_it_does_not_use() -> None:
    """`aegis analyze --snapshot` into a pipe loads neither rich, prometheus-client, pydantic-settings, aiohttp nor LangChain (start-up time)."""
    snapshot = EXAMPLES / "crashloop-missing-env" / "snapshot"
    code = (
        "import sys, io, contextlib\n"
        "from aegis.bot import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = cli.main(['analyze', 'deploy/checkout', '-n', 'shop', '--snapshot', {str(snapshot)!r}])\n"
        "heavy = ('rich', 'pygments', 'prometheus_client', 'pydantic_settings', 'aiohttp', 'langchain_core', 'kubernetes_asyncio')\n"
        "print(rc, sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "0 []"
