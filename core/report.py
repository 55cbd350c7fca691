"""The stable JSON contract of `aegis analyze --output json` (and its JSON Schema).

Other tools parse this: fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aegis.core.models import Author, Category, Diagnosis, Evidence, ObjectRef, Risk

SCHEMA_ID = "https://aegis.dev/schemas/analysis-report-v1.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportDiagnosis(_Strict):
    category: Category
    summary: str
    confidence: float = Field(ge=0, le=1)
    analysis_steps: list[str]
    evidence_summary: list[str]
    evidence: list[Evidence]
    author: Author = Field(default=Author.ANALYZERS, description="Who wrote the root cause: analyzers, or a validated model answer.")


class ReportFix(_Strict):
    target: ObjectRef
    patch_type: str = Field(description="Always 'json': an RFC 6902 JSON Patch.")
    patch: list[dict[str, Any]]
    summary: str
    decision_rationale: str
    risk: Risk
    diff: str
    author: Author = Field(default=Author.ANALYZERS, description="Who wrote the proposal: analyzers, or a validated model answer.")


class AnalysisReport(_Strict):
    """What `aegis analyze --output json` prints: one object per analysis."""

    target: ObjectRef
    workload: ObjectRef | None
    diagnosis: ReportDiagnosis
    fix: ReportFix | None
    manual_steps: list[str] = Field(default_factory=list, description="What a human must do when fix is null.")
    notes: list[str] = Field(default_factory=list)
    llm_model: str | None = Field(default=None, description="The language model consulted ('provider:model'); null: analyzers only.")

    @classmethod
    def from_diagnosis(cls, d: Diagnosis) -> AnalysisReport:
        fix = None
        if d.fix:
            fix = ReportFix(
                target=d.fix.target,
                patch_type=d.fix.patch_type,
                patch=d.fix.patch_json(),
                summary=d.fix.summary,
                decision_rationale=d.fix.decision_rationale,
                risk=d.fix.risk,
                diff=d.fix.diff,
                author=d.fix.author,
            )
        return cls(
            target=d.target,
            workload=d.workload,
            diagnosis=ReportDiagnosis(
                category=d.rca.category,
                summary=d.rca.summary,
                confidence=d.rca.confidence,
                analysis_steps=d.rca.analysis_steps,
                evidence_summary=d.rca.evidence_summary,
                evidence=d.evidence,
                author=d.rca.author,
            ),
            fix=fix,
            manual_steps=d.manual_steps,
            notes=d.notes,
            llm_model=d.llm_model,
        )


def to_json(d: Diagnosis) -> str:
    return AnalysisReport.from_diagnosis(d).model_dump_json(indent=2)


def json_schema() -> str:
    schema = AnalysisReport.model_json_schema()
    schema["$id"] = SCHEMA_ID
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2)
