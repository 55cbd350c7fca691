"""Logging (structlog) and AEGIS's own Prometheus metrics: configured once, used everywhere.

Log events are named `area.phase.event`; JSON lines in production, key=value on a terminal.
Every event passes through redaction before it is written, so a secret that slips into a log
call is masked at the end of the chain.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

from aegis.core.redaction import mask

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


INCIDENTS = Counter(
    "aegis_incidents",
    "Incidents opened, by source (slash_command, alertmanager, cli), severity and namespace.",
    ["source", "severity", "namespace"],
)

WORKFLOW_RUNS = Counter(
    "aegis_workflow_runs",
    "Workflow stages run on incidents (analyze, verify, apply, rollback), by outcome (ok, failed, refused).",
    ["stage", "outcome"],
)

FIXES_APPLIED = Counter(
    "aegis_fixes_applied",
    "Fixes applied to a workload from Slack, by outcome (ok, failed, rolled_back).",
    ["outcome"],
)

BACKEND_QUERIES = Counter(
    "aegis_backend_queries",
    "Queries to observability backends while collecting evidence, by backend (prometheus, loki) and outcome (ok, error, timeout).",
    ["backend", "outcome"],
)

# Series that exist from start-up, so dashboards and `rate()` see a zero before the first event.
for _stage in ("analyze",):
    for _outcome in ("ok", "failed"):
        WORKFLOW_RUNS.labels(stage=_stage, outcome=_outcome)
for _backend in ("prometheus", "loki"):
    for _outcome in ("ok", "error", "timeout"):
        BACKEND_QUERIES.labels(backend=_backend, outcome=_outcome)

SHADOW_VERIFICATIONS = Counter(
    "aegis_shadow_verifications",
    "Shadow verifications by result (passed, failed, timeout, error, cancelled).",
    ["result"],
)

SHADOW_ACTIVE = Gauge("aegis_shadow_active", "Shadow environments that exist right now (this process).")

SHADOW_PHASE_DURATION = Histogram(
    "aegis_shadow_phase_duration_seconds",
    "Time of one shadow verification phase (namespace, clone, patch, deploy, verify, probe, cleanup).",
    ["phase"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
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


def incident_task_context(incident_id: str) -> contextvars.Context:
    """A copy of the current context with `incident_id` bound: `asyncio.create_task(..., context=...)`
    makes every log event of the task (investigator, collectors, agents) carry it."""
    context = contextvars.copy_context()
    context.run(structlog.contextvars.bind_contextvars, incident_id=incident_id)
    return context


@contextmanager
def incident_context(incident_id: str) -> Iterator[None]:
    """Bind `incident_id` to every log event inside (the investigator, collectors and agents too)."""
    with structlog.contextvars.bound_contextvars(incident_id=incident_id):
        yield
