"""The shapes a model answers in, one per agent, and their conversion into the domain models.

They mirror RCAResult, FixProposal and VerificationPlan minus what AEGIS computes itself (the
diff, the author, the patch type) plus what only the model can say (whether it confirms the
hypothesis; whether a patch is safe at all). Types are strict, unknown keys are ignored: a wrong
type or a value outside the fixed vocabulary fails parsing, and the deterministic result stands.
"""

from __future__ import annotations

import json
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aegis.core.models import Author, Category, EvidenceId, LoadTestConfig, ObjectRef, PatchOperation, RCAResult, Risk, VerificationPlan

Stage = Literal["rca", "solution", "verifier"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


A = TypeVar("A", bound=Answer)


class AnswerError(ValueError):
    """The model's text is not a valid answer; `reason` is malformed_json or schema_mismatch."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RCAAnswer(Answer):
    """The RCA agent's answer: the hypothesis confirmed or refuted, explained step by step."""

    verdict: Literal["confirmed", "refuted"] = Field(description="Whether the evidence supports the analyzers' hypothesis.")
    category: Category = Field(description="Root-cause class, from the fixed vocabulary only.")
    summary: str = Field(min_length=1, max_length=800, description="The root cause in one or two sentences.")
    confidence: float = Field(ge=0.0, le=1.0)
    analysis_steps: list[str] = Field(min_length=1, max_length=15, description="Step-by-Step Analysis: 'check — finding [E1]'.")
    evidence_summary: list[str] = Field(min_length=1, max_length=15, description="Evidence Summary: bullets, each citing ids.")
    evidence_ids: list[str] = Field(min_length=1, max_length=50, description="Every evidence id the steps rely on.")

    def to_result(self) -> RCAResult:
        return RCAResult(
            category=self.category,
            summary=self.summary,
            confidence=self.confidence,
            analysis_steps=self.analysis_steps,
            evidence_summary=self.evidence_summary,
            evidence_ids=[EvidenceId(e) for e in self.evidence_ids],
            author=Author.MODEL,
        )


class FixAnswer(Answer):
    """The solution agent's answer: a guarded JSON patch on the diagnosed object, or none."""

    propose_patch: bool = Field(description="False when no patch is safe; then say why in decision_rationale.")
    target: ObjectRef | None = Field(default=None, description="The object the patch applies to (the diagnosed one).")
    patch: list[PatchOperation] = Field(default_factory=list, max_length=40, description="RFC 6902 ops, with test guards.")
    summary: str = Field(default="", max_length=400, description="What the patch does, in one line.")
    decision_rationale: str = Field(default="", max_length=2000, description="Decision Rationale: why this fix, over the alternatives.")
    risk: Risk = Risk.MEDIUM
    risk_notes: str = Field(default="", max_length=800)
    alternatives_rejected: list[str] = Field(default_factory=list, max_length=8, description="Each: option: why rejected.")


class PlanAnswer(Answer):
    """The verifier agent's answer: how a shadow run judges the fix."""

    checks: list[str] = Field(min_length=1, max_length=12)
    settle_seconds: float = Field(default=30.0, ge=0, le=600)
    timeout_seconds: float = Field(default=180.0, gt=0, le=1800)
    load_test_config: LoadTestConfig | None = None

    def to_plan(self) -> VerificationPlan:
        return VerificationPlan(
            checks=self.checks,
            settle_seconds=self.settle_seconds,
            timeout_seconds=self.timeout_seconds,
            load_test_config=self.load_test_config,
            author=Author.MODEL,
        )


SCHEMAS: dict[Stage, type[Answer]] = {"rca": RCAAnswer, "solution": FixAnswer, "verifier": PlanAnswer}


def parse(schema: type[A], text: str) -> A:
    """Strictly parse one JSON object (a surrounding code fence or sentence is tolerated) into `schema`."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise AnswerError("malformed_json", f"no JSON object in the answer ({len(text)} characters)")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AnswerError("malformed_json", f"{exc.msg} at character {exc.pos}") from exc
    return validate(schema, data)


def validate(schema: type[A], data: object) -> A:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise AnswerError("schema_mismatch", f"{where}: {first['msg']}") from exc
