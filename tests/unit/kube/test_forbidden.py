"""A 403 names who lacks what: AEGIS's ServiceAccount, or the person AEGIS impersonated, with the verb and resource."""

from __future__ import annotations

import json

from aegis.core.errors import ForbiddenError
from aegis.core.kube.live import _translate

BODY = json.dumps({"message": 'deployments.apps "api" is forbidden: User "bob" cannot patch resource "deployments" in the namespace "shop"'}).encode()


def test_a_refusal_of_aegis_itself_names_its_service_account() -> None:
    """Without impersonation the fix is RBAC for AEGIS: the message says which grant its ServiceAccount lacks."""
    error = _translate(403, BODY, verb="patch", resource="deployments", namespace="shop", name="api")
    assert isinstance(error, ForbiddenError)
    assert str(error).startswith("forbidden: AEGIS may not patch deployments in namespace shop; grant 'patch' on 'deployments' to its ServiceAccount")


def test_a_refusal_under_impersonation_names_the_person_not_the_service_account() -> None:
    """Acting as bob, the refusal is bob's: his user name, the verb and resource he lacks, and where; never 'its ServiceAccount'."""
    error = _translate(403, BODY, verb="patch", resource="deployments", namespace="shop", name="api", person="bob")
    assert isinstance(error, ForbiddenError) and error.person == "bob"
    text = str(error)
    assert text.startswith("forbidden: Kubernetes user bob may not patch deployments in namespace shop"), text
    assert "grant bob 'patch' on 'deployments' in namespace shop" in text and "ServiceAccount" not in text
