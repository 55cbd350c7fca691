"""image_pull_error: what the registry said, and whether an earlier image is safe to restore."""

from __future__ import annotations

from aegis.core import objects
from aegis.core.analyzers import image_pull_error as pull
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


def test_registry_answers_are_classified() -> None:
    """containerd, Docker Hub, ECR and DNS phrasings map to missing / denied / network."""
    assert pull.classify('failed to resolve reference "ghcr.io/a/b:1": ghcr.io/a/b:1: not found', "ErrImagePull") == "missing"
    assert pull.classify("manifest for acme/api:2.0 not found: manifest unknown: manifest unknown", "ErrImagePull") == "missing"
    ecr = "unexpected status from HEAD request to https://x.dkr.ecr.eu-west-1.amazonaws.com/v2/a/manifests/1: 401 Unauthorized"
    assert pull.classify(ecr, "ErrImagePull") == "denied"
    hub = "pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
    assert pull.classify(hub, "ImagePullBackOff") == "denied"
    assert pull.classify("dial tcp: lookup registry.internal on 10.96.0.10:53: no such host", "ErrImagePull") == "network"
    assert pull.classify('couldn\'t parse image reference "acme/api:1.2:3": invalid reference format', "InvalidImageName") == "missing"


async def test_daemonset_gets_the_previous_revisions_image_back() -> None:
    """The ControllerRevision before the failing one ran 3.1.9: the DaemonSet's container image is set back to it."""
    finding = pull.analyze(context_of(await snapshot_bundle("log-agent-gaps", "DaemonSet", "observability", "log-agent")))
    assert finding is not None
    ops = fix_ops(finding)
    assert {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": "cr.fluentbit.io/fluent/fluent-bit:3.1.91"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "cr.fluentbit.io/fluent/fluent-bit:3.1.9"} in ops


async def test_missing_image_without_an_earlier_revision_gives_no_patch() -> None:
    """With only the current revision known, there is no image known to work: manual steps only."""
    bundle = await snapshot_bundle("log-agent-gaps", "DaemonSet", "observability", "log-agent")
    bundle.revisions = [max(bundle.revisions, key=objects.revision)]
    finding = pull.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("exists" in step for step in finding.manual_steps)


async def test_unauthorized_names_the_pull_secret_and_proposes_no_patch() -> None:
    """401 from a private registry: no image change; the manual steps point at imagePullSecret ecr-pull."""
    bundle = await snapshot_bundle("invoice-worker-queue-growing", "Deployment", "billing", "invoice-worker")
    finding = pull.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("ecr-pull" in step for step in finding.manual_steps)


async def test_pull_errors_that_already_recovered_are_ignored() -> None:
    """Rate-limited pull events on a sidecar that now runs: nothing is waiting, so no finding."""
    bundle = await snapshot_bundle("sidecar-pull-recovered", "Deployment", "edge", "gateway", near_miss=True)
    assert pull.analyze(context_of(bundle)) is None
