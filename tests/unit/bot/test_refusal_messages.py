"""The private replies to refused clicks say what happened and what to do next."""

from __future__ import annotations

import pytest

from aegis.bot import messages
from aegis.core.incidents.view import Refusal


def test_a_changed_template_says_so_and_points_to_re_analyze() -> None:
    """The reply names the incident, says the template changed since the diagnosis, that nothing changed, and to re-analyze."""
    text = messages.outcome("apply", Refusal.CHANGED.value, "INC-7")
    assert "INC-7" in text and "pod template changed since it was diagnosed" in text and "Nothing changed" in text and "Re-analyze" in text


def test_an_unreadable_template_says_why_and_refuses() -> None:
    """When the workload cannot be read, the reason is given and nothing is done."""
    text = messages.outcome("verify", Refusal.UNCHECKED.value, "could not read Deployment/shop/api to check its pod template is the one diagnosed: gone")
    assert text.startswith("AEGIS will not verify this fix: it could not read Deployment/shop/api") and "Nothing changed" in text


@pytest.mark.parametrize("refusal", list(Refusal))
def test_every_refusal_has_its_own_sentence(refusal: Refusal) -> None:
    """No refusal falls through to the generic 'Could not …' of a failed action, except FAILED itself."""
    text = messages.outcome("apply", refusal.value, "read-only shop" if refusal is Refusal.MODE else "INC-1")
    assert text.strip()
    assert text.startswith("Could not apply") == (refusal is Refusal.FAILED), (refusal, text)
