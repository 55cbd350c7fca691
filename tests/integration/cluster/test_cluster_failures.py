"""The simulated failures follow from the pod spec: each broken Deployment reaches the
state a real kubelet would show, a wrong fix leaves it broken, the right fix heals it.

Annotation contract: tests/cluster/README.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cluster.controlplane import wait_until
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

Pod = dict[str, Any]
Events = list[dict[str, Any]]

SERVES = '{"app": {"port": 8080, "readyPath": "/healthz", "livePath": "/healthz"}}'


def deployment(name: str, annotations: dict[str, str], container: dict[str, Any], **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "repo/app:1.4.2", **container}], **pod_spec},
            },
        },
    }


def container_patch(**fields: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": "app", **fields}]}}}}


def cs(pod: Pod, name: str = "app", init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in pod.get("status", {}).get(key) or []:
        if s["name"] == name:
            return dict(s)
    return {}


def has_event(events: Events, reason: str, contains: str = "") -> bool:
    return any(e.get("reason") == reason and contains in (e.get("message") or "") for e in events)


def crash_loop(exit_code: int, reason: str, message: str = "") -> Callable[[Pod, Events], bool]:
    def check(pod: Pod, events: Events) -> bool:
        s = cs(pod)
        term = s.get("lastState", {}).get("terminated", {})
        return bool(
            s.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
            and term.get("exitCode") == exit_code
            and term.get("reason") == reason
            and message in (term.get("message") or "")
            and s.get("restartCount", 0) > 0
            and has_event(events, "BackOff", "Back-off restarting failed container app")
        )

    return check


def waiting(reason: str, message: str = "", event: tuple[str, str] | None = None) -> Callable[[Pod, Events], bool]:
    def check(pod: Pod, events: Events) -> bool:
        w = cs(pod).get("state", {}).get("waiting", {})
        return (
            pod["status"].get("phase") == "Pending"
            and w.get("reason") == reason
            and message in (w.get("message") or "")
            and (event is None or has_event(events, *event))
        )

    return check


def image_pull(pod: Pod, events: Events) -> bool:
    w = cs(pod).get("state", {}).get("waiting", {})
    return w.get("reason") in ("ErrImagePull", "ImagePullBackOff") and has_event(events, "Failed", "Failed to pull image")


def not_ready(pod: Pod, events: Events) -> bool:
    s = cs(pod)
    return (
        pod["status"].get("phase") == "Running"
        and s.get("ready") is False
        and s.get("started") is True
        and s.get("restartCount") == 0
        and has_event(events, "Unhealthy", "Readiness probe failed")
    )


def liveness(pod: Pod, events: Events) -> bool:
    term = cs(pod).get("lastState", {}).get("terminated", {})
    return (
        term.get("exitCode") == 143
        and cs(pod).get("restartCount", 0) > 0
        and has_event(events, "Unhealthy", "Liveness probe failed")
        and has_event(events, "Killing", "failed liveness probe, will be restarted")
    )


def init_crash(pod: Pod, events: Events) -> bool:
    s = cs(pod, "migrate", init=True)
    return bool(
        pod["status"].get("phase") == "Pending"
        and s.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
        and s.get("lastState", {}).get("terminated", {}).get("exitCode") == 1
        and s.get("restartCount", 0) > 0
        and cs(pod).get("state", {}).get("waiting", {}).get("reason") == "PodInitializing"
    )


def evicted_or_starting(pod: Pod, events: Events) -> bool:
    """Every pod of the workload is either evicted already or not Ready yet (its replacement)."""
    st = pod["status"]
    if st.get("phase") == "Failed":
        return bool(st.get("reason") == "Evicted" and "ephemeral" in (st.get("message") or "") and has_event(events, "Evicted"))
    return not cs(pod).get("ready", False)


def some_evicted(pods: list[Pod]) -> bool:
    return any(p["status"].get("phase") == "Failed" and p["status"].get("reason") == "Evicted" for p in pods)


def init_waiting(reason: str, message: str) -> Callable[[Pod, Events], bool]:
    def check(pod: Pod, events: Events) -> bool:
        w = cs(pod, "fetch-model", init=True).get("state", {}).get("waiting", {})
        return bool(
            pod["status"].get("phase") == "Pending"
            and w.get("reason") == reason
            and message in (w.get("message") or "")
            and cs(pod).get("state", {}).get("waiting", {}).get("reason") == "PodInitializing"
            and has_event(events, "Failed", "Error: ")
        )

    return check


def unschedulable(pod: Pod, events: Events) -> bool:
    conds = {c["type"]: c for c in pod["status"].get("conditions", [])}
    return (
        pod["status"].get("phase") == "Pending"
        and conds.get("PodScheduled", {}).get("reason") == "Unschedulable"
        and has_event(events, "FailedScheduling", "Insufficient cpu")
    )


Action = Callable[[Cluster, str, str], None]


def patch(body: dict[str, Any]) -> Action:
    def act(cluster: Cluster, ns: str, name: str) -> None:
        cluster.patch_deployment(ns, name, body)

    return act


def configmap(cm_name: str, data: dict[str, str]) -> Action:
    def act(cluster: Cluster, ns: str, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm_name, "namespace": ns}, "data": data}
        if cluster.api.get_or_none(f"/api/v1/namespaces/{ns}/configmaps/{cm_name}") is None:
            cluster.api.create(f"/api/v1/namespaces/{ns}/configmaps", body)
        else:
            cluster.api.patch(f"/api/v1/namespaces/{ns}/configmaps/{cm_name}", {"data": data}, kind="merge")

    return act


def secret(name: str, data: dict[str, str]) -> Action:
    def act(cluster: Cluster, ns: str, _workload: str) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": data}
        cluster.api.patch(f"/api/v1/namespaces/{ns}/secrets/{name}", body, kind="apply", params={"fieldManager": "aegis-test", "force": "true"})

    return act


@dataclass
class Case:
    id: str
    manifest: dict[str, Any]
    broken: Callable[[Pod, Events], bool]
    wrong_fix: Action
    right_fix: Action
    # after the wrong fix the pod must still satisfy this (defaults to `broken`)
    still_broken: Callable[[Pod, Events], bool] | None = None
    before: list[Action] = field(default_factory=list)
    # a condition on all current pods together (e.g. at least one evicted)
    some: Callable[[list[Pod]], bool] | None = None


CASES = [
    Case(
        "missing_env_var",
        deployment(
            "env",
            {"sim.aegis.dev/requires-env": '{"app": ["DATABASE_URL"]}'},
            {"env": [{"name": "LOG_LEVEL", "value": "info"}]},
        ),
        crash_loop(1, "Error"),
        patch(container_patch(env=[{"name": "DB_URL", "value": "postgres://db"}])),
        patch(container_patch(env=[{"name": "DATABASE_URL", "value": "postgres://db"}])),
    ),
    Case(
        "oom_killed",
        deployment("oom", {"sim.aegis.dev/memory-floor": '{"app": "256Mi"}'}, {"resources": {"limits": {"memory": "128Mi"}}}),
        crash_loop(137, "OOMKilled"),
        patch(container_patch(resources={"limits": {"memory": "200Mi"}})),
        patch(container_patch(resources={"limits": {"memory": "512Mi"}})),
    ),
    Case(
        "image_pull_error",
        deployment("img", {"sim.aegis.dev/images": "repo/app:1.4.2,repo/app:1.4.1"}, {"image": "repo/app:1.4.3"}),
        image_pull,
        patch(container_patch(image="repo/app:1.4.4")),
        patch(container_patch(image="repo/app:1.4.1")),
    ),
    Case(
        "bad_command",
        deployment("cmd", {"sim.aegis.dev/bad-command": '{"app": ["/bin/srv", "srv"]}'}, {"command": ["/bin/srv", "--port=8080"]}),
        crash_loop(128, "StartError", 'exec: "/bin/srv": stat /bin/srv: no such file or directory'),
        patch(container_patch(command=["srv", "--port=8080"])),
        patch(container_patch(command=["/app/srv", "--port=8080"])),
        still_broken=crash_loop(128, "StartError", 'exec: "srv": executable file not found in $PATH'),
    ),
    Case(
        "readiness_probe_failure",
        deployment(
            "ready",
            {"sim.aegis.dev/serves": SERVES},
            {"ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}},
        ),
        not_ready,
        patch(container_patch(readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}})),
        patch(container_patch(readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}})),
    ),
    Case(
        "liveness_probe_failure",
        deployment(
            "live",
            {"sim.aegis.dev/serves": SERVES},
            {"ports": [{"name": "http", "containerPort": 8080}], "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9090}}},
        ),
        liveness,
        patch(container_patch(livenessProbe={"httpGet": {"path": "/healthz", "port": 9091}})),
        patch(container_patch(livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}})),
    ),
    Case(
        "app_error_after_rollout",
        deployment("crash", {"sim.aegis.dev/crash-when": '{"app": {"image": "repo/app:2.0.0"}}'}, {}),
        crash_loop(1, "Error"),
        # a restart (what `kubectl rollout restart` does) does not help ...
        patch({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}}),
        # ... the rollback to the previous image does
        patch(container_patch(image="repo/app:1.4.2")),
        before=[patch(container_patch(image="repo/app:2.0.0"))],
    ),
    Case(
        "missing_config_reference",
        deployment(
            "refs",
            {},
            {"env": [{"name": "DATABASE_URL", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "db-url"}}}]},
        ),
        waiting("CreateContainerConfigError", 'configmap "app-config" not found', ("Failed", 'Error: configmap "app-config" not found')),
        configmap("app-config", {"other": "x"}),
        configmap("app-config", {"db-url": "postgres://db"}),
        still_broken=waiting("CreateContainerConfigError", "couldn't find key db-url in ConfigMap"),
    ),
    Case(
        "init_container_missing_secret",
        deployment(
            "initref",
            {},
            {},
            initContainers=[
                {
                    "name": "fetch-model",
                    "image": "repo/fetch:1.0.0",
                    "env": [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "model-store", "key": "AWS_ACCESS_KEY_ID"}}}],
                }
            ],
        ),
        init_waiting("CreateContainerConfigError", 'secret "model-store" not found'),
        secret("model-store", {"AWS_SECRET_ACCESS_KEY": "x"}),
        secret("model-store", {"AWS_ACCESS_KEY_ID": "AKIA-TEST"}),
        still_broken=init_waiting("CreateContainerConfigError", "couldn't find key AWS_ACCESS_KEY_ID in Secret"),
    ),
    Case(
        "volume_failure",
        deployment(
            "vol",
            {},
            {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]},
            volumes=[{"name": "cfg", "configMap": {"name": "vol-config"}}],
        ),
        waiting("ContainerCreating", "", ("FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmap "vol-config" not found')),
        configmap("vol-cfg", {"a": "1"}),
        configmap("vol-config", {"a": "1"}),
    ),
    Case(
        "init_container_missing_env",
        deployment(
            "init",
            {"sim.aegis.dev/requires-env": '{"migrate": ["DB_HOST"]}'},
            {},
            initContainers=[{"name": "migrate", "image": "repo/app:1.4.2", "command": ["/app/migrate"]}],
        ),
        init_crash,
        patch(container_patch(env=[{"name": "DB_HOST", "value": "db"}])),
        patch({"spec": {"template": {"spec": {"initContainers": [{"name": "migrate", "env": [{"name": "DB_HOST", "value": "db"}]}]}}}}),
    ),
    Case(
        "evicted",
        deployment("evict", {"sim.aegis.dev/ephemeral-storage-usage": '{"app": "6Gi"}'}, {"resources": {"requests": {"memory": "128Mi"}}}),
        evicted_or_starting,
        patch(container_patch(resources={"requests": {"memory": "128Mi", "ephemeral-storage": "2Gi"}})),
        patch(container_patch(resources={"requests": {"memory": "128Mi", "ephemeral-storage": "7Gi"}, "limits": {"ephemeral-storage": "12Gi"}})),
        some=some_evicted,
    ),
    Case(
        "unschedulable",
        deployment("big", {}, {"resources": {"requests": {"cpu": "16", "memory": "1Gi"}}}),
        unschedulable,
        patch(container_patch(resources={"requests": {"cpu": "8", "memory": "1Gi"}})),
        patch(container_patch(resources={"requests": {"cpu": "500m", "memory": "1Gi"}})),
    ),
]


def _current_pod_state(cluster: Cluster, ns: str, name: str, check: Callable[[Pod, Events], bool], some: Callable[[list[Pod]], bool] | None = None) -> bool:
    pods = cluster.current_pods(ns, name)
    if some is not None and not some(pods):
        return False
    return bool(pods) and all(check(p, cluster.events(ns, p["metadata"]["name"])) for p in pods)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_failure_follows_from_spec(control_plane: Cluster, case: Case) -> None:
    cluster = control_plane
    name = case.manifest["metadata"]["name"]
    ns = cluster.create_namespace(case.id.replace("_", "-"))
    cluster.apply(case.manifest, namespace=ns)
    for act in case.before:
        cluster.wait_rolled_out(ns, name)
        act(cluster, ns, name)

    # 1. broken, with the reasons, restart counts and events a real kubelet shows
    try:
        wait_until(f"{case.id}: broken state", lambda: _current_pod_state(cluster, ns, name, case.broken, case.some), timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.dump(ns)}") from None
    assert not cluster.rolled_out(ns, name) or case.before, cluster.dump(ns)

    # 2. a wrong fix leaves it broken
    case.wrong_fix(cluster, ns, name)
    still = case.still_broken or case.broken
    try:
        wait_until(f"{case.id}: still broken after the wrong fix", lambda: _current_pod_state(cluster, ns, name, still, case.some), timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.dump(ns)}") from None
    settle = time.monotonic() + 3
    while time.monotonic() < settle:
        assert not cluster.rolled_out(ns, name), cluster.dump(ns)
        assert all(still(p, cluster.events(ns, p["metadata"]["name"])) for p in cluster.current_pods(ns, name)), cluster.dump(ns)
        time.sleep(0.5)

    # 3. the right fix heals it: rolled out, every current pod Running and Ready
    case.right_fix(cluster, ns, name)
    try:
        cluster.wait_rolled_out(ns, name, timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.dump(ns)}") from None
    for p in cluster.current_pods(ns, name):
        assert p["status"]["phase"] == "Running"
        assert all(s["ready"] for s in p["status"]["containerStatuses"]), p["status"]
    cluster.api.delete(f"/api/v1/namespaces/{ns}")


def test_healthy_deployment_becomes_ready(control_plane: Cluster) -> None:
    cluster = control_plane
    ns = cluster.create_namespace("healthy")
    t0 = time.monotonic()
    cluster.apply(_healthy_manifest(), namespace=ns)
    cluster.wait_rolled_out(ns, "web", timeout=60)
    pods = cluster.current_pods(ns, "web")
    assert len(pods) == 3
    assert {p["spec"]["nodeName"] for p in pods} <= {"kwok-node-0", "kwok-node-1"}
    for p in pods:
        conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
        assert p["status"]["phase"] == "Running" and conds["Ready"] == "True", p["status"]
        assert p["status"]["podIP"]
    print(f"\nhealthy Deployment (3 replicas) ready in {time.monotonic() - t0:.1f}s")


def _healthy_manifest() -> dict[str, Any]:
    m = deployment(
        "web",
        {"sim.aegis.dev/requires-env": '{"app": ["DATABASE_URL"]}', "sim.aegis.dev/serves": SERVES, "sim.aegis.dev/images": "repo/app:1.4.2"},
        {
            "env": [{"name": "DATABASE_URL", "value": "postgres://db"}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        },
    )
    m["spec"]["replicas"] = 3
    return m
