"""A silence from the thread covers exactly the workload's alerts: its pods (also replacements), its alert names, its namespace."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from aegis.core.alertmanager_api import Matcher
from aegis.core.incidents import silencing
from aegis.core.models import Incident, IncidentAlert, IncidentId, IncidentSource, ObjectRef

NOW = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)


def incident(target: ObjectRef | None, alerts: list[tuple[str, str]], labels: dict[str, str] | None = None) -> Incident:
    return Incident(
        id=IncidentId("INC-3"),
        source=IncidentSource.ALERTMANAGER,
        title="KubePodCrashLooping",
        target=target,
        alerts=[IncidentAlert(fingerprint=f"f{n}", alertname=name, pod=pod) for n, (name, pod) in enumerate(alerts)],
        labels=labels or {},
        created_at=NOW,
        updated_at=NOW,
    )


def silences(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    """Alertmanager's rule: every matcher holds; a missing label is ""; a regex is anchored at both ends (RE2, here the common subset)."""
    for m in matchers:
        value = labels.get(m.name, "")
        hit = re.fullmatch(m.value, value) is not None if m.is_regex else value == m.value
        if hit != m.is_equal:
            return False
    return True


def alert(name: str, namespace: str = "shop", **labels: str) -> dict[str, str]:
    return {"alertname": name, "namespace": namespace, **labels}


CHECKOUT = ObjectRef(kind="Deployment", namespace="shop", name="checkout")


def test_deployment_pods_and_names_are_silenced_and_neighbours_are_not() -> None:
    """Two names on two pods of one Deployment: all four combinations and a replacement pod are covered; a Deployment
    whose name starts the same, a StatefulSet, another alert name and another namespace are not."""
    found = silencing.matchers(incident(CHECKOUT, [("KubePodCrashLooping", "checkout-7d9f8b6c5d-x2x9k"), ("KubePodNotReady", "checkout-7d9f8b6c5d-b7v4q")]))
    for name in ("KubePodCrashLooping", "KubePodNotReady"):
        for pod in ("checkout-7d9f8b6c5d-x2x9k", "checkout-7d9f8b6c5d-b7v4q", "checkout-6c8d9f7b54-zq5wp"):
            assert silences(found, alert(name, pod=pod)), (name, pod)
    assert not silences(found, alert("KubePodCrashLooping", pod="checkout-api-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("KubePodCrashLooping", pod="checkout-db-0"))
    assert not silences(found, alert("KubePodCrashLooping", pod="checkout-x2x9k"))  # a DaemonSet's or Job's pod
    assert not silences(found, alert("KubePodOOMKilled", pod="checkout-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("KubePodCrashLooping", namespace="shop-staging", pod="checkout-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("KubePodCrashLooping"))  # the same name about no pod at all


def test_one_alert_name_is_an_exact_matcher() -> None:
    """namespace and alertname are plain equality; only the pods are a regex."""
    found = silencing.matchers(incident(CHECKOUT, [("KubePodCrashLooping", "checkout-7d9f8b6c5d-x2x9k")]))
    assert found[:2] == [Matcher(name="namespace", value="shop"), Matcher(name="alertname", value="KubePodCrashLooping")]
    assert found[2].name == "pod" and found[2].is_regex


def test_an_alert_about_the_workload_itself_is_silenced_by_its_name_label() -> None:
    """A stuck rollout (deployment=checkout, no pod) beside a pod alert: both silenced; another Deployment's stuck rollout
    and a pod alert without a pod of this workload are not."""
    found = silencing.matchers(incident(CHECKOUT, [("KubeDeploymentRolloutStuck", ""), ("KubePodCrashLooping", "checkout-7d9f8b6c5d-x2x9k")]))
    assert silences(found, alert("KubeDeploymentRolloutStuck", deployment="checkout"))
    assert silences(found, alert("KubePodCrashLooping", pod="checkout-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("KubeDeploymentRolloutStuck", deployment="checkout-api"))
    assert not silences(found, alert("KubePodCrashLooping", pod="payments-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("KubeDeploymentRolloutStuck", namespace="payments", deployment="checkout"))


def test_only_workload_alerts_need_no_pod_matcher() -> None:
    """An incident of workload-level alerts only: namespace, alertname and deployment, all exact."""
    found = silencing.matchers(incident(CHECKOUT, [("KubeDeploymentRolloutStuck", "")]))
    assert found == [
        Matcher(name="namespace", value="shop"),
        Matcher(name="alertname", value="KubeDeploymentRolloutStuck"),
        Matcher(name="deployment", value="checkout"),
    ]


@pytest.mark.parametrize(
    ("kind", "name", "theirs", "not_theirs"),
    [
        ("StatefulSet", "db", ["db-0", "db-12"], ["db-backup-0", "db-7d9f8b6c5d-x2x9k", "dbx-0"]),
        ("DaemonSet", "node-agent", ["node-agent-x2x9k"], ["node-agent-exporter-x2x9k", "node-agent-7d9f8b6c5d-x2x9k"]),
        ("Job", "migrate", ["migrate-x2x9k"], ["migrate-v2-x2x9k", "migrate-0"]),
        ("CronJob", "report", ["report-29012345-x2x9k"], ["report-x2x9k", "report-daily-29012345-x2x9k"]),
        ("Pod", "debug.pod", ["debug.pod"], ["debugxpod", "debug.pod-2"]),
    ],
)
def test_each_kind_covers_the_pods_its_controller_names(kind: str, name: str, theirs: list[str], not_theirs: list[str]) -> None:
    """Pods the controller names later are covered; pods of look-alike workloads are not (dots are literal, not any character)."""
    known = theirs[0]
    found = silencing.matchers(incident(ObjectRef(kind=kind, namespace="shop", name=name), [("KubePodCrashLooping", known)]))
    for pod in theirs:
        assert silences(found, alert("KubePodCrashLooping", pod=pod)), pod
    for pod in not_theirs:
        assert not silences(found, alert("KubePodCrashLooping", pod=pod)), pod


def test_names_with_regex_characters_are_literal() -> None:
    """An alert name with RE2 metacharacters matches itself only."""
    found = silencing.matchers(incident(CHECKOUT, [("a.b", "checkout-7d9f8b6c5d-x2x9k"), ("c+d", "checkout-7d9f8b6c5d-x2x9k")]))
    assert silences(found, alert("a.b", pod="checkout-7d9f8b6c5d-x2x9k")) and silences(found, alert("c+d", pod="checkout-7d9f8b6c5d-x2x9k"))
    assert not silences(found, alert("axb", pod="checkout-7d9f8b6c5d-x2x9k")) and not silences(found, alert("ccd", pod="checkout-7d9f8b6c5d-x2x9k"))
    assert silencing.escape(r"a.b|c*d(e)[f]{g}^$\h?") == r"a\.b\|c\*d\(e\)\[f\]\{g\}\^\$\\h\?"


def test_an_alert_naming_no_workload_is_silenced_by_its_group_labels() -> None:
    """No workload: the group's common labels, exact; a redacted value or a secret-named label is left out (it would match nothing)."""
    labels = {"alertname": "TargetDown", "job": "payments", "severity": "warning", "api_token": "x", "note": "[REDACTED]"}
    found = silencing.matchers(incident(None, [("TargetDown", "")], labels))
    assert found == [Matcher(name=k, value=labels[k]) for k in ("alertname", "job", "severity")]
    assert silences(found, {"alertname": "TargetDown", "job": "payments", "severity": "warning", "instance": "10.0.0.1:80"})
    assert not silences(found, {"alertname": "TargetDown", "job": "orders", "severity": "warning"})


def test_nothing_to_match_is_no_matchers() -> None:
    """Without alert names or common labels there is nothing to silence by: [] (the click is refused with the reason)."""
    assert silencing.matchers(incident(None, [], {"severity": "warning"})) == []


def test_the_api_json_is_alertmanagers() -> None:
    """Matchers go out as Alertmanager's v2 API spells them."""
    assert Matcher(name="pod", value="a|b", is_regex=True).as_json() == {"name": "pod", "value": "a|b", "isRegex": True, "isEqual": True}
    assert str(Matcher(name="pod", value="a|b", is_regex=True)) == 'pod=~"a|b"'
