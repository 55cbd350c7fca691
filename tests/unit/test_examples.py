"""Every example incident is diagnosed to its expected class, and its fix removes the defect."""

from __future__ import annotations

import json
import re

import pytest

from aegis.core.models import Diagnosis
from tests.incidents import EXAMPLES, Incident, apply_fix, check_fixed, diagnose_snapshot, load_all, workload_of

INCIDENTS = load_all(EXAMPLES)


@pytest.mark.parametrize("incident", INCIDENTS, ids=[i.name for i in INCIDENTS])
async def test_example_is_diagnosed_and_fixed(incident: Incident) -> None:
    """The snapshot's diagnosis has the expected category, and the patch applied to the workload meets expected.json."""
    diagnosis = await diagnose_snapshot(incident.snapshot, incident.target)
    assert diagnosis.rca.category.value == incident.expected["category"], diagnosis.rca.summary
    cited = set(diagnosis.rca.evidence_ids)
    assert cited, "a diagnosis must cite evidence"
    assert cited <= {e.id for e in diagnosis.evidence}
    if not incident.expected["fix"]:
        assert diagnosis.fix is None
        assert diagnosis.manual_steps, "no fix must come with what a human should do"
        return
    assert diagnosis.fix is not None, f"expected a fix; manual steps: {diagnosis.manual_steps}"
    ops = diagnosis.fix.patch_json()
    assert any(op["op"] == "test" for op in ops), "every fix is guarded by test operations"
    fixed = apply_fix(await workload_of(incident, diagnosis), diagnosis)
    assert check_fixed(fixed, incident.expected["fixed"]) == []
    assert diagnosis.fix.diff.startswith("---")


def test_examples_cover_every_failure_class() -> None:
    """There is at least one example incident for each category of the fixed vocabulary except unknown."""
    from aegis.core.models import Category

    covered = {json.loads((i.directory / "expected.json").read_text())["category"] for i in INCIDENTS}
    missing = {c.value for c in Category} - covered - {"unknown"}
    assert not missing, f"no example incident for: {sorted(missing)}"


_CITATION = re.compile(r"\[(E\d+(?:,\s*E\d+)*)\]")


def uncited_steps(diagnosis: Diagnosis) -> list[str]:
    """Steps without an [E<n>] citation, or citing an id the diagnosis has no evidence for.

    Every analysis step is factual here: it states an observation, or a decision (a fix, or why
    there is none) drawn from observations; either way a reader must be able to check it.
    """
    known = {e.id for e in diagnosis.evidence}
    bad = []
    for step in diagnosis.rca.analysis_steps:
        cited = [i.strip() for group in _CITATION.findall(step) for i in group.split(",")]
        if not cited or not set(cited) <= known:
            bad.append(step)
    return bad


def test_every_analysis_step_cites_existing_evidence() -> None:
    """Over all examples, every analysis step cites evidence ids the diagnosis actually has."""
    failures = []
    for incident in INCIDENTS:
        diagnosis = diagnose_sync_in_loop(incident)
        failures += [f"{incident.name}: {step}" for step in uncited_steps(diagnosis)]
    assert not failures, f"{len(failures)} uncited steps:\n" + "\n".join(failures)


def diagnose_sync_in_loop(incident: Incident) -> Diagnosis:
    import asyncio

    return asyncio.run(diagnose_snapshot(incident.snapshot, incident.target))
