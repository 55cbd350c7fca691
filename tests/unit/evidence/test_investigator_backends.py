"""The investigator adds backend evidence after the Kubernetes collection, numbered and cited, and survives dead backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aegis.core import config
from aegis.core.evidence.backends import BackendResult, Observation
from aegis.core.evidence.scope import PodScope, TimeWindow
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, EvidenceKind, ObjectRef
from tests.incidents import EXAMPLES

SNAPSHOT = EXAMPLES / "crashloop-missing-env" / "snapshot"


class Recorded:
    name = "prometheus"

    def __init__(self) -> None:
        self.asked: list[tuple[PodScope, TimeWindow]] = []

    async def observe(self, scope: PodScope, window: TimeWindow) -> BackendResult:
        self.asked.append((scope, window))
        return BackendResult("prometheus", [Observation(EvidenceKind.METRIC, "Prometheus: restarted 4 times", link="https://g/x")], ["a gap"])


def _first_target() -> ObjectRef:
    return ObjectRef(**json.loads((SNAPSHOT.parent / "expected.json").read_text())["target"])


async def test_backend_evidence_is_numbered_cited_and_noted() -> None:
    """Metric evidence gets the next E-id, is cited by the RCA, keeps its link; the backend's note comes first."""
    source = Recorded()
    window = TimeWindow(start=datetime(2026, 11, 25, 15, 0, tzinfo=UTC), end=datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    plain = await Investigator(SnapshotGateway.open(SNAPSHOT)).investigate(_first_target())
    diagnosis = await Investigator(SnapshotGateway.open(SNAPSHOT), sources=[source]).investigate(_first_target(), window=window)
    assert diagnosis.rca.category is plain.rca.category is Category.MISSING_ENV_VAR
    extra = diagnosis.evidence[-1]
    assert extra.id == f"E{len(plain.evidence) + 1}" and extra.kind is EvidenceKind.METRIC and extra.link == "https://g/x"
    assert extra.id in diagnosis.rca.evidence_ids and extra.source is not None and extra.source.kind == "Pod"
    assert diagnosis.notes[0] == "a gap"
    ((scope, asked_window),) = source.asked
    assert asked_window == window and scope.namespace == _first_target().namespace and not scope.pod_is_prefix


async def test_unreachable_backends_are_notes_not_failures() -> None:
    """Configured but dead Prometheus and Loki leave the diagnosis intact, with a note each."""
    settings = config.load(prometheus_url="http://127.0.0.1:9", loki_url="http://127.0.0.1:9", backend_timeout_seconds=3)
    diagnosis = await Investigator(SnapshotGateway.open(SNAPSHOT), settings=settings).investigate(_first_target())
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR
    assert any(n.startswith("Prometheus evidence is missing") for n in diagnosis.notes)
    assert any(n.startswith("Loki evidence is missing") for n in diagnosis.notes)
