"""Failed connections whose log line names no host: credited to the container's only configured peer.

Java's `SocketTimeoutException: Connect timed out`, curl's `(28) Connection timed out after N
milliseconds` or httpx's `ConnectTimeout: timed out` say nothing of where they were going; an SRE
reads the container's configuration. AEGIS does the same, only when it names exactly one peer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aegis.core.evidence import netlog
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, ObjectRef
from tests.incidents import EXAMPLES


def test_configured_peers_are_urls_host_ports_and_host_variables() -> None:
    container = {
        "env": [
            {"name": "PAYMENTS_API_URL", "value": "http://payments-api:8080/v1"},
            {"name": "LEDGER", "value": "ledger.finance.svc:9090"},
            {"name": "DB_HOST", "value": "postgres"},
            {"name": "DB_PORT", "value": "5432"},
            {"name": "CACHE_TOKEN", "valueFrom": {"secretKeyRef": {"name": "cache", "key": "token"}}},
            {"name": "LISTEN_ADDR", "value": "0.0.0.0"},
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "args": ["--upstream=grpc://risk-scorer:50051", "--metrics-port=9102"],
    }
    assert netlog.configured_peers(container) == {
        "payments-api": (8080, "env PAYMENTS_API_URL"),
        "ledger.finance.svc": (9090, "env LEDGER"),
        "postgres": (5432, "env DB_HOST"),
        "risk-scorer": (50051, "the container's arguments"),
    }


HOSTLESS = netlog.NetFailure(kind="timeout", host="", port=None, line="java.net.SocketTimeoutException: Connect timed out")


def test_a_hostless_failure_is_credited_to_the_only_peer() -> None:
    (credited,) = netlog.attribute([HOSTLESS], {"payments-api": (8080, "env PAYMENTS_API_URL")})
    assert (credited.host, credited.port, credited.line) == ("payments-api", 8080, HOSTLESS.line)
    assert credited.provenance == " (the log names no host; env PAYMENTS_API_URL names the container's only peer)"


def test_with_several_peers_aegis_does_not_guess() -> None:
    peers = {"payments-api": (8080, "env A"), "ledger": (9090, "env B")}
    assert netlog.attribute([HOSTLESS], peers) == [HOSTLESS]


def test_a_line_that_names_its_host_keeps_it() -> None:
    named = netlog.failures("org.apache.http.conn.ConnectTimeoutException: Connect to payments-api:8080 [payments-api/10.96.78.49] failed: connect timed out")
    assert [(f.kind, f.host, f.port) for f in named] == [("timeout", "payments-api", 8080)]
    assert netlog.attribute(named, {"other": (1, "env X")}) == named


_HOSTLESS_LINES = [
    "java.net.SocketTimeoutException: Connect timed out",
    "curl: (28) Connection timed out after 5001 milliseconds",
    "httpx.ConnectTimeout: timed out",
    "java.net.ConnectException: Connection timed out (Connection timed out)",
]


@pytest.mark.parametrize("line", _HOSTLESS_LINES)
async def test_the_collector_follows_the_only_peer_and_the_policy_is_named(line: str, tmp_path: Path) -> None:
    """refunds logs a host-less timeout; its one peer (env PAYMENTS_API_URL) is followed to its Service and policy."""
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLES / "refunds-payments-timeout" / "snapshot", snapshot)
    log = next(snapshot.rglob("refunds.previous.log"))
    log.write_text(f"INFO starting refunds version=1.8.2\n{line}\n", encoding="utf-8")
    target = ObjectRef(kind="Deployment", namespace="payments", name="refunds")
    diagnosis = await Investigator(SnapshotGateway.open(snapshot)).investigate(target)
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED, diagnosis.rca.summary
    assert "payments-api-ingress" in diagnosis.rca.summary and "payments-api" in diagnosis.rca.summary
    assert any("env PAYMENTS_API_URL names the container's only peer" in step for step in diagnosis.rca.analysis_steps), diagnosis.rca.analysis_steps
