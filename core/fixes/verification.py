"""The default verification plan for a fix: what a shadow run checks, and for how long."""

from __future__ import annotations

from typing import Any

from aegis.core import objects
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.models import Category, LoadTestConfig, VerificationPlan

_LONGER_SETTLE = {Category.OOM_KILLED, Category.LIVENESS_PROBE_FAILURE, Category.APP_ERROR_AFTER_ROLLOUT}


def plan_for(bundle: ObjectBundle, category: Category) -> VerificationPlan:
    checks = [
        "all replicas Ready",
        "restart counts stay flat for the settle window",
        "no new Warning events",
    ]
    settle = 60.0 if category in _LONGER_SETTLE else 30.0
    load = _http_probe(bundle)
    if load:
        checks.append(f"HTTP GET {load.path} on port {load.port}: error rate ≤ {load.max_error_rate:.0%}, p95 ≤ {load.max_p95_ms:.0f} ms")
    return VerificationPlan(checks=checks, settle_seconds=settle, timeout_seconds=180.0, load_test_config=load)


def _http_probe(bundle: ObjectBundle) -> LoadTestConfig | None:
    """A load probe when the workload serves HTTP: an httpGet readiness probe or a port named http."""
    if bundle.workload is None:
        return None
    for container in objects.containers(objects.pod_spec(bundle.workload)):
        probe: dict[str, Any] = (container.get("readinessProbe") or {}).get("httpGet") or {}
        port = _port_number(container, probe.get("port"))
        if port:
            return LoadTestConfig(port=port, path=str(probe.get("path") or "/"))
        for declared in container.get("ports") or []:
            if str(declared.get("name", "")).startswith("http"):
                return LoadTestConfig(port=int(declared["containerPort"]), path="/")
    return None


def _port_number(container: dict[str, Any], port: Any) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports") or []:
        if port and declared.get("name") == port:
            return int(declared["containerPort"])
    return None
