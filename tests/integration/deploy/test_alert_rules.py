"""The shipped alert rules, proven with the real promtool, in `make test` (deploy/check.sh runs the same two commands).

- `promtool check rules` and `promtool test rules` pass on deploy/docker/prometheus-alerts.yaml.
- Every Kubernetes workload rule has a unit test that expects it to fire and one that expects it
  quiet, and carries severity, summary, description and runbook_url.
- The labels each rule fires with lead AEGIS (bot/alertmanager.py target_of) to the right kind of
  object: a pod (whose owners AEGIS then follows) or the workload itself.
- The unit tests are not decoration: breaking the clause a rule depends on makes them fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.bot.alertmanager import target_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "deploy" / "docker"
RULES = DOCKER / "prometheus-alerts.yaml"
TESTS = DOCKER / "prometheus-alerts.test.yaml"
WORKLOAD_GROUP = "kubernetes-workloads"

# What each workload rule's alert must lead AEGIS to. Pod-level rules name the pod; AEGIS resolves
# its owner (ReplicaSet → Deployment, StatefulSet, DaemonSet, Job) on the live cluster.
TARGET_KIND = {
    "KubePodCrashLooping": "Pod",
    "KubePodOOMKilled": "Pod",
    "KubePodImagePullFailing": "Pod",
    "KubePodUnschedulable": "Pod",
    "KubePodPending": "Pod",
    "KubeContainerNotReady": "Pod",
    "KubePodEvicted": "Pod",
    "KubeDeploymentRolloutStuck": "Deployment",
    "KubeStatefulSetRolloutStalled": "StatefulSet",
    "KubeDaemonSetRolloutStalled": "DaemonSet",
    "KubeJobFailed": "Job",
}

# (rule, text in its expr, replacement): the clause that keeps each rule honest, broken.
MUTATIONS = [
    ("KubePodUnschedulable", "kube_pod_status_unschedulable{", 'kube_pod_status_scheduled{condition="false", '),
    ("KubePodPending", "unless on (namespace, pod)", "or on (namespace, pod)"),
    ("KubePodPending", "for: 5m", "for: 1m"),
    ("KubeContainerNotReady", "unless on (namespace, pod, container)", "or on (namespace, pod, container)"),
    ("KubeContainerNotReady", '(kube_pod_status_phase{phase="Running"} == 1)', '(kube_pod_status_phase{phase="Running"} >= 0)'),
    ("KubeDeploymentRolloutStuck", 'namespace!~"aegis-shadow-.+"} == 1', 'namespace!~"aegis-shadow-.+"} >= 0'),
    ("KubeStatefulSetRolloutStalled", "kube_statefulset_status_replicas_updated[5m]) == 0", "kube_statefulset_status_replicas_updated[5m]) >= 0"),
    ("KubeStatefulSetRolloutStalled", "or kube_statefulset_status_observed_generation", "and kube_statefulset_status_observed_generation"),
    ("KubeDaemonSetRolloutStalled", "kube_daemonset_status_updated_number_scheduled[5m]) == 0", "kube_daemonset_status_updated_number_scheduled[5m]) >= 0"),
    ("KubePodEvicted", 'reason="Evicted", ', ""),
    ("KubeJobFailed", 'condition="true", ', ""),
    ("KubePodCrashLooping", 'namespace!~"aegis-shadow-.+"', 'namespace!~"aegis-nothing"'),
]


def promtool() -> str:
    """Debian's promtool; missing fails in CI (a skip there would hide a broken install) and skips locally."""
    found = shutil.which("promtool")
    if found is None:
        msg = "promtool is missing: run deploy/check.sh (installs Debian's prometheus)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def workload_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r for g in groups if g["name"] == WORKLOAD_GROUP for r in g["rules"]}


def rule_tests() -> list[dict[str, Any]]:
    """Every alert_rule_test of the promtool test file."""
    return [case for test in yaml.safe_load(TESTS.read_text())["tests"] for case in test.get("alert_rule_test", [])]


def test_promtool_checks_and_tests_the_shipped_rules() -> None:
    """`promtool check rules` and `promtool test rules` pass on the shipped files, as they are."""
    checked = run("check", "rules", RULES.name, cwd=DOCKER)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    tested = run("test", "rules", TESTS.name, cwd=DOCKER)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_workload_rule_fires_and_stays_quiet_in_a_test() -> None:
    """Each workload rule has a promtool case expecting it to fire and one expecting silence; no rule is untested."""
    rules = workload_rules()
    assert set(rules) == set(TARGET_KIND), "a rule was added or removed: say here what its alert targets"
    cases = rule_tests()
    for name in rules:
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name}: no test expects it to fire"
        assert any(not c.get("exp_alerts") for c in mine), f"{name}: no test expects it to stay quiet"


@pytest.mark.parametrize("name", sorted(TARGET_KIND))
def test_alert_labels_lead_aegis_to_the_workload(name: str) -> None:
    """The labels each rule fires with (as its promtool test expects them) give AEGIS a target of the right kind."""
    rule = workload_rules()[name]
    assert rule["labels"]["severity"] in ("warning", "critical")
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"], name
    assert annotations["runbook_url"].startswith("https://runbooks.prometheus-operator.dev/runbooks/kubernetes/"), name
    fired = [a for c in rule_tests() if c["alertname"] == name for a in c.get("exp_alerts") or []]
    assert fired
    for alert in fired:
        labels = {k: str(v) for k, v in alert["exp_labels"].items()}
        target = target_of({**labels, "alertname": name})
        assert target is not None and target.kind == TARGET_KIND[name], f"{name} {labels} → {target}"
        assert target.namespace == labels["namespace"]
        assert alert["exp_annotations"]["runbook_url"] == annotations["runbook_url"]


@pytest.mark.parametrize(("name", "old", "new"), MUTATIONS, ids=[f"{m[0]}:{m[2] or 'dropped ' + m[1]}" for m in MUTATIONS])
def test_the_rule_tests_catch_a_broken_rule(tmp_path: Path, name: str, old: str, new: str) -> None:
    """With one rule's key clause broken, `promtool test rules` fails on that rule: the tests can fail."""
    text = RULES.read_text()
    start = text.index(f"- alert: {name}\n")
    end = text.find("- alert: ", start + 1)
    end = len(text) if end < 0 else end
    assert old in text[start:end], f"{name}: {old!r} is no longer in the rule; update the mutation"
    (tmp_path / RULES.name).write_text(text[:start] + text[start:end].replace(old, new) + text[end:])
    (tmp_path / TESTS.name).write_text(TESTS.read_text())
    assert run("check", "rules", RULES.name, cwd=tmp_path).returncode == 0, "the mutation must stay valid PromQL"
    tested = run("test", "rules", TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0, f"breaking {name} ({old!r} → {new!r}) went unnoticed"
    assert f"alertname: {name}" in tested.stdout + tested.stderr, tested.stdout + tested.stderr


def test_alertmanager_groups_alerts_of_one_workload_together() -> None:
    """The shipped route groups by namespace (and alert name), never by pod: a workload's replicas share a notification."""
    route = yaml.safe_load((DOCKER / "alertmanager.yml").read_text())["route"]
    assert "namespace" in route["group_by"] and "pod" not in route["group_by"], route["group_by"]
