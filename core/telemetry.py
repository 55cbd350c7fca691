"""Logging (structlog) and AEGIS's own Prometheus metrics: configured once, used everywhere.

Log events are named `area.phase.event`; JSON lines in production, key=value on a terminal.
Every event passes through redaction before it is written, so a secret that slips into a log
call is masked at the end of the chain. Libraries that log through the standard library (aiohttp's
server, slack_bolt, asyncio) are bridged into the same chain, so nothing reaches stderr as a
plain-text traceback: a malformed HTTP request is one `http.request.malformed` warning and a client
that hangs up is an `http.client.disconnected` info event.

Metrics are declared here and created in prometheus-client's registry on first use (or by
`register_metrics()`, which `/metrics` calls so every series exists from start-up). prometheus-client
imports an HTTP server and more (~50 ms): a one-shot command that nobody scrapes calls
`disable_metrics()` and never loads it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from aegis.core.redaction import mask

_metrics_enabled = True
_ALL: list[_Metric] = []


class _Noop:
    """What a metric is when metrics are off: every call does nothing."""

    def labels(self, *args: Any, **kwargs: Any) -> _Noop:
        return self

    def observe(self, amount: float) -> None: ...

    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...


_NOOP = _Noop()


class _Metric:
    """A prometheus-client metric (Counter, Gauge, Histogram) made on first use, with its zero series."""

    def __init__(self, kind: str, name: str, doc: str, labelnames: tuple[str, ...] = (), *, zeros: tuple[dict[str, str], ...] = (), **options: Any) -> None:
        self._spec = (kind, name, doc, labelnames, options)
        self._zeros = zeros
        self._real: Any = None
        _ALL.append(self)

    def real(self) -> Any:
        if self._real is None:
            import prometheus_client

            kind, name, doc, labelnames, options = self._spec
            self._real = getattr(prometheus_client, kind)(name, doc, list(labelnames), **options)
            for labels in self._zeros:
                self._real.labels(**labels)
        return self._real

    def _target(self) -> Any:
        return self.real() if _metrics_enabled else _NOOP

    def labels(self, *args: Any, **kwargs: Any) -> Any:
        return self._target().labels(*args, **kwargs)

    def observe(self, amount: float) -> None:
        self._target().observe(amount)

    def inc(self, amount: float = 1) -> None:
        self._target().inc(amount)

    def dec(self, amount: float = 1) -> None:
        self._target().dec(amount)

    def set(self, value: float) -> None:
        self._target().set(value)


def disable_metrics() -> None:
    """Record no metrics in this process (a one-shot CLI command: nothing would scrape them)."""
    global _metrics_enabled  # noqa: PLW0603 - one switch for the process, set once at start-up
    _metrics_enabled = False


def register_metrics() -> None:
    """Create every metric now, so a scrape sees each series (at zero) before its first event."""
    if _metrics_enabled:
        for metric in _ALL:
            metric.real()


ANALYSIS_DURATION = _Metric(
    "Histogram",
    "aegis_analysis_duration_seconds",
    "Time to collect evidence and diagnose one target.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

LLM_REQUEST_DURATION = _Metric(
    "Histogram",
    "aegis_llm_request_duration_seconds",
    "Time of one language-model request (one agent stage), by provider and outcome (ok, invalid, timeout, error).",
    ("provider", "outcome"),
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)


INCIDENTS = _Metric(
    "Counter",
    "aegis_incidents",
    "Incidents opened, by source (slash_command, alertmanager, cli), severity and namespace.",
    ("source", "severity", "namespace"),
)

# Series that exist from start-up, so dashboards and `rate()` see a zero before the first event.
WORKFLOW_RUNS = _Metric(
    "Counter",
    "aegis_workflow_runs",
    "Workflow stages run on incidents (analyze, verify, apply, rollback), by outcome (ok, failed, refused).",
    ("stage", "outcome"),
    zeros=tuple({"stage": "analyze", "outcome": outcome} for outcome in ("ok", "failed")),
)

FIXES_APPLIED = _Metric(
    "Counter",
    "aegis_fixes_applied",
    "Fixes applied to a workload from Slack, by outcome (ok, failed, rolled_back).",
    ("outcome",),
)

BACKEND_QUERIES = _Metric(
    "Counter",
    "aegis_backend_queries",
    "Queries to observability backends while collecting evidence, by backend (prometheus, loki) and outcome (ok, error, timeout).",
    ("backend", "outcome"),
    zeros=tuple({"backend": backend, "outcome": outcome} for backend in ("prometheus", "loki") for outcome in ("ok", "error", "timeout")),
)

SHADOW_VERIFICATIONS = _Metric(
    "Counter",
    "aegis_shadow_verifications",
    "Shadow verifications by result (passed, failed, timeout, error, cancelled).",
    ("result",),
)

SHADOW_ACTIVE = _Metric("Gauge", "aegis_shadow_active", "Shadow environments that exist right now (this process).")

SHADOW_PHASE_DURATION = _Metric(
    "Histogram",
    "aegis_shadow_phase_duration_seconds",
    "Time of one shadow verification phase (namespace, clone, patch, deploy, verify, probe, cleanup).",
    ("phase",),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: mask(v) if isinstance(v, str) else v for k, v in event_dict.items()}


class StdlibBridge(logging.Handler):
    """Standard-library log records as structlog events: one chain, one format, redaction included.

    aiohttp reports a malformed request (64 KB headers, a bad Content-Length, an HTTP/2 preface) with
    `logger.exception`, which would print a plain-text traceback for what is the client's mistake.
    Here it becomes a warning naming the reason; a hang-up is info; anything else keeps its level and,
    when it is a real failure, its traceback as a field of the JSON line.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event, level, fields = translate(record)
            structlog.get_logger("aegis").log(level, event, logger=record.name, **fields)
        except Exception:  # a logging failure must never take the request down with it
            self.handleError(record)


def translate(record: logging.LogRecord) -> tuple[str, int, dict[str, Any]]:
    """(event, level, fields) for a foreign record. Duck-typed on aiohttp's HttpProcessingError
    (`code`, `message`): telemetry sits below every layer and imports no I/O library."""
    exc = record.exc_info[1] if record.exc_info else None
    area = "http" if record.name.startswith("aiohttp") else "library"
    message = _short(record.getMessage())
    if exc is not None:
        if _client_fault(exc):
            # The parser refused the request itself (aiohttp answered 400; no handler ran).
            reason = " ".join(str(getattr(exc, "message", "") or exc).split())
            return "http.request.malformed", logging.WARNING, {"status": exc.code, "reason": _short(reason), "error": type(exc).__name__, "message": message}  # type: ignore[attr-defined]
        if isinstance(exc, ConnectionError | asyncio.CancelledError):
            return f"{area}.client.disconnected", logging.INFO, {"error": type(exc).__name__, "message": message}
        cause = exc.__cause__ or exc.__context__
        if cause is not None and (_client_fault(cause) or isinstance(cause, ConnectionError)):
            # The rest of a body the handler already refused (a broken gzip stream): aiohttp drains it
            # after the answer and reports the same fault again; the handler's event already named it.
            return "http.request.body_discarded", logging.DEBUG, {"error": _short(repr(cause)), "message": message}
        if record.levelno >= logging.ERROR:
            return f"{area}.server.failed", record.levelno, {"error": _short(repr(exc)), "message": message, "exc_info": record.exc_info}
        return f"{area}.log.message", record.levelno, {"error": _short(repr(exc)), "message": message}
    return f"{area}.log.message", record.levelno, {"message": message}


def _client_fault(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    return isinstance(code, int) and 400 <= code < 500


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _bridge_stdlib(level: int) -> None:
    """Route every stdlib logger through structlog. Libraries' INFO chatter (httpx logs each request)
    stays out; aiohttp's server logger follows AEGIS's level, since its records are about our port."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StdlibBridge)]:
        root.removeHandler(handler)
    root.addHandler(StdlibBridge())
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("aiohttp").setLevel(level)


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
    _bridge_stdlib(getattr(logging, level.upper()))


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
