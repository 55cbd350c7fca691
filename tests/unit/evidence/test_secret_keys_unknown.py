"""Where AEGIS may not read Secrets it still diagnoses, says the keys are unknown, and claims no key is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context
from aegis.core.errors import ForbiddenError
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import extract
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import AnalysisPolicy, Category, KubeObject, ObjectRef

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "incidents" / "crashloop-missing-env" / "snapshot"
TARGET = ObjectRef(kind="Deployment", namespace="shop", name="checkout")


class NoSecrets(SnapshotGateway):
    """The snapshot, as an identity without Secret reads sees it (the API server's 403)."""

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[KubeObject]:
        if kind == "Secret":
            raise ForbiddenError("list", "secrets", namespace, 'secrets is forbidden: User "system:serviceaccount:aegis-system:aegis" cannot list')
        return await super().list_objects(kind, namespace, label_selector)


async def test_forbidden_secrets_give_a_diagnosis_with_the_note() -> None:
    diagnosis = await Investigator(NoSecrets.open(EXAMPLE)).investigate(TARGET)
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR
    notes = [n for n in diagnosis.notes if n.startswith("Secret keys unknown")]
    assert len(notes) == 1 and "namespace shop" in notes[0] and "rbac.secretNamespaces" in notes[0]
    # The fix still comes from the previous revision (it needs no Secret keys); nothing claims a Secret lacks the key.
    assert diagnosis.fix is not None and "previous revision" in diagnosis.fix.summary
    assert not any("or Secret" in step for step in [*diagnosis.rca.analysis_steps, *diagnosis.manual_steps])


def _ctx(uncollected: list[str], secrets: list[KubeObject]) -> Context:
    bundle = ObjectBundle(
        target=ObjectRef(kind="Deployment", namespace="shop", name="web"),
        namespace="shop",
        secrets=secrets,
        uncollected_kinds=uncollected,
        observed_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Context(bundle=bundle, evidence=extract(bundle), policy=AnalysisPolicy())


def test_no_key_source_claims_nothing_about_unread_secrets() -> None:
    container = {"name": "app", "envFrom": [{"secretRef": {"name": "creds"}}, {"configMapRef": {"name": "cfg"}}]}
    known = _ctx([], [{"kind": "Secret", "metadata": {"name": "creds"}, "data": {"A": "[REDACTED]"}}])
    assert signals.no_key_source(known, "DB_URL") == "no ConfigMap or Secret in namespace shop has a key DB_URL"
    assert signals.unread_env_from_secrets(known, container) == []
    unknown = _ctx(["Secret"], [])
    assert "whether one holds it is unknown" in signals.no_key_source(unknown, "DB_URL")
    assert "or Secret" not in signals.no_key_source(unknown, "DB_URL")
    assert signals.unread_env_from_secrets(unknown, container) == ["creds"]


async def test_readable_secrets_give_the_fix_and_no_note() -> None:
    diagnosis = await Investigator(SnapshotGateway.open(EXAMPLE)).investigate(TARGET)
    assert diagnosis.fix is not None and "checkout-db" in diagnosis.fix.summary
    assert not any(n.startswith("Secret keys unknown") for n in diagnosis.notes)
