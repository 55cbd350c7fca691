"""Logging (structlog) and AEGIS's own Prometheus metrics: configured once, used everywhere.

Log events are named `area.phase.event`; JSON lines in production, key=value on a terminal.
Every event passes through redaction before it is written, so a secret that slips into a log
call is masked at the end of the chain.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Histogram

from aegis.core.evidence.redaction import mask

ANALYSIS_DURATION = Histogram(
    "aegis_analysis_duration_seconds",
    "Time to collect evidence and diagnose one target.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

LLM_REQUEST_DURATION = Histogram(
    "aegis_llm_request_duration_seconds",
    "Time of one language-model request (one agent stage), by provider and outcome (ok, invalid, timeout, error).",
    ["provider", "outcome"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: mask(v) if isinstance(v, str) else v for k, v in event_dict.items()}


def configure_logging(fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog once for the process (later calls reconfigure, for tests and the CLI)."""
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("aegis").bind(**bound)
