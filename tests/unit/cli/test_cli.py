"""The CLI's contract: exit codes, one-line errors, and JSON output that matches its schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aegis.core.report import AnalysisReport
from tests.incidents import EXAMPLES

SNAPSHOT = str(EXAMPLES / "crashloop-missing-env" / "snapshot")


def _aegis(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aegis.bot.cli", *args], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})


def test_json_output_matches_the_contract() -> None:
    """--output json prints one object that validates against the published report model."""
    result = _aegis("analyze", "deploy/checkout", "-n", "shop", "--snapshot", SNAPSHOT, "--output", "json")
    assert result.returncode == 0, result.stderr
    report = AnalysisReport.model_validate_json(result.stdout)
    assert report.diagnosis.category.value == "missing_env_var"
    assert report.fix is not None and report.fix.patch_type == "json"
    assert set(json.loads(result.stdout)) >= {"target", "workload", "diagnosis", "fix"}


def test_schema_is_json_schema() -> None:
    """`aegis schema` prints a JSON Schema that names the report's top-level fields."""
    result = _aegis("schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["required"]) >= {"target", "workload", "diagnosis", "fix"}


def test_demo_runs_without_cluster() -> None:
    """`aegis demo` diagnoses the bundled incident with no cluster and no Slack."""
    result = _aegis("demo", env={"KUBECONFIG": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "missing_env_var" in result.stdout and "DATABASE_URL" in result.stdout


def test_unknown_pod_is_exit_2_without_traceback() -> None:
    """An unknown target exits 2 with one line naming it."""
    result = _aegis("analyze", "pod/nope", "-n", "shop", "--snapshot", SNAPSHOT)
    assert result.returncode == 2
    assert result.stderr.strip() == "aegis: error: Pod 'nope' not found in namespace shop"


def test_bad_snapshot_is_exit_2(tmp_path: Path) -> None:
    """An unreadable snapshot exits 2 naming the file and line."""
    (tmp_path / "objects.yaml").write_text("kind: Pod\n  bad: [\n")
    result = _aegis("analyze", "pod/x", "--snapshot", str(tmp_path))
    assert result.returncode == 2
    assert "objects.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_cluster_is_exit_3(tmp_path: Path) -> None:
    """A cluster that refuses connections exits 3 and says it cannot be reached."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    result = _aegis("analyze", "pod/x", "--kubeconfig", str(kubeconfig))
    assert result.returncode == 3
    assert "cannot reach the Kubernetes API server" in result.stderr and "Traceback" not in result.stderr


def test_usage_error_is_exit_2() -> None:
    """A malformed command line exits 2."""
    assert _aegis("analyze").returncode == 2
    assert _aegis("analyze", "svc/x").returncode == 2
