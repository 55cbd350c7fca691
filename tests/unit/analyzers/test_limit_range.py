"""A LimitRange that refuses a rollout's pods: quota_exceeded naming the bound, the container and its value.

The verdicts are the LimitRanger admission plugin's own words, alone or aggregated in `[…, …]`, with
and without the trailing period older API servers print. The container is found by the value quoted.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aegis.core.analyzers import limit_range_exceeded
from aegis.core.analyzers.engine import diagnose
from aegis.core.models import Category
from tests.unit.analyzers.contexts import context_of, deployment_context, fix_ops


def _spec(memory_limit: str = "1Gi", memory_request: str = "256Mi", cpu_request: str | None = "100m") -> dict[str, Any]:
    requests = {"memory": memory_request, **({"cpu": cpu_request} if cpu_request else {})}
    return {
        "containers": [
            {"name": "sidecar", "image": "envoy:1.30", "resources": {"limits": {"memory": "128Mi"}, "requests": {"memory": "64Mi"}}},
            {"name": "api", "image": "api:2.1", "resources": {"limits": {"memory": memory_limit, "cpu": "1"}, "requests": requests}},
        ]
    }


def _refused(verdict: str, *, spec: dict[str, Any] | None = None, previous: dict[str, Any] | None = None, wanted: int = 2) -> Any:
    """The rollout's ReplicaSet wants pods and has none: every create was refused with `verdict`."""
    context = deployment_context(spec or _spec(), previous=previous)
    bundle = context.bundle.model_copy(deep=True)
    current = bundle.current_replicaset()
    assert current is not None
    current["spec"]["replicas"] = wanted
    current["status"] = {"replicas": 0}
    bundle.pods = []
    bundle.events = [
        {
            "kind": "Event",
            "metadata": {"name": "app-h2.1", "namespace": "ns"},
            "involvedObject": {"kind": "ReplicaSet", "name": "app-h2", "namespace": "ns"},
            "reason": "FailedCreate",
            "type": "Warning",
            "count": 14,
            "message": f'Error creating: pods "app-h2-k2x9p" is forbidden: {verdict}',
        }
    ]
    return bundle


_VERDICTS = [
    ("maximum memory usage per Container is 512Mi, but limit is 1Gi", "at most 512Mi of memory per Container", "container api has a memory limit of 1Gi"),
    ("maximum memory usage per Container is 512Mi, but limit is 1Gi.", "at most 512Mi of memory per Container", "container api has a memory limit of 1Gi"),
    ("minimum cpu usage per Container is 200m, but request is 100m", "at least 200m of cpu per Container", "container api has a cpu request of 100m"),
    ("maximum memory usage per Container is 2Gi.  No limit is specified", "at most 2Gi of memory per Container", "declares no memory limit"),
    ("minimum memory usage per Container is 32Mi. No request is specified", "at least 32Mi of memory per Container", "declares no memory request"),
    ("memory max limit to request ratio per Container is 2, but provided ratio is 4.000000", "at most 2× the request", "has a ratio of 4"),
    (
        "[maximum memory usage per Container is 512Mi, but limit is 1Gi, maximum cpu usage per Pod is 500m, but limit is 1100m]",
        "at most 512Mi of memory per Container",
        "container api has a memory limit of 1Gi",
    ),
]


@pytest.mark.parametrize(("verdict", "rule", "breach"), _VERDICTS, ids=range(len(_VERDICTS)))
def test_each_limit_range_verdict_names_bound_and_container(verdict: str, rule: str, breach: str) -> None:
    spec = _spec()
    if "No limit" in verdict:
        del spec["containers"][1]["resources"]["limits"]["memory"]
    if "No request" in verdict:
        del spec["containers"][1]["resources"]["requests"]["memory"]
    diagnosis = diagnose(_refused(verdict, spec=spec))
    assert diagnosis.rca.category is Category.QUOTA_EXCEEDED, diagnosis.rca.summary
    assert rule in diagnosis.rca.summary and breach in diagnosis.rca.summary, diagnosis.rca.summary
    assert "LimitRange" in diagnosis.rca.summary and "namespace ns" in diagnosis.rca.summary
    assert any("kubectl -n ns set resources deployment/app" in step for step in diagnosis.manual_steps), diagnosis.manual_steps


def test_an_aggregated_verdict_explains_every_bound() -> None:
    verdict = "[maximum memory usage per Container is 512Mi, but limit is 1Gi, minimum cpu usage per Container is 200m, but request is 100m]"
    finding = limit_range_exceeded.analyze(context_of(_refused(verdict)))
    assert finding is not None
    explained = [s for s in finding.steps if s.startswith("The namespace's LimitRange")]
    assert len(explained) == 2 and "512Mi of memory" in explained[0] and "200m of cpu" in explained[1]
    assert all("[E" in step for step in finding.steps), finding.steps  # every factual step cites its evidence


def test_the_command_keeps_the_request_under_the_new_limit() -> None:
    """Lowering a limit below the container's request would be refused in turn: the command lowers both."""
    bundle = _refused("maximum memory usage per Container is 512Mi, but limit is 1Gi", spec=_spec(memory_request="768Mi"))
    finding = limit_range_exceeded.analyze(context_of(bundle))
    assert finding is not None
    assert "--limits=memory=512Mi --requests=memory=512Mi" in finding.manual_steps[0]


def test_the_last_healthy_value_inside_the_bound_is_put_back() -> None:
    bundle = _refused("maximum memory usage per Container is 512Mi, but limit is 1Gi", previous=_spec(memory_limit="512Mi"))
    finding = limit_range_exceeded.analyze(context_of(bundle))
    assert finding is not None and finding.fix is not None
    base = "/spec/template/spec/containers/1"
    assert fix_ops(finding) == [  # guarded: the patch applies only to the template as diagnosed
        {"op": "test", "path": f"{base}/name", "value": "api"},
        {"op": "test", "path": f"{base}/resources/limits/memory", "value": "1Gi"},
        {"op": "replace", "path": f"{base}/resources/limits/memory", "value": "512Mi"},
    ]
    assert finding.fix.summary == "Put back a memory limit of 512Mi on container api, as the last healthy revision had it"


def test_no_patch_when_the_last_healthy_value_is_outside_the_bound_too() -> None:
    """The LimitRange is newer than the rollout's change: the value AEGIS would restore is refused as well."""
    bundle = _refused("maximum memory usage per Container is 512Mi, but limit is 1Gi", previous=_spec(memory_limit="768Mi"))
    finding = limit_range_exceeded.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("AEGIS proposes no patch" in step for step in finding.manual_steps)


def test_an_old_refusal_after_the_rollout_completed_is_history() -> None:
    bundle = _refused("maximum memory usage per Container is 512Mi, but limit is 1Gi")
    current = bundle.current_replicaset()
    current["status"] = {"replicas": 2, "readyReplicas": 2}
    assert limit_range_exceeded.analyze(context_of(bundle)) is None


def test_a_quota_verdict_is_left_to_the_quota_analyzer() -> None:
    quota = "exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=1, limited: requests.cpu=1"
    assert limit_range_exceeded.analyze(context_of(_refused(quota))) is None


def test_the_container_is_found_by_value_not_by_position() -> None:
    spec = _spec()
    spec["containers"].reverse()
    bundle = _refused("maximum memory usage per Container is 100Mi, but limit is 128Mi", spec=copy.deepcopy(spec))
    finding = limit_range_exceeded.analyze(context_of(bundle))
    assert finding is not None and "container sidecar has a memory limit of 128Mi" in finding.summary


def test_a_raised_request_comes_back_with_the_limit() -> None:
    """The rollout raised both: putting back only the limit would leave the request above it, which is refused too."""
    spec = _spec(memory_limit="1536Mi", memory_request="1Gi")
    bundle = _refused("maximum memory usage per Container is 1Gi, but limit is 1536Mi", spec=spec, previous=_spec(memory_limit="768Mi", memory_request="512Mi"))
    finding = limit_range_exceeded.analyze(context_of(bundle))
    assert finding is not None and finding.fix is not None
    base = "/spec/template/spec/containers/1"
    assert fix_ops(finding) == [
        {"op": "test", "path": f"{base}/name", "value": "api"},
        {"op": "test", "path": f"{base}/resources/requests/memory", "value": "1Gi"},
        {"op": "replace", "path": f"{base}/resources/requests/memory", "value": "512Mi"},
        {"op": "test", "path": f"{base}/resources/limits/memory", "value": "1536Mi"},
        {"op": "replace", "path": f"{base}/resources/limits/memory", "value": "768Mi"},
    ]
