"""AEGIS's metrics are made on first use; a scrape (register_metrics) shows every declared series, zeros included."""

from __future__ import annotations

from prometheus_client import REGISTRY

from aegis.core import telemetry


def test_register_metrics_exposes_the_zero_series_before_any_event() -> None:
    """/metrics calls register_metrics: the analyze outcomes and backend query series exist at zero or more."""
    telemetry.register_metrics()
    for outcome in ("ok", "failed"):
        assert REGISTRY.get_sample_value("aegis_workflow_runs_total", {"stage": "analyze", "outcome": outcome}) is not None
    assert REGISTRY.get_sample_value("aegis_backend_queries_total", {"backend": "loki", "outcome": "timeout"}) is not None
    assert REGISTRY.get_sample_value("aegis_shadow_active") is not None


def test_a_recorded_event_reaches_the_registry() -> None:
    """telemetry.X.labels(...).inc() and .observe() land in prometheus-client's registry."""
    before = REGISTRY.get_sample_value("aegis_fixes_applied_total", {"outcome": "ok"}) or 0.0
    telemetry.FIXES_APPLIED.labels(outcome="ok").inc()
    assert REGISTRY.get_sample_value("aegis_fixes_applied_total", {"outcome": "ok"}) == before + 1
    count = REGISTRY.get_sample_value("aegis_analysis_duration_seconds_count") or 0.0
    telemetry.ANALYSIS_DURATION.observe(0.2)
    assert REGISTRY.get_sample_value("aegis_analysis_duration_seconds_count") == count + 1
