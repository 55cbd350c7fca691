"""missing_config_reference: kubelet's messages are matched to the reference, and the fix only repoints to what exists."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aegis.core.analyzers import missing_config_reference
from aegis.core.analyzers.base import AnalysisPolicy, Context
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.models import Category, ObjectRef, Risk


def _ctx(
    spec: dict[str, Any],
    *,
    statuses: Sequence[dict[str, Any]] = (),
    init_statuses: Sequence[dict[str, Any]] = (),
    previous: dict[str, Any] | None = None,
    previous_ready: int = 2,
    events: Sequence[dict[str, Any]] = (),
    configmaps: dict[str, list[str]] | None = None,
    secrets: dict[str, list[str]] | None = None,
    logs: dict[tuple[str, bool], str] | None = None,
) -> Context:
    """A Deployment 'app' whose newest revision (2) runs `spec`, one pod of it with these statuses."""

    def rs(rev: int, pod_spec: dict[str, Any], ready: int) -> dict[str, Any]:
        labels = {"app": "app", "pod-template-hash": f"h{rev}"}
        return {
            "kind": "ReplicaSet",
            "metadata": {"name": f"app-h{rev}", "namespace": "ns", "labels": labels, "annotations": {"deployment.kubernetes.io/revision": str(rev)}},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": copy.deepcopy(pod_spec)}},
            "status": {"replicas": 1, "readyReplicas": ready} if ready else {"replicas": 1},
        }

    workload = {
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {"app": "app"}}, "spec": copy.deepcopy(spec)}},
    }
    pod = {
        "kind": "Pod",
        "metadata": {"name": "app-h2-x1", "namespace": "ns", "labels": {"app": "app", "pod-template-hash": "h2"}},
        "spec": copy.deepcopy(spec),
        "status": {"phase": "Running", "containerStatuses": list(statuses), "initContainerStatuses": list(init_statuses)},
    }
    replicasets = [rs(2, spec, 0)] + ([rs(1, previous, previous_ready)] if previous is not None else [])
    keyed = [
        {"kind": kind, "metadata": {"name": n, "namespace": "ns"}, "data": {k: "[REDACTED]" for k in keys}}
        for kind, pool in (("ConfigMap", configmaps or {}), ("Secret", secrets or {}))
        for n, keys in pool.items()
    ]
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="ns", name="app"),
        namespace="ns",
        workload=workload,
        pods=[pod],
        replicasets=replicasets,
        events=list(events),
        configmaps=[o for o in keyed if o["kind"] == "ConfigMap"],
        secrets=[o for o in keyed if o["kind"] == "Secret"],
        logs=[ContainerLogs(pod="app-h2-x1", container=c, previous=p, text=t) for (c, p), t in (logs or {}).items()],
        observed_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def _waiting(name: str, message: str) -> dict[str, Any]:
    return {"name": name, "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}}}


def _secret_env(env_name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def test_missing_key_is_repointed_to_its_spelling_variant() -> None:
    """A key asked for as API_TOKEN that the Secret holds as api-token is repointed, guarded by the env name and old key."""
    spec = {"containers": [{"name": "web", "image": "web:1", "env": [_secret_env("API_TOKEN", "web-keys", "API_TOKEN")]}]}
    ctx = _ctx(spec, statuses=[_waiting("web", "couldn't find key API_TOKEN in Secret ns/web-keys")], secrets={"web-keys": ["api-token"]})
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and finding.category is Category.MISSING_CONFIG_REFERENCE
    assert finding.fix is not None and finding.fix.risk is Risk.LOW
    ops = [op.as_json() for op in finding.fix.ops]
    key_path = "/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/key"
    assert {"op": "test", "path": key_path, "value": "API_TOKEN"} in ops
    assert {"op": "replace", "path": key_path, "value": "api-token"} in ops
    assert {"op": "test", "path": "/spec/template/spec/containers/0/env/0/name", "value": "API_TOKEN"} in ops


def test_missing_secret_with_no_source_gives_manual_steps_naming_object_and_keys() -> None:
    """A Secret nobody created, with no other holder of its keys and no earlier revision, yields no patch and says what to create."""
    spec = {
        "containers": [
            {
                "name": "job",
                "image": "job:1",
                "env": [
                    _secret_env("AWS_ACCESS_KEY_ID", "s3-creds", "AWS_ACCESS_KEY_ID"),
                    _secret_env("AWS_SECRET_ACCESS_KEY", "s3-creds", "AWS_SECRET_ACCESS_KEY"),
                ],
            }
        ]
    }
    ctx = _ctx(spec, statuses=[_waiting("job", 'secret "s3-creds" not found')], secrets={"db": ["DATABASE_URL"]})
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and finding.fix is None
    assert len(finding.manual_steps) == 1
    assert "Create Secret s3-creds" in finding.manual_steps[0]
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in finding.manual_steps[0]


def test_failed_mount_restores_the_previous_revisions_configmap() -> None:
    """A FailedMount for a configMap volume renamed by the rollout points the volume back at the previous revision's ConfigMap."""

    def spec(cm: str) -> dict[str, Any]:
        return {"containers": [{"name": "api", "image": "api:1"}], "volumes": [{"name": "conf", "configMap": {"name": cm}}]}

    event = {
        "type": "Warning",
        "reason": "FailedMount",
        "involvedObject": {"kind": "Pod", "name": "app-h2-x1"},
        "message": 'MountVolume.SetUp failed for volume "conf" : configmap "api-conf-v2" not found',
    }
    ctx = _ctx(
        spec("api-conf-v2"),
        statuses=[{"name": "api", "state": {"waiting": {"reason": "ContainerCreating"}}}],
        previous=spec("api-conf"),
        events=[event],
        configmaps={"api-conf": ["app.yaml"]},
    )
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and finding.fix is not None
    assert {"op": "replace", "path": "/spec/template/spec/volumes/0/configMap/name", "value": "api-conf"} in [op.as_json() for op in finding.fix.ops]
    assert "previous revision" in finding.fix.summary


def test_volume_item_key_is_repointed_to_near_key() -> None:
    """'configmap references non-existent config key: config.yml' repoints the volume item to config.yaml."""
    spec = {
        "containers": [{"name": "api", "image": "api:1"}],
        "volumes": [{"name": "conf", "configMap": {"name": "api-conf", "items": [{"key": "config.yml", "path": "config.yml"}]}}],
    }
    event = {
        "type": "Warning",
        "reason": "FailedMount",
        "involvedObject": {"kind": "Pod", "name": "app-h2-x1"},
        "message": 'MountVolume.SetUp failed for volume "conf" : configmap references non-existent config key: config.yml',
    }
    ctx = _ctx(spec, events=[event], configmaps={"api-conf": ["config.yaml"]})
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and finding.fix is not None
    assert {"op": "replace", "path": "/spec/template/spec/volumes/0/configMap/items/0/key", "value": "config.yaml"} in [op.as_json() for op in finding.fix.ops]


def test_other_create_container_config_errors_are_not_claimed() -> None:
    """CreateContainerConfigError for runAsNonRoot names no ConfigMap or Secret, so the analyzer stays silent."""
    spec = {"containers": [{"name": "gw", "image": "gw:1"}]}
    message = 'container has runAsNonRoot and image will run as root (pod: "app-h2-x1_ns(0)", container: gw)'
    assert missing_config_reference.analyze(_ctx(spec, statuses=[_waiting("gw", message)])) is None


def test_optional_references_are_not_broken() -> None:
    """A missing object referenced with optional: true is not reported, even when another reference is."""
    spec = {
        "containers": [{"name": "w", "image": "w:1", "envFrom": [{"configMapRef": {"name": "extra", "optional": True}}, {"configMapRef": {"name": "base"}}]}]
    }
    ctx = _ctx(spec, statuses=[_waiting("w", 'configmap "base" not found')], configmaps={"bases": ["A"]})
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and "extra" not in finding.summary
    assert finding.fix is not None and finding.fix.risk is Risk.MEDIUM  # near-named ConfigMap 'bases': a guess a person should confirm


def test_stale_failed_mount_for_an_object_that_now_exists_is_ignored() -> None:
    """A FailedMount event for a ConfigMap that has since been created no longer blocks anything: no finding."""
    spec = {"containers": [{"name": "api", "image": "api:1"}], "volumes": [{"name": "conf", "configMap": {"name": "api-conf"}}]}
    event = {
        "type": "Warning",
        "reason": "FailedMount",
        "involvedObject": {"kind": "Pod", "name": "app-h2-x1"},
        "message": 'MountVolume.SetUp failed for volume "conf" : configmap "api-conf" not found',
    }
    running = {"name": "api", "ready": True, "restartCount": 0, "state": {"running": {"startedAt": "2026-11-25T00:00:00Z"}}}
    ctx = _ctx(spec, statuses=[running], events=[event], configmaps={"api-conf": ["app.yaml"]})
    assert missing_config_reference.analyze(ctx) is None
