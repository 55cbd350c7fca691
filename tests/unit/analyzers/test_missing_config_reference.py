"""missing_config_reference: kubelet's messages are matched to the reference, and the fix only repoints to what exists."""

from __future__ import annotations

from typing import Any

from aegis.core.analyzers import missing_config_reference
from aegis.core.models import Category, Risk
from tests.unit.analyzers.contexts import deployment_context


def _waiting(name: str, message: str) -> dict[str, Any]:
    return {"name": name, "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}}}


def _secret_env(env_name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def test_missing_key_is_repointed_to_its_spelling_variant() -> None:
    """A key asked for as API_TOKEN that the Secret holds as api-token is repointed, guarded by the env name and old key."""
    spec = {"containers": [{"name": "web", "image": "web:1", "env": [_secret_env("API_TOKEN", "web-keys", "API_TOKEN")]}]}
    ctx = deployment_context(spec, statuses=[_waiting("web", "couldn't find key API_TOKEN in Secret ns/web-keys")], secrets={"web-keys": ["api-token"]})
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
    ctx = deployment_context(spec, statuses=[_waiting("job", 'secret "s3-creds" not found')], secrets={"db": ["DATABASE_URL"]})
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
    ctx = deployment_context(
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
    ctx = deployment_context(spec, events=[event], configmaps={"api-conf": ["config.yaml"]})
    finding = missing_config_reference.analyze(ctx)
    assert finding is not None and finding.fix is not None
    assert {"op": "replace", "path": "/spec/template/spec/volumes/0/configMap/items/0/key", "value": "config.yaml"} in [op.as_json() for op in finding.fix.ops]


def test_other_create_container_config_errors_are_not_claimed() -> None:
    """CreateContainerConfigError for runAsNonRoot names no ConfigMap or Secret, so the analyzer stays silent."""
    spec = {"containers": [{"name": "gw", "image": "gw:1"}]}
    message = 'container has runAsNonRoot and image will run as root (pod: "app-h2-x1_ns(0)", container: gw)'
    assert missing_config_reference.analyze(deployment_context(spec, statuses=[_waiting("gw", message)])) is None


def test_optional_references_are_not_broken() -> None:
    """A missing object referenced with optional: true is not reported, even when another reference is."""
    spec = {
        "containers": [{"name": "w", "image": "w:1", "envFrom": [{"configMapRef": {"name": "extra", "optional": True}}, {"configMapRef": {"name": "base"}}]}]
    }
    ctx = deployment_context(spec, statuses=[_waiting("w", 'configmap "base" not found')], configmaps={"bases": ["A"]})
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
    ctx = deployment_context(spec, statuses=[running], events=[event], configmaps={"api-conf": ["app.yaml"]})
    assert missing_config_reference.analyze(ctx) is None
