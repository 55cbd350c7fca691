"""The MCP server's pure parts: namespace policy, answer shaping, error texts, bearer token, example catalog."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aegis.bot.mcp import auth, catalog, policy, results
from aegis.core import config
from aegis.core.errors import ClusterUnreachableError, ConfigError, NotFoundError
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState, ObjectRef
from tests.incidents import EXAMPLES

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _incident(**fields: object) -> Incident:
    base: dict[str, object] = {
        "id": IncidentId("INC-7"),
        "source": IncidentSource.SLASH_COMMAND,
        "title": "missing_env_var on checkout",
        "target": ObjectRef(kind="Deployment", namespace="shop", name="checkout"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Incident.model_validate({**base, **fields})


def test_protected_and_shadow_namespaces_are_refused_with_what_to_do() -> None:
    """kube-system (always), configured protected namespaces and AEGIS's shadows are excluded; others pass."""
    settings = config.load(protected_namespaces=["payments"])
    assert policy.namespace_allowed(settings, "shop").allowed
    for ns in ("kube-system", "payments", "aegis-shadow-inc-1-abc123"):
        decision = policy.namespace_allowed(settings, ns)
        assert not decision.allowed and ns in decision.reason
    assert "AEGIS_PROTECTED_NAMESPACES" in policy.namespace_allowed(settings, "payments").reason


def test_verification_needs_a_live_cluster_and_an_allowed_namespace() -> None:
    """A read-only source refuses verification whatever the namespace; a live one follows the namespace policy."""
    settings = config.load()
    refused = policy.verification_allowed(settings, "shop", read_only=True)
    assert not refused.allowed and "live cluster" in refused.reason
    assert policy.verification_allowed(settings, "shop", read_only=False).allowed
    assert not policy.verification_allowed(settings, "kube-system", read_only=False).allowed


def test_redacted_masks_every_string_and_keeps_the_json_valid() -> None:
    """Secrets nested in lists and objects are masked; keys, numbers and structure survive a JSON round trip."""
    value = {"a": ["Authorization: Bearer abcdefghijklmnop1234", {"url": "postgres://app:hunter2hunter2@db/shop"}], "n": 3, "ok": True, "none": None}
    out = results.redacted_dict(value)
    text = json.dumps(out)
    assert "abcdefghijklmnop1234" not in text and "hunter2hunter2" not in text
    assert json.loads(text)["n"] == 3 and out["ok"] is True and out["none"] is None
    assert out["a"][1]["url"].startswith("postgres://app:")


def test_thread_link_and_apply_note() -> None:
    """An incident with a thread gets its permalink (workspace URL when set); without one the note says how to open one."""
    threaded = _incident(channel="C123", thread_ts="1733313600.001200", state=IncidentState.DIAGNOSED)
    assert results.thread_link(threaded, None) == "https://slack.com/archives/C123/p1733313600001200"
    assert results.thread_link(threaded, "https://acme.slack.com/") == "https://acme.slack.com/archives/C123/p1733313600001200"
    assert results.thread_link(_incident(), None) is None
    note = results.apply_note(threaded, None)
    assert "Apply" in note and "INC-7" in note and "p1733313600001200" in note
    assert "/aegis analyze" in results.apply_note(None, None)


def test_incident_detail_carries_the_report_contract_and_history() -> None:
    """get_incident's answer: summary fields, the diagnosis in the --output json shape (here none), transitions, apply note."""
    detail = results.incident_detail(_incident(state=IncidentState.VERIFIED, channel="C1", thread_ts="1.2"), [{"from": "open", "to": "verified"}], None)
    assert detail["id"] == "INC-7" and detail["state"] == "verified" and detail["diagnosis"] is None
    assert detail["transitions"] == [{"from": "open", "to": "verified"}]
    assert detail["apply"] and "archives/C1/p12" in detail["apply"]
    assert results.incident_detail(_incident(state=IncidentState.RESOLVED), [], None)["apply"] is None


def test_error_texts_say_what_to_do() -> None:
    """Not found names the kubectl check and the TARGET grammar; unreachable names the settings to check."""
    missing = results.explain(NotFoundError("Deployment", "nope", "shop"))
    assert "kubectl get deployment -n shop" in missing and "TARGET is" in missing
    unreachable = results.explain(ClusterUnreachableError("cannot reach the Kubernetes API server (x): refused"))
    assert "AEGIS_KUBE_CONTEXT" in unreachable and "call again" in unreachable


async def test_bearer_token_verifier_accepts_only_the_configured_token() -> None:
    """The exact token yields an access token; anything else (prefix, empty, other) none."""
    verifier = auth.StaticTokenVerifier("s3cret-token-0123456789")
    assert (await verifier.verify_token("s3cret-token-0123456789")) is not None
    for wrong in ("s3cret-token", "", "other-token-0123456789x"):
        assert await verifier.verify_token(wrong) is None


def test_http_without_a_token_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """--http needs AEGIS_MCP_TOKEN: unset or too short stops start-up, naming it."""
    monkeypatch.delenv("AEGIS_MCP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="AEGIS_MCP_TOKEN"):
        auth.required_token(config.load())
    with pytest.raises(ConfigError, match="AEGIS_MCP_TOKEN: too short"):
        auth.required_token(config.load(mcp_token="short"))
    assert auth.required_token(config.load(mcp_token="x" * 32)) == "x" * 32


@pytest.mark.parametrize(("text", "expected"), [("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:9000", ("::1", 9000)), ("0.0.0.0:80", ("0.0.0.0", 80))])
def test_listen_address_parses(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT, IPv6 in brackets."""
    assert auth.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8765", "localhost", "host:port", "127.0.0.1:0", "127.0.0.1:70000", ":8080"])
def test_bad_listen_address_says_how_to_write_it(text: str) -> None:
    """Anything but HOST:PORT with a valid port is refused with an example."""
    with pytest.raises(ConfigError, match="HOST:PORT"):
        auth.parse_listen(text)


def test_every_example_is_a_resource_with_its_expected_diagnosis_and_manifest() -> None:
    """One resource per examples/incidents/<name>, its JSON holding expected.json and the manifest."""
    found = catalog.examples()
    assert {e.name for e in found} == {p.parent.name for p in EXAMPLES.glob("*/expected.json")}
    example = next(e for e in found if e.name == "crashloop-missing-env")
    assert example.uri == "aegis://examples/crashloop-missing-env" and "missing_env_var" in example.description
    doc = json.loads(catalog.document(example))
    assert doc["expected"]["category"] == "missing_env_var"
    assert "kind: Deployment" in doc["manifest.yaml"]
    assert doc["diagnose_offline"].startswith("aegis analyze deployment/checkout -n shop --snapshot ")


def test_triage_prompt_names_the_tools_and_forbids_applying() -> None:
    """The prompt asks for diagnose with the given target, evidence citations, verify only on consent, no apply."""
    text = catalog.triage_prompt("deploy/checkout", "shop")
    assert "`diagnose`" in text and "deploy/checkout" in text and "`shop`" in text
    assert "verify_fix" in text and "Slack" in text and "untrusted" in text
