"""Every example incident is diagnosed to its expected class, and its fix removes the defect."""

from __future__ import annotations

import json

import pytest

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
