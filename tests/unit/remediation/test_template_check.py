"""Verify and Apply act only on the pod template that was diagnosed: changed, or unreadable, is refused and audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from aegis.core.errors import ForbiddenError
from aegis.core.incidents import fixing
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.states import Action
from aegis.core.incidents.view import Refusal
from aegis.core.models import IncidentState, ObjectRef
from tests.unit.store.contract import diagnosis, incident


@dataclass
class Reader:
    """Stands in for the Remediator's one read: the live template's digest, or the error reading it raised."""

    digest: str | None = None
    error: Exception | None = None

    async def template_digest(self, ref: ObjectRef) -> str | None:
        if self.error is not None:
            raise self.error
        return self.digest


@dataclass
class StubParts:
    remediator: Reader
    audited: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def audit(self, incident_id: Any, actor: str, action: str, outcome: str, detail: str = "") -> None:
        self.audited.append((actor, action, outcome, detail))


def diagnosed(digest: str | None = "d1") -> Any:
    return incident("INC-1", state=IncidentState.DIAGNOSED, diagnosis=diagnosis().model_copy(update={"template_digest": digest}))


async def test_the_same_template_passes() -> None:
    """The live digest equals the diagnosis': nothing to refuse, nothing audited."""
    parts = StubParts(Reader("d1"))
    assert await fixing.template_changed(cast(Parts, parts), diagnosed(), "U1", Action.APPLY) is None
    assert parts.audited == []


async def test_a_changed_template_is_refused_and_audited() -> None:
    """Another digest: Refusal.CHANGED (the surface offers Re-analyze), audited as refused with the workload named."""
    parts = StubParts(Reader("d2"))
    outcome = await fixing.template_changed(cast(Parts, parts), diagnosed(), "U1", Action.VERIFY)
    assert outcome is not None and outcome.refusal is Refusal.CHANGED and outcome.detail == "INC-1"
    ((actor, action, result, detail),) = parts.audited
    assert (actor, action, result) == ("U1", "verify", "refused") and "api" in detail and "changed since the diagnosis" in detail


async def test_an_unreadable_template_is_refused_not_assumed_unchanged() -> None:
    """A 403 (or 404) reading the workload refuses the click, saying why; it never acts on a template nobody saw."""
    parts = StubParts(Reader(error=ForbiddenError("get", "deployments", "shop")))
    outcome = await fixing.template_changed(cast(Parts, parts), diagnosed(), "U1", Action.APPLY)
    assert outcome is not None and outcome.refusal is Refusal.UNCHECKED and "could not read" in outcome.detail and "forbidden" in outcome.detail
    assert parts.audited[0][:3] == ("U1", "apply", "refused")


async def test_a_diagnosis_without_a_digest_is_not_checked() -> None:
    """Diagnoses stored before the digest existed (or of a target with no template) are not refused for it."""
    parts = StubParts(Reader(error=AssertionError("must not be read")))
    assert await fixing.template_changed(cast(Parts, parts), diagnosed(None), "U1", Action.APPLY) is None
