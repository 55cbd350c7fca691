"""The trust ladder: one mode per namespace decides which actions AEGIS offers and accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aegis.core import config
from aegis.core.errors import ConfigError
from aegis.core.incidents import fixing
from aegis.core.incidents.states import Action
from aegis.core.models import IncidentState
from aegis.core.remediation import policy as gate
from aegis.core.remediation.policy import Mode, RemediationPolicy
from tests.unit.store.contract import diagnosis, incident


def test_first_matching_glob_wins_else_the_default() -> None:
    """AEGIS_NAMESPACE_MODES is read in order; a namespace no glob matches gets AEGIS_MODE."""
    settings = config.load(mode="suggest", namespace_modes="prod-*=suggest,staging-*=apply,*-sandbox=verify,staging-old=read-only")
    policy = RemediationPolicy.from_settings(settings)
    assert policy.mode_for("prod-eu") is Mode.SUGGEST
    assert policy.mode_for("staging-old") is Mode.APPLY  # staging-* came first
    assert policy.mode_for("team-sandbox") is Mode.VERIFY
    assert policy.mode_for("shop") is Mode.SUGGEST


@pytest.mark.parametrize(
    ("mode", "allowed"),
    [
        ("read-only", {Action.REJECT}),
        ("suggest", {Action.REJECT}),
        ("verify", {Action.REJECT, Action.VERIFY}),
        ("apply", {Action.REJECT, Action.VERIFY, Action.APPLY, Action.ROLLBACK}),
    ],
)
def test_each_mode_permits_its_rung(mode: str, allowed: set[Action]) -> None:
    """read-only and suggest never act; verify adds Verify; apply adds Apply and Roll back. Reject is always possible."""
    policy = RemediationPolicy(mode=Mode(mode))
    assert {a for a in Action if policy.permits(a, "shop")} == allowed


def test_buttons_follow_the_mode_of_the_fix_namespace() -> None:
    """A diagnosed incident in a suggest namespace shows only Reject; in an apply namespace, Verify, Apply and Reject."""
    diagnosed = incident("INC-1", state=IncidentState.DIAGNOSED, diagnosis=diagnosis())  # the fix targets namespace shop
    assert fixing.offered(RemediationPolicy(namespace_modes=(("shop", Mode.SUGGEST),)), diagnosed) == (Action.REJECT,)
    assert fixing.offered(RemediationPolicy(namespace_modes=(("sh*", Mode.VERIFY),)), diagnosed) == (Action.VERIFY, Action.REJECT)
    assert fixing.offered(RemediationPolicy(), diagnosed) == (Action.VERIFY, Action.APPLY, Action.REJECT)


@pytest.mark.parametrize("value", ["prod-*=act", "prod-*", "=apply", "prod-*=apply,staging"])
def test_an_invalid_namespace_mode_stops_start_up_naming_the_variable(value: str) -> None:
    """One line naming AEGIS_NAMESPACE_MODES, never a traceback."""
    with pytest.raises(ConfigError, match="AEGIS_NAMESPACE_MODES") as info:
        config.load(namespace_modes=value)
    line = str(info.value)
    assert "\n" not in line and line.count("(got ") == 1 and "Value error" not in line, line


def test_an_invalid_mode_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AEGIS_MODE"):
        config.load(mode="yolo")


def test_four_eyes_refuses_the_verifier_of_an_alert_incident() -> None:
    """An alert's incident has no requester: whoever clicked Verify may not also Apply it."""
    verified = incident("INC-1", state=IncidentState.VERIFIED, diagnosis=diagnosis(), group_key="g", receiver="r")
    policy = RemediationPolicy(four_eyes=True)
    refused = gate.check(policy, verified, approved_by="U1", authorized=True, verified_by="U1")
    assert not refused.allowed and "verified the fix" in refused.reason
    assert gate.check(policy, verified, approved_by="U2", authorized=True, verified_by="U1").allowed


def test_a_proposal_expires_after_the_ttl() -> None:
    """The proposal's age is its diagnosis time; past the TTL it is expired."""
    diagnosed = incident("INC-1", state=IncidentState.DIAGNOSED, diagnosis=diagnosis())
    at = diagnosed.diagnosis.analyzed_at if diagnosed.diagnosis else datetime.now(UTC)
    policy = RemediationPolicy(proposal_ttl_seconds=3600)
    assert not policy.expired(diagnosed, now=at + timedelta(minutes=59))
    assert policy.expired(diagnosed, now=at + timedelta(minutes=61))


def test_shadow_as_user_needs_an_identity_map() -> None:
    """Acting as the person in the shadow needs to know who they are: without AEGIS_IDENTITY_MAP start-up stops, naming the setting."""
    with pytest.raises(ConfigError, match="AEGIS_SHADOW_AS_USER: needs AEGIS_IDENTITY_MAP"):
        config.load(shadow_as_user=True)
    assert RemediationPolicy.from_settings(config.load(shadow_as_user=True, identity_map="identities.yaml")).shadow_as_user
