"""AEGIS_SHADOW_AS_USER on the real API server: what a shadow verification creates is sent as the person who clicked Verify.

The same bot (one AEGIS ServiceAccount, which could create all of it itself) verifies for two mapped people: Frank, whom a
cluster admin lets create workloads and their objects, passes; Gina, who may not, is refused by the API server's RBAC, and
the thread says which verb and resource she lacks. Someone the map does not name is refused before any shadow exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aegis.bot.render import blocks
from aegis.core.models import IncidentState
from tests.cluster.controlplane import AEGIS_NAMESPACE, AEGIS_SA
from tests.integration.bot.test_slack_http import latest
from tests.integration.conftest import Cluster
from tests.integration.remediation.test_fix_lifecycle_slack import CHANNEL, Bot, diagnosed, running_bot

pytestmark = pytest.mark.integration

FRANK, GINA, HAL = "U0FRANK", "U0GINA", "U0HAL"  # Hal approves but is not in the map
IDENTITIES = {"users": {FRANK: {"user": "frank", "groups": ["shadow-writers"]}, GINA: {"user": "gina"}}, "groups": {}}
RBAC = "/apis/rbac.authorization.k8s.io/v1"
NAME = "aegis-shadow-as-user"


@pytest.fixture
def grants(control_plane: Cluster) -> Iterator[None]:
    """AEGIS may impersonate frank, gina and the group shadow-writers (what the chart renders from the map); the group may create
    what a shadow holds, cluster-wide (RBAC cannot name the aegis-shadow-* namespaces). Gina gets nothing."""
    api = control_plane.api
    docs = [
        (f"{RBAC}/clusterroles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{NAME}-impersonate"},
         "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["frank", "gina"]},
                   {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": ["shadow-writers"]}]}),
        (f"{RBAC}/clusterrolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{NAME}-impersonate"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{NAME}-impersonate"},
         "subjects": [{"kind": "ServiceAccount", "name": AEGIS_SA, "namespace": AEGIS_NAMESPACE}]}),
        (f"{RBAC}/clusterroles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{NAME}-writer"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims"], "verbs": ["create"]},
                   {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"], "verbs": ["create"]}]}),
        (f"{RBAC}/clusterrolebindings", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{NAME}-writer"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{NAME}-writer"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "shadow-writers"}]}),
    ]  # fmt: skip
    for path, doc in docs:
        api.create(path, doc, exist_ok=True)
    try:
        yield
    finally:
        for path, doc in docs:
            api.delete(f"{path}/{doc['metadata']['name']}")


def thread_texts(bot: Bot, thread_ts: str) -> list[str]:
    return [json.dumps(latest(m)) for m in bot.standin.recorder.thread(CHANNEL, thread_ts)]


async def test_the_shadow_is_written_as_the_person_and_their_rbac_decides(control_plane: Cluster, tmp_path: Path, grants: None) -> None:
    """Hal (unmapped) is refused before any shadow; Gina's verification fails on her missing 'create', named in the thread, and its
    namespace is removed; Frank's passes."""
    path = tmp_path / "identities.yaml"
    path.write_text(yaml.safe_dump(IDENTITIES))
    async with running_bot(control_plane, tmp_path, identity_map=str(path), shadow_as_user=True, approvers=[FRANK, GINA, HAL]) as bot:
        incident = await diagnosed(bot)

        await bot.click(blocks.ACTION_VERIFY, incident, HAL)
        await bot.settle()
        assert "not in its identity map" in bot.ephemerals_for(HAL)[-1] and "verify" in bot.ephemerals_for(HAL)[-1]
        audit = [(a.actor, a.action, a.outcome) for a in await bot.store.audit(incident.id)]
        assert (HAL, "verify", "refused") in audit and ("verify", "started") not in [(a[1], a[2]) for a in audit], audit

        await bot.click(blocks.ACTION_VERIFY, incident, GINA)
        await bot.settle()
        failed = await bot.store.get(incident.id)
        assert failed is not None and failed.state is IncidentState.VERIFICATION_FAILED, failed.state if failed else None
        said = "\n".join(thread_texts(bot, failed.thread_ts or ""))
        assert "Kubernetes user gina may not create" in said and "aegis-shadow-" in said, said[-3000:]
        assert "ServiceAccount (see deploy/rbac" not in said, "the refusal names Gina, not AEGIS's ServiceAccount"
        record = [a for a in await bot.store.audit(incident.id) if a.action == "verify" and a.actor == "aegis"][-1]
        shadow = json.loads(record.detail)["namespace"]
        left = control_plane.api.get_or_none(f"/api/v1/namespaces/{shadow}")
        assert left is None or left["metadata"].get("deletionTimestamp"), f"{shadow} was not cleaned up"

        await bot.click(blocks.ACTION_VERIFY, failed, FRANK)
        await bot.settle()
        passed = await bot.store.get(incident.id)
        assert passed is not None and passed.state is IncidentState.VERIFIED, passed.last_error if passed else None
