"""Output validation: out-of-scope, unguarded or destructive patches, bad plans and bad citations are rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aegis.core import config
from aegis.core.agents import guards, pipeline, scope
from aegis.core.agents.answers import FixAnswer, PlanAnswer
from aegis.core.evidence.extract import template_pair
from aegis.core.models import AnalysisPolicy, Author, Category

from .conftest import Case, example

C = "/spec/template/spec/containers/0"
GUARD = {"op": "test", "path": f"{C}/name", "value": "checkout"}
SECRET_REF = {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "DATABASE_URL"}}}
TARGET = {"kind": "Deployment", "namespace": "shop", "name": "checkout"}


def _answer(patch: list[dict[str, Any]], target: dict[str, str] | None = None) -> FixAnswer:
    return FixAnswer.model_validate(
        {"propose_patch": True, "target": target or TARGET, "patch": patch, "summary": "s", "decision_rationale": "r", "risk": "low"}
    )


def test_the_analyzers_own_fix_passes(missing_env: Case) -> None:
    """The guards accept what the analyzers propose (the echo of the hypothesis), recomputing the diff."""
    assert missing_env.diagnosis.fix is not None
    fix = guards.check_fix(
        _answer(missing_env.diagnosis.fix.patch_json()), category=Category.MISSING_ENV_VAR, target=missing_env.bundle.workload or {},
        policy=AnalysisPolicy(),
    )  # fmt: skip
    assert fix.author is Author.MODEL and fix.diff == missing_env.diagnosis.fix.diff


@pytest.mark.parametrize(
    ("patch", "target", "reason"),
    [
        ([{"op": "test", "path": "/spec/replicas", "value": 2}, {"op": "replace", "path": "/spec/replicas", "value": 0}], None, "scales_to_zero"),
        ([{"op": "remove", "path": "/spec/replicas"}], None, "scales_to_zero"),
        ([GUARD, {"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}], {**TARGET, "name": "payments"}, "wrong_target"),
        ([GUARD, {"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}], {**TARGET, "namespace": "kube-system"}, "wrong_target"),
        ([GUARD, {"op": "test", "path": f"{C}/image", "value": "registry.example.com/shop/checkout:2.3.0"},
          {"op": "replace", "path": f"{C}/image", "value": "registry.example.com/shop/checkout:2.2.4"}], None, "out_of_scope"),
        ([GUARD, {"op": "add", "path": f"{C}/securityContext", "value": {"privileged": True}}], None, "out_of_scope"),
        ([GUARD, {"op": "add", "path": "/metadata/labels/owner", "value": "me"}], None, "out_of_scope"),
        ([GUARD, {"op": "replace", "path": f"{C}/env/0/value", "value": "cart"}], None, "unguarded_change"),
        ([GUARD, {"op": "add", "path": f"{C}/env", "value": [SECRET_REF]}], None, "unguarded_change"),
        ([{"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}], None, "unguarded_container"),
        ([GUARD, {"op": "move", "from": f"{C}/env/0", "path": f"{C}/env/1"}], None, "op_not_allowed"),
        ([{"op": "remove", "path": "/spec/template/spec/containers"}], None, "deletes_workload"),
        ([{"op": "remove", "path": "/spec"}], None, "deletes_workload"),
        ([GUARD, {"op": "test", "path": f"{C}/env/0/name", "value": "NOT_THERE"},
          {"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}], None, "does_not_apply"),
        ([GUARD, {"op": "add", "path": f"{C}/env/-", "value": {"name": "DATABASE_URL", "value": "postgres://checkout:s3cr3t-pw@db:5432/x"}}],
         None, "credential_in_patch"),
        ([GUARD, {"op": "add", "path": f"{C}/env/-", "value": {"name": "DB_PASSWORD", "value": "letmein-please"}}], None, "credential_in_patch"),
        ([GUARD, {"op": "add", "path": f"{C}/env/-", "value": {"name": "DATABASE_URL", "value": "[REDACTED]"}}], None, "redacted_value"),
        ([GUARD], None, "empty_patch"),
    ],
)  # fmt: skip
def test_bad_patches_are_rejected(missing_env: Case, patch: list[dict[str, Any]], target: dict[str, str] | None, reason: str) -> None:
    """Each unsafe or out-of-scope patch for a missing_env_var fix is rejected with its own reason."""
    with pytest.raises(guards.Rejected) as info:
        guards.check_fix(_answer(patch, target), category=Category.MISSING_ENV_VAR, target=missing_env.bundle.workload or {},
                         policy=AnalysisPolicy())  # fmt: skip
    assert info.value.reason == reason


def test_a_category_without_allowlist_may_change_nothing(missing_env: Case) -> None:
    """An `unknown` root cause admits no patch, however well guarded."""
    assert not scope.fixable(Category.UNKNOWN)
    with pytest.raises(guards.Rejected, match="out_of_scope"):
        guards.check_fix(_answer([GUARD, {"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}]), category=Category.UNKNOWN,
                         target=missing_env.bundle.workload or {}, policy=AnalysisPolicy())  # fmt: skip


def test_selector_fix_may_not_patch_a_deployment(missing_env: Case) -> None:
    """A service_selector_mismatch fix patches the Service only."""
    with pytest.raises(guards.Rejected, match="wrong_target_kind"):
        guards.check_fix(_answer([GUARD, {"op": "add", "path": f"{C}/env/-", "value": SECRET_REF}]),
                         category=Category.SERVICE_SELECTOR_MISMATCH, target=missing_env.bundle.workload or {}, policy=AnalysisPolicy())  # fmt: skip


async def test_memory_above_policy_is_rejected() -> None:
    """An OOM fix may raise memory only up to AEGIS_MEMORY_LIMIT_MAX_MIB."""
    case = await example("ledger-api-degraded")
    assert case.diagnosis.fix is not None
    patch = case.diagnosis.fix.patch_json()
    patch[-1] = {**patch[-1], "value": "64Gi"}
    answer = _answer(patch, case.diagnosis.fix.target.model_dump())
    with pytest.raises(guards.Rejected, match="memory_above_policy"):
        guards.check_fix(answer, category=Category.OOM_KILLED, target=case.bundle.workload or {}, policy=AnalysisPolicy(memory_limit_max_mib=8192))
    patch[-1] = {**patch[-1], "value": "512Mi"}
    fix = guards.check_fix(_answer(patch, case.diagnosis.fix.target.model_dump()), category=Category.OOM_KILLED,
                           target=case.bundle.workload or {}, policy=AnalysisPolicy())  # fmt: skip
    assert "512Mi" in fix.diff


async def test_rollout_fix_may_restore_the_previous_revision_only() -> None:
    """For rollout_stuck, a field outside the allowlist may change only back to the previous revision's value."""
    case = await example("billing-worker-upgrade")
    assert case.diagnosis.fix is not None and case.diagnosis.rca.category is Category.ROLLOUT_STUCK
    previous = template_pair(case.bundle)[1]
    target, patch = case.bundle.workload or {}, case.diagnosis.fix.patch_json()
    ref = case.diagnosis.fix.target.model_dump()
    guards.check_fix(_answer(patch, ref), category=Category.ROLLOUT_STUCK, target=target, policy=AnalysisPolicy(), previous_template=previous)
    elevated = [op if op.get("path", "").rsplit("/", 1)[-1] != "serviceAccountName" or op["op"] == "test" else {**op, "value": "cluster-admin"}
                for op in patch]  # fmt: skip
    with pytest.raises(guards.Rejected, match="out_of_scope"):
        guards.check_fix(_answer(elevated, ref), category=Category.ROLLOUT_STUCK, target=target, policy=AnalysisPolicy(), previous_template=previous)


def test_plan_with_load_probe_on_undeclared_port_is_rejected(missing_env: Case) -> None:
    """A load probe may target only a port the workload declares; the settle window must be below the timeout."""
    workload = missing_env.bundle.workload
    good = PlanAnswer.model_validate({"checks": ["ready"], "load_test_config": {"port": 8080, "path": "/ready"}})
    assert guards.check_plan(good, workload=workload, fallback=None).author is Author.MODEL
    with pytest.raises(guards.Rejected, match="unknown_port"):
        guards.check_plan(PlanAnswer.model_validate({"checks": ["ready"], "load_test_config": {"port": 22}}), workload=workload, fallback=None)
    with pytest.raises(guards.Rejected, match="settle_exceeds_timeout"):
        guards.check_plan(PlanAnswer.model_validate({"checks": ["ready"], "settle_seconds": 300, "timeout_seconds": 60}),
                          workload=workload, fallback=None)  # fmt: skip


async def test_out_of_scope_patch_from_the_model_leaves_the_analyzers_fix(missing_env: Case) -> None:
    """Through refine(): a model changing the image in a missing_env_var fix is dropped and logged; the analyzers' fix stands."""
    bad = _answer([GUARD, {"op": "test", "path": f"{C}/image", "value": "registry.example.com/shop/checkout:2.3.0"},
                   {"op": "replace", "path": f"{C}/image", "value": "evil.example.com/checkout:latest"}]).model_dump(mode="json", by_alias=True)  # fmt: skip
    model = missing_env.model(solution=json.dumps(bad))
    refined = await pipeline.refine(missing_env.diagnosis, settings=config.load(llm_max_retries=0), bundle=missing_env.bundle, model=model)
    assert refined.fix == missing_env.diagnosis.fix and refined.fix is not None and refined.fix.author is Author.ANALYZERS
    assert any("out_of_scope" in n and "/image" in n for n in refined.notes)


def test_changed_leaves_and_memory_quantities() -> None:
    """Leaves are reported where they change (whole lists when their length changes); memory quantities convert to MiB."""
    before = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    after = {"a": {"b": 2, "c": [1, 2, 3], "e": {"f": 1}}}
    assert sorted(guards.changed_leaves(before, after)) == ["/a/b", "/a/c", "/a/e/f", "/d"]
    assert guards.memory_mib("512Mi") == 512 and guards.memory_mib("2Gi") == 2048 and guards.memory_mib("lots") is None
    assert scope.allows(Category.OOM_KILLED, "Deployment", f"{C}/resources/limits/memory")
    assert not scope.allows(Category.OOM_KILLED, "Deployment", f"{C}/resources/limits/cpu")
    assert scope.allows(Category.MISSING_ENV_VAR, "Pod", "/spec/containers/1/env/0")
    assert not scope.allows(Category.MISSING_ENV_VAR, "Deployment", f"{C}/environment")
