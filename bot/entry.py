"""The `aegis` command: the CLI, with the cyclic garbage collector kept off start-up and exit.

Start-up creates a few hundred thousand objects (modules, classes, pydantic schemas, compiled
patterns), none of them garbage, and the collector walks them over and over while they are made;
at exit it walks them all once more. Together that was about a tenth of a one-shot `aegis analyze`
(bench/live.py). So the collector is off while the modules load; `cli.main` freezes what start-up
made and turns it on, so a long-running command collects only what it creates; and at exit
everything is frozen, so the interpreter's last collection has nothing to walk. The CLI closes
its own resources: nothing relies on the collector to flush them.
"""

from __future__ import annotations

import gc


def main() -> int:
    gc.disable()
    from aegis.bot.cli import main as run

    try:
        return run()
    finally:
        gc.freeze()
