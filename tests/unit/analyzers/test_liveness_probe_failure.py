"""liveness_probe_failure: a probe that kills a working container, and which probe change the evidence supports."""

from __future__ import annotations

from aegis.core import objects
from aegis.core.analyzers import liveness_probe_failure as live
from aegis.core.evidence.bundle import ContainerLogs
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def test_rollout_that_changed_the_probe_is_undone_for_the_probe_only() -> None:
    """The previous revision probed port 'http': the fix restores that port and changes nothing else."""
    finding = live.analyze(context_of(await snapshot_bundle("notifier-delivery-delays", "Deployment", "messaging", "notifier")))
    assert finding is not None and finding.confidence >= 0.9
    ops = fix_ops(finding)
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": "http"} in ops
    assert [op for op in ops if op["op"] != "test"] == [ops[-1]]


async def test_undeclared_port_without_a_previous_revision_uses_the_declared_port() -> None:
    """With no rollout to undo, a probe on undeclared port 9464 is pointed at the only declared port, as a number like before."""
    bundle = await snapshot_bundle("notifier-delivery-delays", "Deployment", "messaging", "notifier")
    bundle.replicasets = [max(bundle.replicasets, key=objects.revision)]
    finding = live.analyze(context_of(bundle))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": 3000} in fix_ops(finding)


async def test_404_path_is_taken_from_the_passing_readiness_probe() -> None:
    """Liveness GET /healthz answers 404; readiness GET /up passes on the same port, so /up is the fix."""
    finding = live.analyze(context_of(await snapshot_bundle("storefront-intermittent-502", "Deployment", "web", "storefront")))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/up"} in fix_ops(finding)


async def test_404_without_a_known_good_path_proposes_no_patch() -> None:
    """When the readiness probe uses the same wrong path, nothing tells AEGIS the right one: manual steps only."""
    bundle = await snapshot_bundle("storefront-intermittent-502", "Deployment", "web", "storefront")
    assert bundle.workload is not None
    objects.pod_spec(bundle.workload)["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/healthz"
    finding = live.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None and finding.manual_steps


async def test_timeouts_on_the_right_endpoint_raise_thresholds_within_bounds() -> None:
    """Probe timeouts on a declared port and path: failureThreshold 3 -> 6 and timeoutSeconds 1 -> 5, no more."""
    finding = live.analyze(context_of(await snapshot_bundle("sigkill-after-probe-timeouts", "Deployment", "geo", "tile-server", near_miss=True)))
    assert finding is not None
    ops = fix_ops(finding)
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/failureThreshold", "value": 6} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/timeoutSeconds", "value": 5} in ops


async def test_slow_start_raises_initial_delay_capped_at_five_minutes() -> None:
    """A logged 400 s start-up asks for 600 s of initial delay; the patch stops at the 300 s bound."""
    bundle = await snapshot_bundle("sigkill-after-probe-timeouts", "Deployment", "geo", "tile-server", near_miss=True)
    pod = objects.name(bundle.pods[0])
    bundle.logs = [ContainerLogs(pod=pod, container="tiles", previous=True, text='level=INFO msg="tile-server ready in 400s"\n')]
    finding = live.analyze(context_of(bundle))
    assert finding is not None
    path = "/spec/template/spec/containers/0/livenessProbe/initialDelaySeconds"
    assert {"op": "replace", "path": path, "value": live.MAX_INITIAL_DELAY_SECONDS} in fix_ops(finding)


def test_startup_times_are_read_from_several_runtimes() -> None:
    """Spring Boot, Go-style and millisecond phrasings all yield a start-up time in seconds."""
    assert live.startup_seconds("Started InventoryApplication in 74.321 seconds (process running for 75.9)") == 74.321
    assert live.startup_seconds('msg="server ready in 850ms"') == 0.85
    assert live.startup_seconds("startup took 48s") == 48
    assert live.startup_seconds("listening on :8080") is None


async def test_probe_failures_of_a_container_that_exits_on_its_own_are_not_liveness() -> None:
    """Unhealthy events but no kills and an exit code 1: the container crashes by itself."""
    bundle = await snapshot_bundle("sigkill-after-probe-timeouts", "Deployment", "geo", "tile-server", near_miss=True)
    bundle.events = [e for e in bundle.events if e.get("reason") != "Killing"]
    bundle.pods[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] = 1
    assert live.analyze(context_of(bundle)) is None


async def test_probe_moved_to_the_right_port_also_takes_the_readiness_path_there() -> None:
    """Liveness on undeclared port 9464 moves to 3000; the readiness probe passes on 3000 with /status, so the path follows."""
    bundle = await snapshot_bundle("notifier-delivery-delays", "Deployment", "messaging", "notifier")
    bundle.replicasets = [max(bundle.replicasets, key=objects.revision)]
    assert bundle.workload is not None
    container = objects.pod_spec(bundle.workload)["containers"][0]
    container["livenessProbe"]["httpGet"]["path"] = "/metrics"
    container["readinessProbe"] = {"httpGet": {"path": "/status", "port": 3000}}
    finding = live.analyze(context_of(bundle))
    assert finding is not None
    ops = fix_ops(finding)
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/port", "value": 3000} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/status"} in ops
    assert {"op": "test", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/metrics"} in ops


async def test_probe_moved_to_the_right_port_keeps_a_health_path_beside_a_different_readiness_path() -> None:
    """Liveness /healthz on the wrong port, readiness /status passing on the right one: only the port moves (both are health endpoints)."""
    bundle = await snapshot_bundle("notifier-delivery-delays", "Deployment", "messaging", "notifier")
    bundle.replicasets = [max(bundle.replicasets, key=objects.revision)]
    assert bundle.workload is not None
    objects.pod_spec(bundle.workload)["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/status", "port": 3000}}
    finding = live.analyze(context_of(bundle))
    assert finding is not None
    assert not any(str(op["path"]).endswith("/httpGet/path") and op["op"] == "replace" for op in fix_ops(finding))


async def test_probe_path_the_log_shows_answering_404_is_replaced_on_the_port_move() -> None:
    """The access log shows GET /healthz answered 404: on the right port the passing readiness path /status is taken."""
    bundle = await snapshot_bundle("notifier-delivery-delays", "Deployment", "messaging", "notifier")
    bundle.replicasets = [max(bundle.replicasets, key=objects.revision)]
    assert bundle.workload is not None
    objects.pod_spec(bundle.workload)["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/status", "port": 3000}}
    pod = objects.name(bundle.pods[0])
    bundle.logs = [ContainerLogs(pod=pod, container="notifier", previous=True, text='10.244.0.1 - "GET /healthz HTTP/1.1" 404 (kube-probe/1.36)\n')]
    finding = live.analyze(context_of(bundle))
    assert finding is not None
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/status"} in fix_ops(finding)
