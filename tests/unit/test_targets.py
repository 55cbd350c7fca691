"""The TARGET grammar accepts what kubectl accepts and explains what it refuses."""

from __future__ import annotations

import pytest

from aegis.core.errors import UsageError
from aegis.core.models import ObjectRef
from aegis.core.targets import parse_target


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("pod/api-1", "Pod"),
        ("api-1", "Pod"),
        ("deploy/api", "Deployment"),
        ("deployment/api", "Deployment"),
        ("sts/db", "StatefulSet"),
        ("statefulset/db", "StatefulSet"),
        ("ds/agent", "DaemonSet"),
        ("daemonset/agent", "DaemonSet"),
        ("job/migrate", "Job"),
        ("jobs/migrate", "Job"),
        ("cronjob/nightly", "CronJob"),
        ("cj/nightly", "CronJob"),
        ("service/api", "Service"),
        ("svc/api", "Service"),
        ("pvc/data-db-0", "PersistentVolumeClaim"),
        ("persistentvolumeclaim/data-db-0", "PersistentVolumeClaim"),
    ],
)
def test_kubectl_style_targets(text: str, kind: str) -> None:
    """Short names, full names and bare pod names resolve to the right kind."""
    ref = parse_target(text, "prod")
    assert ref == ObjectRef(kind=kind, namespace="prod", name=text.split("/")[-1])


def test_namespace_defaults_to_default() -> None:
    """Without -n the namespace is 'default', as kubectl does."""
    assert parse_target("pod/x", None).namespace == "default"


@pytest.mark.parametrize(
    ("text", "ns", "message"),
    [
        ("rs/api-7f9c", None, "not ReplicaSet"),
        ("foo/api", None, "unknown kind 'foo'.*cronjob/NAME \\(cj/\\).*pvc/NAME"),
        ("pod/API", None, "not a valid Kubernetes name"),
        ("", None, "no target given"),
        ("pod/x", "Bad_NS", "not a valid namespace"),
    ],
)
def test_bad_targets_say_how_to_write_them(text: str, ns: str | None, message: str) -> None:
    """Every refusal names the problem."""
    with pytest.raises(UsageError, match=message):
        parse_target(text, ns)
