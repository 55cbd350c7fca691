"""readiness_probe_failure: running but never Ready, and whether the probe or the app is at fault."""

from __future__ import annotations

from aegis.core.analyzers import readiness_probe_failure as ready
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def test_undeclared_port_is_replaced_by_the_declared_one_as_a_number() -> None:
    """Probe on 8080, container declares only 8000: the fix sets the number 8000 (the form the probe used)."""
    finding = ready.analyze(context_of(await snapshot_bundle("quote-api-launch", "Deployment", "pricing", "quote-api")))
    assert finding is not None and finding.confidence >= 0.9
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/port", "value": 8000} in fix_ops(finding)


async def test_path_changed_by_the_rollout_is_restored() -> None:
    """404 on /health/ready, which the last rollout introduced: the previous /actuator/health/readiness comes back."""
    bundle = await snapshot_bundle("inventory-rollout-2-15", "Deployment", "warehouse", "inventory")
    finding = ready.analyze(context_of(bundle))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/actuator/health/readiness"} in fix_ops(finding)


async def test_app_reporting_unready_gets_no_probe_patch() -> None:
    """A 503 on a declared port and path is the app's own verdict: lower confidence, no patch, manual steps."""
    bundle = await snapshot_bundle("quote-api-launch", "Deployment", "pricing", "quote-api")
    assert bundle.workload is not None
    for obj in (bundle.workload, *bundle.pods):
        spec = obj["spec"] if obj.get("kind") == "Pod" else obj["spec"]["template"]["spec"]
        spec["containers"][0]["readinessProbe"]["httpGet"]["port"] = 8000
    for event in bundle.events:
        event["message"] = "Readiness probe failed: HTTP probe failed with statuscode: 503"
    finding = ready.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert finding.confidence <= 0.6 and finding.manual_steps


async def test_crashing_container_is_left_to_its_crash_class() -> None:
    """Connection refused while the container crash-loops with exit 1: readiness does not claim it."""
    bundle = await snapshot_bundle("not-ready-while-crashing", "Deployment", "search", "query-suggest", near_miss=True)
    assert ready.analyze(context_of(bundle)) is None


async def test_liveness_kills_take_precedence() -> None:
    """A container killed by its liveness probe is liveness_probe_failure even if readiness fails too."""
    bundle = await snapshot_bundle("quote-api-launch", "Deployment", "pricing", "quote-api")
    pod = bundle.pods[0]
    kill = dict(bundle.events[0], reason="Killing", message="Container api failed liveness probe, will be restarted", type="Normal")
    kill["involvedObject"] = dict(kill["involvedObject"], name=pod["metadata"]["name"])
    bundle.events.append(kill)
    assert ready.analyze(context_of(bundle)) is None
