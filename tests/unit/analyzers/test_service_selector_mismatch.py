"""service_selector_mismatch: a Service meant for healthy pods that selects none is fixed on the Service, guarded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import service_selector_mismatch as ssm
from aegis.core.analyzers.base import Context
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import AnalysisPolicy, Category, ObjectRef

POD_LABELS = {"app": "shop", "tier": "web", "pod-template-hash": "abc"}


def _service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": selector, "ports": [{"port": 80}]}}


def _endpoints(name: str, addresses: bool) -> dict[str, Any]:
    return {"kind": "Endpoints", "metadata": {"name": name}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}] if addresses else []}


def _ctx(services: list[dict[str, Any]], endpoints: list[dict[str, Any]], uncollected: list[str] | None = None) -> Context:
    workload = {
        "kind": "Deployment",
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {"selector": {"matchLabels": {"app": "shop"}}, "template": {"metadata": {"labels": {"app": "shop", "tier": "web"}}, "spec": {}}},
        "status": {"replicas": 1, "readyReplicas": 1},
    }
    pod = {
        "kind": "Pod",
        "metadata": {"name": "shop-1", "labels": POD_LABELS},
        "spec": {"containers": [{"name": "shop"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "shop", "ready": True, "restartCount": 0, "state": {"running": {}}}],
        },
    }
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="shop"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        services=services,
        endpoints=endpoints,
        uncollected_kinds=uncollected or [],
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def test_same_name_service_gets_a_guarded_selector_patch_on_the_service() -> None:
    """The fix targets the Service: wrong values replaced, keys the pods lack removed, each guarded."""
    service = _service("shop", {"app": "shop-web", "tier": "web", "release": "blue"})
    finding = ssm.analyze(_ctx([service], [_endpoints("shop", False)]))
    assert finding is not None and finding.category is Category.SERVICE_SELECTOR_MISMATCH
    assert finding.fix is not None and finding.fix.target == service
    ops = [op.as_json() for op in finding.fix.ops]
    assert {"op": "test", "path": "/spec/selector/app", "value": "shop-web"} in ops
    assert {"op": "replace", "path": "/spec/selector/app", "value": "shop"} in ops
    assert {"op": "test", "path": "/spec/selector/release", "value": "blue"} in ops
    assert {"op": "remove", "path": "/spec/selector/release"} in ops
    assert not any("pod-template-hash" in str(op) for op in ops)


def test_service_with_addresses_is_left_alone() -> None:
    """A Service whose Endpoints have addresses selects some pods: not ours to rewrite."""
    assert ssm.analyze(_ctx([_service("shop", {"app": "other"})], [_endpoints("shop", True)])) is None


def test_unknown_endpoints_do_not_count_as_empty() -> None:
    """When Endpoints were not collected, emptiness is unknown and nothing is concluded."""
    assert ssm.analyze(_ctx([_service("shop", {"app": "shop-web"})], [], uncollected=["Endpoints"])) is None


def test_minority_agreement_is_not_taken_for_our_service() -> None:
    """A canary Service agreeing on one label of two, while another Service serves the pods, is by design empty."""
    services = [_service("shop", {"app": "shop"}), _service("shop-canary", {"app": "shop", "track": "canary"})]
    assert ssm.analyze(_ctx(services, [_endpoints("shop", True), _endpoints("shop-canary", False)])) is None


def test_majority_agreement_without_the_name_is_a_weaker_match() -> None:
    """A differently named Service agreeing on 2 of 3 labels is taken, with lower confidence."""
    finding = ssm.analyze(_ctx([_service("storefront", {"app": "shop", "tier": "web", "env": "prod"})], [_endpoints("storefront", False)]))
    assert finding is not None and finding.confidence < 0.85
