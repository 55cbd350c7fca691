"""Pure checks of the cluster harness (no control plane needed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster import simnet
from tests.cluster.controlplane import _missing_refs, app_logs
from tests.cluster.stages import gen_stages

REPO = Path(__file__).resolve().parents[3]


def test_generated_stages_are_in_sync(tmp_path: Path) -> None:
    gen_stages.main(tmp_path / "out.yaml")
    committed = (REPO / "tests/cluster/stages/aegis-failures.yaml").read_text()
    assert (tmp_path / "out.yaml").read_text() == committed, "run: python tests/cluster/stages/gen_stages.py"


def _pod(spec: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"name": "p", "namespace": "ns", "annotations": {}}, "spec": spec, "status": {}}


def test_missing_refs_messages_are_kubelets() -> None:
    pod = _pod(
        {
            "containers": [
                {"name": "a", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
                {"name": "b", "envFrom": [{"secretRef": {"name": "creds"}}]},
                {"name": "c", "env": [{"name": "Y", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}}]},
            ],
            "volumes": [{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "missing", "path": "m"}]}}],
        }
    )
    env, vols = _missing_refs(pod, {}, {})
    assert env == {"a": 'configmap "cfg" not found', "b": 'secret "creds" not found'}
    assert vols == {"v": 'MountVolume.SetUp failed for volume "v" : configmap "cfg" not found'}
    cms = {("ns", "cfg"): {"data": {"other": "1"}}}
    env, vols = _missing_refs(pod, cms, {("ns", "creds"): {"data": {}}})
    assert env == {"a": "couldn't find key k in ConfigMap ns/cfg"}
    assert vols == {"v": 'MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: missing'}


def test_app_logs_follow_the_failure() -> None:
    pod = _pod({"containers": [{"name": "app", "image": "r/app:1.2.3", "env": []}]})
    pod["metadata"]["annotations"] = {"sim.aegis.dev/requires-env": json.dumps({"app": ["DATABASE_URL"]})}  # type: ignore[index]
    status = {
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z"}},
    }
    current, previous = app_logs(pod, pod["spec"]["containers"][0], status)  # type: ignore[index]
    assert previous is not None and "stderr F FATAL: required environment variable DATABASE_URL is not set" in previous
    assert current == previous
    running = {"state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
    current, previous = app_logs(pod, pod["spec"]["containers"][0], running)  # type: ignore[index]
    assert previous is None and current.startswith("2026-01-01T00:00:00.000000000Z stdout F INFO starting app version=1.2.3")


def _world(**extra: object) -> dict[str, object]:
    service = {
        "metadata": {"namespace": "shop", "name": "ledger"},
        "spec": {"clusterIP": "10.96.0.50", "selector": {"app": "ledger"}, "ports": [{"port": 8080, "targetPort": 8080}]},
    }
    endpoints = {"metadata": {"namespace": "shop", "name": "ledger"}, "subsets": [{"addresses": [{"ip": "10.244.0.9"}]}]}
    callee = {"metadata": {"namespace": "shop", "name": "ledger-0", "labels": {"app": "ledger"}}, "spec": {"containers": [{"name": "l"}]}}
    world: dict[str, object] = {
        "services": {("shop", "ledger"): service},
        "endpoints": {("shop", "ledger"): endpoints},
        "configmaps": {},
        "policies": [],
        "pods": [callee],
    }
    world.update(extra)
    return world


def _caller(target: str) -> dict[str, object]:
    return {
        "metadata": {"namespace": "shop", "name": "orders-0", "labels": {"app": "orders"}, "annotations": {simnet.ANN_CONNECTS: json.dumps({"app": [target]})}},
        "spec": {"containers": [{"name": "app", "env": [{"name": "LEDGER_URL", "value": "http://ledgr:8080"}]}]},
        "status": {"podIP": "10.244.0.7"},
    }


def test_simulated_calls_meet_what_the_cluster_objects_say() -> None:
    """simnet: a name with no Service does not resolve; no ready endpoint refuses; an ingress policy drops; otherwise it succeeds."""
    allow = lambda *a: True  # noqa: E731
    assert simnet.failures(_caller("ledger:8080"), _world(), allow) == {}
    assert "lookup ledgr on 10.96.0.10:53: no such host" in simnet.failures(_caller("$LEDGER_URL"), _world(), allow)["app"]
    empty = {("shop", "ledger"): {"subsets": []}}
    assert "dial tcp 10.96.0.50:8080: connect: connection refused" in simnet.failures(_caller("ledger:8080"), _world(endpoints=empty), allow)["app"]
    policy = {
        "metadata": {"namespace": "shop", "name": "ledger-in"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "ledger"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "billing"}}}]}],
        },
    }
    assert "dial tcp 10.96.0.50:8080: i/o timeout" in simnet.failures(_caller("ledger:8080"), _world(policies=[policy]), allow)["app"]
    policy["spec"]["ingress"][0]["from"].append({"podSelector": {"matchLabels": {"app": "orders"}}})  # type: ignore[index]
    assert simnet.failures(_caller("ledger:8080"), _world(policies=[policy]), allow) == {}


def test_simulated_api_refusal_is_the_api_servers_text() -> None:
    """simnet: a denied kube-api call prints the API server's forbidden message, as client-go logs it."""
    pod = {
        "metadata": {"namespace": "shop", "name": "sync-0", "annotations": {simnet.ANN_KUBE_API: json.dumps({"app": ["list pods"]})}},
        "spec": {"serviceAccountName": "sync", "containers": [{"name": "app"}]},
    }
    line = simnet.failures(pod, _world(), lambda *a: False)["app"]
    assert (
        'pods is forbidden: User \\"system:serviceaccount:shop:sync\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace \\"shop\\"' in line
    )
