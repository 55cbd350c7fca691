"""Output validation: what a model's answer must satisfy before any of it reaches a person.

Each check raises `Rejected(reason, detail)`; the pipeline logs `llm.validate.rejected` and keeps
the deterministic part instead. The checks assume the model was manipulated (evidence text is
attacker-controllable), so they judge the answer by what it does, never by what it says:

- RCA: cites only evidence ids that exist, every evidence bullet cites one, the category comes from
  the fixed vocabulary and may differ from the analyzers' only when theirs is weak.
- Fix: on the diagnosed object only, of a kind the category fixes; only add/remove/replace/test; a
  `test` guard before every replaced or removed value and on the name of every container touched;
  applies (guards included) to the object as diagnosed; every changed leaf inside the category's
  allowlist (`scope`) or, for rollout faults, restores the previous revision; never replicas 0, never deleting the workload; no redacted marker or
  credential-looking value; memory within policy.
- Plan: settle window within the timeout; a load probe only on a port the workload declares.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonpatch
import jsonpointer

from aegis.core import objects, redaction
from aegis.core.agents import scope
from aegis.core.agents.answers import FixAnswer, PlanAnswer, RCAAnswer
from aegis.core.fixes.diff import workload_diff
from aegis.core.fixes.patching import escape
from aegis.core.models import (
    AnalysisPolicy,
    Author,
    Category,
    Diagnosis,
    FixProposal,
    KubeObject,
    PatchOperation,
    RCAResult,
    VerificationPlan,
)  # fmt: skip

# The model may replace the analyzers' category only when theirs is this weak (or `unknown`).
OVERRIDE_BELOW_CONFIDENCE = 0.5

_CITATION = re.compile(r"\bE\d+\b")
_MEMORY = re.compile(r"/resources/(?:limits|requests)/memory$")
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_MIB_PER_UNIT = {None: 1 / 2**20, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0**2,
                 "k": 1e3 / 2**20, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}  # fmt: skip


class Rejected(Exception):  # noqa: N818 - a verdict, not a failure of AEGIS
    """An answer (or part of one) that failed validation; `reason` is a stable snake_case code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _masked(text: str) -> str:
    return redaction.mask(text)


# --- RCA ----------------------------------------------------------------------------------------


def may_override(hypothesis: RCAResult) -> bool:
    """Whether a model may replace the analyzers' category with its own."""
    return hypothesis.category is Category.UNKNOWN or hypothesis.confidence < OVERRIDE_BELOW_CONFIDENCE


def check_rca(answer: RCAAnswer, diagnosis: Diagnosis) -> RCAResult:
    known = {e.id for e in diagnosis.evidence}
    texts = [answer.summary, *answer.analysis_steps, *answer.evidence_summary]
    cited = set(answer.evidence_ids) | {m for t in texts for m in _CITATION.findall(t)}
    unknown = sorted(cited - known, key=lambda e: (len(e), e))
    if unknown:
        raise Rejected("unknown_evidence_id", f"cites {', '.join(unknown)}; evidence is {_id_range(diagnosis)}")
    uncited = [b for b in answer.evidence_summary if not _CITATION.search(b)]
    if uncited:
        raise Rejected("uncited_evidence_bullet", f"bullet cites no evidence id: {uncited[0][:80]!r}")
    hypothesis = diagnosis.rca
    if answer.category is not hypothesis.category and not may_override(hypothesis):
        raise Rejected(
            "category_conflict",
            f"model says {answer.category.value}, analyzers say {hypothesis.category.value} at confidence {hypothesis.confidence:.2f}",
        )
    result = answer.to_result()
    return result.model_copy(update={
        "summary": _masked(result.summary),
        "analysis_steps": [_masked(s) for s in result.analysis_steps],
        "evidence_summary": [_masked(s) for s in result.evidence_summary],
    })  # fmt: skip


def _id_range(diagnosis: Diagnosis) -> str:
    ids = [e.id for e in diagnosis.evidence]
    return f"{ids[0]}..{ids[-1]}" if ids else "empty"


# --- Fix ----------------------------------------------------------------------------------------

_DESTRUCTIVE = ("", "/spec", "/metadata", "/spec/template", "/spec/template/spec")


def check_fix(
    answer: FixAnswer, *, category: Category, target: KubeObject, policy: AnalysisPolicy, previous_template: dict[str, Any] | None = None
) -> FixProposal:
    """The proposal, validated against the object as diagnosed; raises Rejected otherwise.

    `previous_template` is the pod template of the revision before the current one: for the rollout
    categories, a change outside the allowlist passes when it restores that revision's value (a rollback).
    """
    if not answer.propose_patch:
        raise Rejected("no_patch", "the model proposes no patch")
    ref, kind = objects.ref(target), str(target.get("kind", ""))
    if answer.target != ref:
        raise Rejected("wrong_target", f"patch targets {answer.target}, the diagnosed object is {ref}")
    if kind not in scope.target_kinds(category):
        raise Rejected("wrong_target_kind", f"a {category.value} fix may not patch a {kind}")
    ops = answer.patch
    if not any(op.op != "test" for op in ops):
        raise Rejected("empty_patch", "the patch changes nothing")
    _check_ops(ops, kind, target)
    patch = [op.as_json() for op in ops]
    try:
        patched: KubeObject = jsonpatch.apply_patch(target, patch)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError, KeyError, IndexError) as exc:
        raise Rejected("does_not_apply", f"patch does not apply to {ref} as diagnosed: {str(exc)[:160]}") from exc
    changed = changed_leaves(target, patched)
    outside = [p for p in changed if not scope.allows(category, kind, p) and not _restores(p, patched, category, previous_template)]
    if outside:
        raise Rejected("out_of_scope", f"a {category.value} fix may not change {outside[0]}")
    _check_memory(patched, changed, policy)
    return FixProposal(
        target=ref,
        patch=ops,
        summary=_masked(answer.summary) or "Patch proposed by the model",
        decision_rationale=_masked(answer.decision_rationale),
        risk=answer.risk,
        risk_notes=_masked(answer.risk_notes),
        alternatives_rejected=[_masked(a) for a in answer.alternatives_rejected],
        diff=workload_diff(target, patch),
        author=Author.MODEL,
    )


def _check_ops(ops: list[PatchOperation], kind: str, target: KubeObject) -> None:
    tested: list[str] = []
    for op in ops:
        if op.op in ("move", "copy"):
            raise Rejected("op_not_allowed", f"{op.op} {op.path}: only add, remove, replace and test are allowed")
        if op.op != "test" and op.path.rstrip("/").endswith("/replicas") and (op.op == "remove" or op.value in (0, "0")):
            raise Rejected("scales_to_zero", f"{op.op} {op.path} would scale the workload to zero")
        if op.op in ("remove", "replace") and op.path in (*_DESTRUCTIVE, f"{objects.pod_template_path(kind)}/containers"):
            raise Rejected("deletes_workload", f"{op.op} {op.path} would delete the workload's definition")
        if redaction.MARKER in json.dumps(op.value, default=str):
            raise Rejected("redacted_value", f"{op.op} {op.path} carries a redacted value; it can be neither guarded nor written back")
        if op.op != "test" and _carries_credential(op.path, op.value):
            raise Rejected("credential_in_patch", f"{op.op} {op.path} writes a credential-looking literal; reference a Secret instead")
        if op.op == "test":
            tested.append(op.path)
            continue
        replaces = op.op in ("remove", "replace") or (op.op == "add" and _is_existing_member(target, op.path))
        if replaces and not any(_within(op.path, t) for t in tested):
            raise Rejected("unguarded_change", f"{op.op} {op.path} has no preceding test guard on the value it replaces")
        container = scope.container_of(kind, op.path)
        if container and not any(_within(t, container) or _within(container, t) for t in tested):
            raise Rejected("unguarded_container", f"{op.op} {op.path} is not preceded by a test inside {container} (e.g. of its name)")


_MISSING = object()


def _restores(path: str, patched: KubeObject, category: Category, previous_template: dict[str, Any] | None) -> bool:
    """Whether the change at `path` sets the pod template back to the previous revision's value."""
    if category not in scope.ROLLBACK_CATEGORIES or previous_template is None or not path.startswith("/spec/template/"):
        return False
    now = jsonpointer.resolve_pointer(patched, path, _MISSING)
    before = jsonpointer.resolve_pointer(previous_template, path.removeprefix("/spec/template"), _MISSING)
    return bool(now == before)


def _carries_credential(path: str, value: Any) -> bool:
    """A literal that redaction would mask, or a literal value for an env var whose name says secret."""
    if isinstance(value, str):
        return redaction.mask(value) != value
    if isinstance(value, dict):
        name = value.get("name")
        if isinstance(name, str) and isinstance(value.get("value"), str) and value["value"] and redaction.is_secret_name(name):
            return True
        return any(_carries_credential(f"{path}/{escape(str(k))}", v) for k, v in value.items())
    if isinstance(value, list):
        return any(_carries_credential(f"{path}/{i}", v) for i, v in enumerate(value))
    return False


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def _is_existing_member(target: KubeObject, path: str) -> bool:
    """True when `add` at path would overwrite an existing object member (RFC 6902: add replaces)."""
    parent, _, last = path.rpartition("/")
    try:
        container = jsonpointer.resolve_pointer(target, parent) if parent else target
    except jsonpointer.JsonPointerException:
        return False
    key = last.replace("~1", "/").replace("~0", "~")
    return isinstance(container, dict) and key in container


def changed_leaves(before: Any, after: Any, path: str = "") -> list[str]:
    """JSON pointers of every leaf added, removed or changed; a list whose length changed counts as one leaf."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            child = f"{path}/{escape(str(key))}"
            if key not in after:
                out += _leaves(before[key], child)
            elif key not in before:
                out += _leaves(after[key], child)
            else:
                out += changed_leaves(before[key], after[key], child)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [leaf for i, (b, a) in enumerate(zip(before, after, strict=True)) for leaf in changed_leaves(b, a, f"{path}/{i}")]
    return [] if before == after else [path]


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for key, child in value.items() for leaf in _leaves(child, f"{path}/{escape(str(key))}")]
    return [path]


def memory_mib(quantity: Any) -> float | None:
    """A Kubernetes memory quantity in MiB, or None when it is not one."""
    match = _QUANTITY.match(str(quantity))
    return float(match.group(1)) * _MIB_PER_UNIT[match.group(2)] if match else None


def _check_memory(patched: KubeObject, changed: list[str], policy: AnalysisPolicy) -> None:
    for path in changed:
        if not _MEMORY.search(path):
            continue
        try:
            value = jsonpointer.resolve_pointer(patched, path)
        except jsonpointer.JsonPointerException:
            continue  # removed: nothing to bound
        mib = memory_mib(value)
        if mib is None:
            raise Rejected("bad_quantity", f"{path} = {value!r} is not a memory quantity")
        if mib > policy.memory_limit_max_mib:
            raise Rejected("memory_above_policy", f"{path} = {value} exceeds AEGIS_MEMORY_LIMIT_MAX_MIB ({policy.memory_limit_max_mib} Mi)")


# --- Verification plan ---------------------------------------------------------------------------


def check_plan(answer: PlanAnswer, *, workload: KubeObject | None, fallback: VerificationPlan | None) -> VerificationPlan:
    if answer.settle_seconds >= answer.timeout_seconds:
        raise Rejected("settle_exceeds_timeout", f"settle window {answer.settle_seconds:.0f}s is not below the timeout {answer.timeout_seconds:.0f}s")
    load = answer.load_test_config
    if load is not None:
        ports = _declared_ports(workload)
        if fallback and fallback.load_test_config:
            ports.add(fallback.load_test_config.port)
        if load.port not in ports:
            raise Rejected("unknown_port", f"load probe on port {load.port}; the workload declares {sorted(ports) or 'none'}")
    plan = answer.to_plan()
    return plan.model_copy(update={"checks": [_masked(c) for c in plan.checks]})


def _declared_ports(workload: KubeObject | None) -> set[int]:
    if workload is None:
        return set()
    return {
        int(p["containerPort"]) for c in objects.containers(objects.pod_spec(workload)) for p in c.get("ports") or [] if isinstance(p.get("containerPort"), int)
    }
