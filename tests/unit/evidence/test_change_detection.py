"""Change detection measures from the last healthy revision, not merely the previous one."""

from __future__ import annotations

import copy

from aegis.core import objects
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract, template_pair
from aegis.core.models import KubeObject
from tests.unit.analyzers.contexts import snapshot_bundle


async def _three_revisions(middle_status: dict[str, int]) -> tuple[ObjectBundle, KubeObject]:
    """crashloop-missing-env with a revision between the healthy 3 and the broken newest: 4 changed the image, 5 dropped the env."""
    bundle = (await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")).model_copy(deep=True)
    healthy = min(bundle.replicasets, key=objects.revision)
    newest = max(bundle.replicasets, key=objects.revision)
    middle = copy.deepcopy(healthy)
    middle["metadata"]["name"] = "checkout-6b5d4c3a2f"
    middle["metadata"]["labels"]["pod-template-hash"] = "6b5d4c3a2f"
    middle["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    middle["status"] = middle_status
    objects.pod_spec(middle)["containers"][0]["image"] = "registry.example.com/shop/checkout:2.3.0"
    newest["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "5"
    bundle.replicasets = [healthy, middle, newest]
    return bundle, healthy


async def test_diff_is_taken_against_the_last_healthy_revision() -> None:
    """Revision 4 (scaled away, health unknown) is skipped for revision 3, which still serves: the image change shows."""
    bundle, healthy = await _three_revisions({"replicas": 0})
    _, previous = template_pair(bundle)
    assert previous == healthy["spec"]["template"]
    change = extract(bundle).by_key["change:rollout"]
    assert "checkout:2.2.4 → registry.example.com/shop/checkout:2.3.0" in change.summary
    assert "rollout revision 3 (the last healthy one; 4 in between did not recover) → 5" in change.summary


async def test_a_healthy_middle_revision_is_the_baseline() -> None:
    """When revision 4 still has available pods, it is the last healthy one and the diff starts there."""
    bundle, _ = await _three_revisions({"replicas": 1, "availableReplicas": 1, "readyReplicas": 1})
    change = extract(bundle).by_key["change:rollout"]
    assert "rollout revision 4 → 5" in change.summary
    assert "image" not in change.summary


async def test_configmap_changed_since_the_last_healthy_revision_is_change_evidence() -> None:
    """checkout-config was edited after revision 3 (the last healthy) was created: a change item naming it and its keys, no values."""
    bundle = (await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")).model_copy(deep=True)
    config = bundle.find("ConfigMap", "checkout-config")
    assert config is not None
    config["metadata"]["managedFields"] = [
        {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-11-12T15:39:00Z"},
        {"manager": "kubectl-edit", "operation": "Update", "time": "2026-11-25T09:10:00Z"},
    ]
    change = extract(bundle).by_key["change:config:ConfigMap/checkout-config"]
    assert "changed by kubectl-edit at 2026-11-25 09:10:00" in change.summary
    assert "the last healthy revision 3 was created" in change.summary
    assert "LOG_LEVEL, PAYMENT_TIMEOUT_MS" in change.summary
    assert "info" not in change.summary and "2500" not in change.summary


async def test_configmap_unchanged_since_then_is_not_evidence() -> None:
    """A ConfigMap last written before the healthy revision began is no change."""
    bundle = (await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")).model_copy(deep=True)
    config = bundle.find("ConfigMap", "checkout-config")
    assert config is not None
    config["metadata"]["managedFields"] = [{"manager": "helm", "operation": "Update", "time": "2026-11-01T00:00:00Z"}]
    config["metadata"]["creationTimestamp"] = "2026-11-01T00:00:00Z"
    assert "change:config:ConfigMap/checkout-config" not in extract(bundle).by_key


async def test_bare_pod_configmap_changed_after_the_pod_was_created() -> None:
    """A bare Pod has no revisions: a referenced ConfigMap written after the Pod's creation is the change."""
    bundle = (await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")).model_copy(deep=True)
    pod = bundle.pods[0]
    pod["metadata"].pop("ownerReferences", None)
    pod["metadata"]["creationTimestamp"] = "2026-11-25T09:00:00Z"
    bundle.workload, bundle.pods, bundle.replicasets = pod, [pod], []
    config = bundle.find("ConfigMap", "checkout-config")
    assert config is not None
    config["metadata"]["managedFields"] = [{"manager": "kubectl-patch", "operation": "Update", "time": "2026-11-25T09:05:00Z"}]
    change = extract(bundle).by_key["change:config:ConfigMap/checkout-config"]
    assert f"after Pod {objects.name(pod)} was created" in change.summary


def test_collector_keeps_who_and_when_of_config_writes_but_no_values() -> None:
    """ConfigMaps keep managedFields' manager, operation and time (not fieldsV1); Secrets keep no value."""
    from aegis.core.evidence.kubernetes import _keys_only

    secret = {
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "time": "2026-11-25T09:05:00Z", "fieldsV1": {"f:data": {"f:password": {}}}}],
        },
        "data": {"password": "aHVudGVyMg=="},
    }
    kept = _keys_only(secret)
    assert kept["metadata"]["managedFields"] == [{"manager": "kubectl", "operation": "Apply", "time": "2026-11-25T09:05:00Z"}]
    assert kept["data"] == {"password": "[REDACTED]"}


async def test_configmap_written_with_the_revision_is_not_a_later_change() -> None:
    """Applied in the same deploy (30 s after the revision was created): part of that revision, not a change since."""
    bundle = (await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")).model_copy(deep=True)
    config = bundle.find("ConfigMap", "checkout-config")
    assert config is not None
    config["metadata"]["managedFields"] = [{"manager": "helm", "operation": "Update", "time": "2026-11-12T15:40:32Z"}]
    assert "change:config:ConfigMap/checkout-config" not in extract(bundle).by_key
