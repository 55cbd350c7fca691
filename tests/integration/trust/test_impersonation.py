"""Apply as the person who clicks: Kubernetes impersonation of the mapped identity, decided by the real API server's RBAC."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aegis.bot.identity import IdentityMap
from aegis.bot.render import blocks
from aegis.core.models import IncidentState
from tests.cluster.controlplane import AEGIS_NAMESPACE, AEGIS_SA
from tests.integration.conftest import Cluster
from tests.integration.remediation.test_fix_lifecycle_slack import Bot, diagnosed, running_bot

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"  # Slack users; Carol is an approver the map does not name
IDENTITIES = {"users": {ALICE: {"user": "alice", "groups": ["sre"]}, "bob@example.com": {"user": "bob"}}, "groups": {}}


def grant(cluster: Cluster, namespace: str, identities: IdentityMap) -> None:
    """What the Helm chart renders from the same map (impersonate on exactly the mapped users and groups), and
    what a cluster admin grants people: alice may patch deployments in the namespace, bob may only read them."""
    rbac = "apis/rbac.authorization.k8s.io/v1"
    cluster.api.create(
        f"/{rbac}/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "aegis-impersonate-test"},
            "rules": [
                {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": identities.kubernetes_users()},
                {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": identities.kubernetes_groups()},
            ],
        },
        exist_ok=True,
    )  # fmt: skip
    cluster.api.create(
        f"/{rbac}/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "aegis-impersonate-test"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aegis-impersonate-test"},
            "subjects": [{"kind": "ServiceAccount", "name": AEGIS_SA, "namespace": AEGIS_NAMESPACE}],
        },
        exist_ok=True,
    )  # fmt: skip
    for who, verbs in (("alice", ["get", "list", "watch", "patch"]), ("bob", ["get", "list", "watch"])):
        cluster.api.create(
            f"/{rbac}/namespaces/{namespace}/roles",
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": f"{who}-deployments"},
             "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": verbs}]},
        )  # fmt: skip
        cluster.api.create(
            f"/{rbac}/namespaces/{namespace}/rolebindings",
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": f"{who}-deployments"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{who}-deployments"},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": who}]},
        )  # fmt: skip


async def apply_and_wait(bot: Bot, user: str) -> IncidentState:
    incident = await bot.incident()
    await bot.click(blocks.ACTION_APPLY, incident, user)
    await bot.settle()
    now = await bot.store.get(incident.id)
    assert now is not None
    return now.state


async def test_apply_acts_as_the_mapped_person_and_rbac_decides(control_plane: Cluster, tmp_path: Path) -> None:
    """Carol (unmapped) is refused before any call; Bob (mapped by email, read-only) is refused by the API server with
    the verb and resource he lacks; Alice (mapped by id, may patch) applies, and the patch is hers."""
    path = tmp_path / "identities.yaml"
    path.write_text(yaml.safe_dump(IDENTITIES))
    settings = {"identity_map": str(path), "require_shadow_pass": False, "approvers": [ALICE, BOB, CAROL]}
    async with running_bot(control_plane, tmp_path, **settings) as bot:
        bot.standin.emails[BOB] = "bob@example.com"
        grant(control_plane, bot.namespace, IdentityMap.model_validate(IDENTITIES))
        await diagnosed(bot)
        generation = bot.deployment()["metadata"]["generation"]

        assert await apply_and_wait(bot, CAROL) is IncidentState.DIAGNOSED
        assert "not in its identity map" in bot.ephemerals_for(CAROL)[-1]
        assert bot.deployment()["metadata"]["generation"] == generation

        assert await apply_and_wait(bot, BOB) is IncidentState.DIAGNOSED
        refusal = bot.ephemerals_for(BOB)[-1]
        # Bob's refusal names Bob (not AEGIS's ServiceAccount), the verb and the resource he lacks, and where.
        assert f"Kubernetes user bob may not patch deployments in namespace {bot.namespace}" in refusal, refusal
        assert "ServiceAccount" not in refusal, refusal
        assert bot.deployment()["metadata"]["generation"] == generation

        assert await apply_and_wait(bot, ALICE) is IncidentState.APPLIED
        deployment = bot.deployment()
        assert deployment["metadata"]["generation"] == generation + 1
        managers = {(m.get("manager"), m.get("operation")) for m in deployment["metadata"].get("managedFields") or []}
        incident = await bot.incident()
        audit = [(a.actor, a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
        assert any(a[:3] == (ALICE, "apply", "approved") and "as alice (groups sre)" in a[3] for a in audit), audit
        assert any(a[:3] == (CAROL, "apply", "refused") and "identity map" in a[3] for a in audit), audit
        assert managers, "the patch left a managedFields entry"
