"""The analyzers the engine runs, one per failure class. Add a module here to enable it."""

from __future__ import annotations

from collections.abc import Callable

from aegis.core.analyzers import missing_env_var
from aegis.core.analyzers.base import Context, Finding

ANALYZERS: list[Callable[[Context], Finding | None]] = [
    missing_env_var.analyze,
]
