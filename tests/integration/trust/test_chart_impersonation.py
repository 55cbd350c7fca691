"""The Helm chart's impersonate grant on the real API server: AEGIS may act as exactly the people its identity map names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.core.errors import ForbiddenError
from aegis.core.kube.live import LiveGateway
from aegis.core.models import KubeIdentity
from tests.cluster.controlplane import AEGIS_NAMESPACE, AEGIS_SA, resource_path
from tests.integration.conftest import Cluster
from tests.integration.deploy.helm import render
from tests.integration.shadow.test_shadow_live import poll

pytestmark = pytest.mark.integration

RELEASE = "aegis-chart-trust"  # its own names: the grant under test is the only one for these users
IDENTITIES = {"users": {"U0DANA": {"user": "dana", "groups": ["oncall"]}, "erin@example.com": {"user": "erin"}}, "groups": {"S0OPS": ["ops-admins"]}}


async def whoami(gateway: LiveGateway) -> dict[str, Any]:
    """The API server's view of the caller (a SelfSubjectReview, allowed to every authenticated user)."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    _, data = await gateway._request("POST", path, verb="create", resource="selfsubjectreviews", namespace=None, body=review)
    info: dict[str, Any] = json.loads(data)["status"]["userInfo"]
    return info


async def test_aegis_may_impersonate_only_the_mapped_users_and_groups(control_plane: Cluster, tmp_path: Path) -> None:
    """The rendered ClusterRole and binding, created as helm would: AEGIS acts as dana with her groups and as erin; it may
    not act as someone the map does not name, nor add a group the map does not name, nor pose as a ServiceAccount."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"identityMap": IDENTITIES, "serviceAccount": {"name": AEGIS_SA}}))
    docs = [d for d in render(AEGIS_NAMESPACE, values=values, release=RELEASE) if d["metadata"]["name"] == f"{RELEASE}-impersonate"]
    assert sorted(d["kind"] for d in docs) == ["ClusterRole", "ClusterRoleBinding"]
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:
        with pytest.raises(ForbiddenError, match="impersonate"):  # before the chart's grant, AEGIS may impersonate nobody
            await whoami(gateway.impersonating(KubeIdentity(user="dana")))
        for doc in docs:
            control_plane.api.create(resource_path(doc["kind"]), doc)

        async def as_dana() -> dict[str, Any] | None:
            # The authorizer learns new RBAC objects through its informers: a moment after the create.
            try:
                return await whoami(gateway.impersonating(KubeIdentity(user="dana", groups=["oncall", "ops-admins"])))
            except ForbiddenError:
                return None

        dana = await poll("the chart's impersonate grant in force", as_dana, 30)
        assert dana["username"] == "dana" and {"oncall", "ops-admins"} <= set(dana["groups"])
        assert (await whoami(gateway.impersonating(KubeIdentity(user="erin"))))["username"] == "erin"
        for unmapped in (KubeIdentity(user="mallory"), KubeIdentity(user="dana", groups=["system:masters"]),
                         KubeIdentity(user=f"system:serviceaccount:{AEGIS_NAMESPACE}:{AEGIS_SA}")):  # fmt: skip
            with pytest.raises(ForbiddenError, match="impersonate"):
                await whoami(gateway.impersonating(unmapped))
    finally:
        await gateway.close()
        for doc in docs:
            control_plane.api.delete(resource_path(doc["kind"], None, doc["metadata"]["name"]))
