"""Load structlog without the rich modules its dev console renderer would pull in.

`import structlog` imports structlog.dev and structlog.tracebacks, which import rich's traceback
and pretty-printer when rich is installed: tens of milliseconds of every CLI start, for a rich
exception renderer AEGIS never uses (format_exc_info renders exceptions before our renderers).
Hiding rich for that one import makes structlog fall back to its plain formatter; rich stays
importable for the terminal report. Called from aegis/core/__init__.py, so it runs before any
module imports structlog.
"""

from __future__ import annotations

import sys


def preload_structlog() -> None:
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # None in sys.modules makes `import rich` raise ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
