"""Near-misses: incidents that look like a failure class but are not, are not misdiagnosed as it."""

from __future__ import annotations

import pytest

from tests.incidents import NEAR_MISSES, Incident, diagnose_snapshot, load_all

CASES = load_all(NEAR_MISSES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_near_miss_is_not_misdiagnosed(case: Incident) -> None:
    """The near-miss gets its true category (expected.json 'category'), never the look-alike ('not_category')."""
    diagnosis = await diagnose_snapshot(case.snapshot, case.target)
    assert diagnosis.rca.category.value != case.expected["not_category"], diagnosis.rca.summary
    assert diagnosis.rca.category.value == case.expected["category"], diagnosis.rca.summary
