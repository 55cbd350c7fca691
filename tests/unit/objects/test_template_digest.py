"""The pod template digest a diagnosis keeps: it changes with the template and only with it."""

from __future__ import annotations

import copy
from typing import Any

from aegis.core import objects


def deployment() -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "generation": 3, "resourceVersion": "10"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1", "env": [{"name": "A", "value": "1"}]}]},
            },
        },
        "status": {"readyReplicas": 1},
    }


def test_scaling_status_and_metadata_leave_the_digest_alone() -> None:
    """Replicas, status, generation and resourceVersion are not the template: an HPA scaling never makes a proposal stale."""
    before = deployment()
    after = copy.deepcopy(before)
    after["spec"]["replicas"] = 7
    after["status"] = {"readyReplicas": 7}
    after["metadata"].update(generation=4, resourceVersion="99")
    assert objects.template_digest(before) == objects.template_digest(after) is not None


def test_any_template_edit_changes_the_digest() -> None:
    """An env value, an annotation (kubectl rollout restart) or an image: each is a different template."""
    base = objects.template_digest(deployment())
    for edit in (
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"][0].update(value="2"),
        lambda d: d["spec"]["template"]["metadata"].update(annotations={"kubectl.kubernetes.io/restartedAt": "now"}),
        lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="api:2"),
    ):
        changed = deployment()
        edit(changed)
        assert objects.template_digest(changed) != base


def test_key_order_does_not_matter_and_other_kinds_have_their_template() -> None:
    """Canonical JSON: the same template read twice digests the same; a CronJob's template is under jobTemplate, a Pod's is its spec."""
    reordered = deployment()
    reordered["spec"]["template"] = dict(reversed(list(reordered["spec"]["template"].items())))
    assert objects.template_digest(reordered) == objects.template_digest(deployment())
    template = deployment()["spec"]["template"]
    cronjob = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}}
    assert objects.template_digest(cronjob) == objects.template_digest(deployment())
    pod = {"kind": "Pod", "metadata": {"labels": {"x": "1"}}, "spec": template["spec"]}
    assert objects.template_digest(pod) is not None and objects.template_digest({"kind": "Service", "spec": {"selector": {}}}) is None
