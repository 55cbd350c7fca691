"""Seeded secrets never appear in the text report, the JSON report, or AEGIS's own logs."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aegis.core import redaction
from tests.incidents import EXAMPLES

SECRET_IN_SECRET = "hunter2-SuperSecret-XYZ"
LITERAL_PASSWORD = "p4ssw0rd-literal-123"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNlY3JldA"
API_KEY = "sk_live_51HcQ2eKf00abcdef"
PRIVATE_KEY_BODY = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"
SLACK_TOKEN = "xoxb-1234567890-abcdefghijkl"
SEEDED = [SECRET_IN_SECRET, LITERAL_PASSWORD, BEARER, API_KEY, PRIVATE_KEY_BODY, SLACK_TOKEN]


@pytest.fixture
def leaky_snapshot(tmp_path: Path) -> Path:
    """The missing-env example, with secrets seeded in a Secret, an env literal, and the logs."""
    snap = tmp_path / "snapshot"
    shutil.copytree(EXAMPLES / "crashloop-missing-env" / "snapshot", snap)
    docs = list(yaml.safe_load_all((snap / "objects.yaml").read_text()))
    for doc in docs:
        if doc["kind"] == "Secret":
            doc["data"] = {"DATABASE_URL": base64.b64encode(f"postgres://checkout:{SECRET_IN_SECRET}@db:5432/x".encode()).decode()}
        if doc["kind"] in ("Deployment", "Pod", "ReplicaSet"):
            spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
            spec["containers"][0]["env"].append({"name": "DB_PASSWORD", "value": LITERAL_PASSWORD})
            spec["containers"][0]["args"] = [f"--slack-token={SLACK_TOKEN}"]
    (snap / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    log = snap / "logs" / "shop" / "checkout-7d9f8b6c5d-x2x9k" / "checkout.previous.log"
    log.write_text(
        log.read_text()
        + f"connecting to postgres://checkout:{SECRET_IN_SECRET}@db:5432/checkout\n"
        + f"upstream call with Authorization: Bearer {BEARER}\n"
        + f"config dump: api_key={API_KEY} password={LITERAL_PASSWORD}\n"
        + f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
        + f"raw value seen: {SECRET_IN_SECRET}\n"
    )
    return snap


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AEGIS_LOG_LEVEL": "debug", "AEGIS_LOG_FORMAT": "json"}
    return subprocess.run([sys.executable, "-m", "aegis.bot.cli", *args], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize("output", ["text", "json"])
def test_seeded_secrets_never_reach_output_or_logs(leaky_snapshot: Path, output: str) -> None:
    """Neither stdout (the report) nor stderr (JSON logs) contains any seeded secret, and the report still diagnoses."""
    result = _run("analyze", "deploy/checkout", "-n", "shop", "--snapshot", str(leaky_snapshot), "--output", output)
    assert result.returncode == 0, result.stderr
    assert "missing_env_var" in result.stdout
    for secret in SEEDED:
        assert secret not in result.stdout, f"{secret} leaked into the {output} report"
        assert secret not in result.stderr, f"{secret} leaked into the logs"
    assert redaction.MARKER in result.stdout


def test_mask_patterns() -> None:
    """Each kind of credential in free text is masked while the surrounding words stay readable."""
    text = f"Authorization: Bearer {BEARER} url=https://user:{LITERAL_PASSWORD}@host/x PASSWORD='{LITERAL_PASSWORD}' token: {SLACK_TOKEN} AKIAIOSFODNN7EXAMPLE"
    masked = redaction.mask(text)
    for secret in (BEARER, LITERAL_PASSWORD, SLACK_TOKEN, "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in masked
    assert "https://user:" in masked and "Authorization" in masked


def test_redact_object_masks_secret_data_and_secret_env_only() -> None:
    """Secret data and secret-named env values are masked; ordinary env values are kept for diagnosis."""
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"K": "dmFsdWU="}}
    assert redaction.redact_object(secret)["data"] == {"K": redaction.MARKER}
    pod = {
        "kind": "Pod",
        "spec": {"containers": [{"name": "a", "env": [{"name": "API_TOKEN", "value": "abc123def456"}, {"name": "LOG_LEVEL", "value": "debug"}]}]},
    }
    env = redaction.redact_object(pod)["spec"]["containers"][0]["env"]
    assert env == [{"name": "API_TOKEN", "value": redaction.MARKER}, {"name": "LOG_LEVEL", "value": "debug"}]


def test_known_secret_values_are_masked_anywhere() -> None:
    """A value the redactor was told is secret is masked even when nothing around it looks secret."""
    redactor = redaction.Redactor([SECRET_IN_SECRET])
    assert SECRET_IN_SECRET not in redactor.mask(f"hello {SECRET_IN_SECRET} world")
