"""What an analyzer is: a pure function from (bundle, evidence) to a Finding or None.

Analyzers never call an API: everything they need was collected into the bundle. Each module in
this package handles one failure class and exports `analyze(ctx) -> Finding | None`. A Finding
cites evidence by id; its fix is a FixDraft (guarded JSON-patch ops) that the engine turns into
a FixProposal with a diff of the workload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aegis.core.evidence.bundle import Dependency, ObjectBundle
from aegis.core.evidence.extract import EvidenceSet
from aegis.core.models import AnalysisPolicy, Category, EvidenceId, KubeObject, PatchOperation, Risk

__all__ = ["AnalysisPolicy", "Context", "Finding", "FixDraft", "Upstream"]

_CITATION = re.compile(r"\[E\d+(?:, E\d+)*\]")


@dataclass(frozen=True)
class FixDraft:
    """A proposed patch before the engine attaches the target and the diff."""

    ops: list[PatchOperation]
    summary: str
    rationale: str
    risk: Risk
    risk_notes: str = ""
    alternatives_rejected: list[str] = field(default_factory=list)
    # The object the ops apply to when it is not the owning workload (e.g. a Service's selector).
    target: KubeObject | None = None


@dataclass(frozen=True)
class Finding:
    category: Category
    confidence: float
    summary: str
    steps: list[str]
    evidence_ids: list[EvidenceId]
    fix: FixDraft | None = None
    manual_steps: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Upstream:
    """A failing dependency's own diagnosis: the best finding over its workload, its ids renumbered into ours."""

    dependency: Dependency
    finding: Finding | None


@dataclass(frozen=True)
class Context:
    bundle: ObjectBundle
    evidence: EvidenceSet
    policy: AnalysisPolicy
    # (namespace, service) → what the engine found behind a Service the logs fail to reach.
    upstream: dict[tuple[str, str], Upstream] = field(default_factory=dict)

    @property
    def pod(self) -> KubeObject | None:
        return self.bundle.pod

    @property
    def workload(self) -> KubeObject | None:
        return self.bundle.workload

    def cite(self, *keys: str) -> str:
        """'[E1, E3]' for the evidence behind these keys (empty when none exists)."""
        ids = self.evidence.ids(*keys)
        return f" [{', '.join(ids)}]" if ids else ""

    def cited(self, step: str, *keys: str) -> str:
        """The step with a citation of these keys' evidence, unless it already cites its own."""
        return step if _CITATION.search(step) else step + self.cite(*keys)
