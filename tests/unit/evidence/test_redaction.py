"""Seeded secrets never appear in the text report, the JSON report, or AEGIS's own logs."""

from __future__ import annotations

import base64
import json
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


# --- what redaction must leave alone: names, images, counts and the API's own message words ----------

KUBERNETES_MESSAGES = [
    # kubelet
    'Error: secret "api-keys" not found',
    'Error: configmap "auth-service-config" not found',
    "Error: couldn't find key password in Secret shop/keycloak-db",
    'MountVolume.SetUp failed for volume "api-keys" : secret "api-keys" not found',
    'MountVolume.SetUp failed for volume "db-password" : secret "db-password" not found',
    'Failed to pull image "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0": rpc error: code = NotFound desc = failed to pull and unpack image',
    'Back-off pulling image "quay.io/keycloak/keycloak:24.0.1"',
    'Container image "registry.example.com/auth/token-exchange:1.4.2" already present on machine',
    "Back-off restarting failed container token-exchange in pod token-exchange-7f9c5d-x2x9k_auth(1234)",
    'Liveness probe failed: Get "http://10.244.0.7:4180/ping": dial tcp 10.244.0.7:4180: connect: connection refused',
    "Readiness probe failed: HTTP probe failed with statuscode: 401",
    "Container auth-service failed liveness probe, will be restarted",
    # scheduler
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
    # controllers
    'Error creating: pods "auth-service-5d8f7c9b4-" is forbidden: error looking up service account auth/token-exchange: '
    'serviceaccount "token-exchange" not found',
    'Deployment "auth-service" exceeded its progress deadline',
    'ReplicaSet "token-exchange-7f9c5d" has timed out progressing.',
    "Scaled up replica set keycloak-6c9f8d7b5 from 0 to 2",
    # the API's own forbidden message
    'pods is forbidden: User "system:serviceaccount:auth:token-exchange" cannot list resource "pods" in API group "" in the namespace "auth"',
    'secrets "api-keys" is forbidden: User "system:serviceaccount:auth:auth-service" cannot get resource "secrets" in API group "" in the namespace "auth"',
    # AEGIS's own evidence summaries
    "Deployment auth-service: 0/2 ready, Available False",
    "container token-exchange of pod token-exchange-7f9c5d-x2x9k: waiting: CrashLoopBackOff; 6 restarts",
    "image: quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
    "rollout revision 3 → 4 changed the pod template: oauth2-proxy image quay.io/oauth2-proxy/oauth2-proxy:v7.5.1 → quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
    "the token expired; refreshing session",
    # network errors naming hosts
    "dial tcp: lookup keycloak.auth.svc.cluster.local on 10.96.0.10:53: no such host",
]


@pytest.mark.parametrize("message", KUBERNETES_MESSAGES)
def test_kubernetes_messages_and_names_are_not_masked(message: str) -> None:
    """Real kubelet/scheduler/controller/API texts about objects named like auth/token/secret/key stay word for word."""
    assert redaction.mask(message) == message


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2-x", "hunter2-x"),
        ('{"client_secret": "s3cr3tvalue"}', "s3cr3tvalue"),
        ("{'apiKey': 'abc123xyz'}", "abc123xyz"),
        ("DB_PASSWORD: correct-horse", "correct-horse"),
        ("--auth-token=tok_98765abc", "tok_98765abc"),
        ("redis://:p4ssw0rd@redis.cache:6379/0", "p4ssw0rd"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("Authorization: Bearer opaque-but-long-token", "opaque-but-long-token"),
        ("sending token 0123456789abcdef to upstream", "0123456789abcdef"),
        (f"key {API_KEY} rejected", API_KEY),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ],
)
def test_credentials_are_masked(text: str, secret: str) -> None:
    """Credentials in every common shape are masked."""
    assert secret not in redaction.mask(text)


@pytest.mark.parametrize(
    "name",
    [
        "DB_PASSWORD",
        "API_KEY",
        "apiKey",
        "clientSecret",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "BASIC_AUTH",
        "SENTRY_DSN",
        "KEY",
        "SECRET_KEY_BASE",
        "GITHUB_TOKEN_VALUE",
        "PASSWORD_HASH",
    ],
)
def test_secret_names(name: str) -> None:
    """Names whose last word is a credential word, or that carry a strong one (SECRET_KEY_BASE), are secret."""
    assert redaction.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "AUTH_SERVICE_URL",
        "AUTH_SERVICE_HOST",
        "TOKEN_URL",
        "SECRET_NAME",
        "KEYCLOAK_URL",
        "TOKEN_TTL_SECONDS",
        "MONKEY",
        "PASSWORD_FILE",
        "SESSION_TIMEOUT",
        "tokenEndpoint",
    ],
)
def test_not_secret_names(name: str) -> None:
    """Names that merely contain a credential word (a URL, a file path, a TTL) are not secret: their values are evidence."""
    assert not redaction.is_secret_name(name)


def test_redact_object_keeps_names_images_and_counts() -> None:
    """A Deployment named auth-service running oauth2-proxy keeps its names, image tag, env URLs and ready counts."""
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "auth-service", "labels": {"app": "auth-service"}},
        "spec": {
            "template": {
                "spec": {
                    "serviceAccountName": "token-exchange",
                    "containers": [
                        {
                            "name": "oauth2-proxy",
                            "image": "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0",
                            "env": [
                                {"name": "OAUTH2_PROXY_OIDC_ISSUER_URL", "value": "http://keycloak.auth.svc:8080/realms/main"},
                                {"name": "OAUTH2_PROXY_CLIENT_SECRET", "value": "b1f2c3d4e5"},
                                {"name": "OAUTH2_PROXY_COOKIE_SECRET", "value": "Zm9vYmFyYmF6cXV4"},
                            ],
                            "args": ["--upstream=http://token-exchange:8080", "--client-secret=b1f2c3d4e5"],
                        }
                    ],
                    "volumes": [{"name": "api-keys", "secret": {"secretName": "api-keys"}}],
                }
            }
        },
        "status": {"readyReplicas": 0, "replicas": 2},
    }
    out = redaction.Redactor(["b1f2c3d4e5"]).redact_object(deployment)
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0"
    assert container["env"][0]["value"] == "http://keycloak.auth.svc:8080/realms/main"
    assert container["env"][1]["value"] == container["env"][2]["value"] == redaction.MARKER
    assert container["args"] == ["--upstream=http://token-exchange:8080", f"--client-secret={redaction.MARKER}"]
    assert out["spec"]["template"]["spec"]["volumes"] == deployment["spec"]["template"]["spec"]["volumes"]  # type: ignore[index]
    assert out["metadata"] == deployment["metadata"] and out["status"] == deployment["status"]


def test_plain_known_values_do_not_eat_words() -> None:
    """A Secret holding plain words (a user, a host) does not mask those words in kubelet messages; real secrets still go."""
    redactor = redaction.Redactor(["secret", "admin", "postgres.db.svc", "Xk9-pQ2-secret-value"])
    message = 'Error: secret "postgres-credentials" not found (admin user on postgres.db.svc)'
    assert redactor.mask(message) == message
    assert "Xk9-pQ2-secret-value" not in redactor.mask("login with Xk9-pQ2-secret-value")


def test_workload_named_like_a_credential_keeps_its_evidence(tmp_path: Path) -> None:
    """auth-service on oauth2-proxy:v7.6.0 missing Secret api-keys: kubelet words, tag and names survive; the missing-Secret analyzer matches."""
    snap = tmp_path / "snapshot"
    shutil.copytree(EXAMPLES / "fraud-risk-scorer" / "snapshot", snap)
    text = (snap / "objects.yaml").read_text()
    for old, new in (
        ("model-store-credentials", "api-keys"),
        ("registry.acme.io/fraud/risk-scorer:0.4.0", "quay.io/oauth2-proxy/oauth2-proxy:v7.6.0"),
        ("risk-scorer", "auth-service"),
        ("fraud", "auth"),
    ):
        text = text.replace(old, new)
    (snap / "objects.yaml").write_text(text)
    result = _run("analyze", "pod/auth-service-8l4gf975mc-b8xwn", "-n", "auth", "--snapshot", str(snap), "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["diagnosis"]["category"] == "missing_config_reference"
    texts = [e["summary"] + "\n" + e["excerpt"] for e in report["diagnosis"]["evidence"]]
    assert any('secret "api-keys" not found' in t for t in texts)
    assert any("quay.io/oauth2-proxy/oauth2-proxy:v7.6.0" in t for t in texts)
    assert redaction.MARKER not in "\n".join(texts)
    assert "api-keys" in report["diagnosis"]["summary"]
