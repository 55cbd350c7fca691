"""Alertmanager payloads: validation with reasons, authentication as http_config sends it, target from labels."""

from __future__ import annotations

import base64
import json

import pytest

from aegis.bot import alertmanager
from aegis.core.errors import UsageError
from aegis.core.models import ObjectRef


def payload(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "version": "4",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}',
        "status": "firing",
        "receiver": "aegis",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "severity": "critical"},
        "commonAnnotations": {"summary": "Pod is crash looping."},
        "externalURL": "http://am:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2x9k"},
                "annotations": {},
                "startsAt": "2026-11-25T09:15:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "a1",
            }
        ],
    }
    body.update(overrides)
    return body


def test_valid_payload_and_target() -> None:
    """A v4 payload parses; the pod label in the alert names the target."""
    parsed = alertmanager.parse(json.dumps(payload()).encode())
    assert parsed.severity == "critical"
    assert parsed.title == "KubePodCrashLooping: Pod is crash looping."
    assert alertmanager.group_target(parsed) == ObjectRef(kind="Pod", namespace="shop", name="checkout-7d9f8b6c5d-x2x9k")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "invalid Alertmanager payload"),
        (json.dumps(payload(version="3")).encode(), "version"),
        (json.dumps(payload(alerts=[])).encode(), "alerts"),
        (json.dumps(payload(status="maybe")).encode(), "status"),
    ],
)
def test_invalid_payload_has_a_reason(body: bytes, fragment: str) -> None:
    """Malformed bodies raise UsageError naming where they are wrong."""
    with pytest.raises(UsageError) as info:
        alertmanager.parse(body)
    assert fragment in str(info.value)


def test_workload_labels_win_over_pod() -> None:
    """A deployment label targets the Deployment; namespace is required."""
    assert alertmanager.target_of({"namespace": "shop", "deployment": "checkout", "pod": "x"}) == ObjectRef(
        kind="Deployment", namespace="shop", name="checkout"
    )
    assert alertmanager.target_of({"pod": "x"}) is None
    assert alertmanager.target_of({"alertname": "Watchdog"}) is None


def test_job_cronjob_and_claim_labels_name_their_objects() -> None:
    """kube-state-metrics' job_name and cronjob, and the kubelet's persistentvolumeclaim label, target those objects; `job` (the scrape job) does not."""
    assert alertmanager.target_of({"namespace": "billing", "job_name": "invoice-export", "job": "kube-state-metrics"}) == ObjectRef(
        kind="Job", namespace="billing", name="invoice-export"
    )
    assert alertmanager.target_of({"namespace": "billing", "cronjob": "invoice-export"}) == ObjectRef(
        kind="CronJob", namespace="billing", name="invoice-export"
    )
    assert alertmanager.target_of({"namespace": "ledger", "persistentvolumeclaim": "ledger-wal", "job": "kubelet"}) == ObjectRef(
        kind="PersistentVolumeClaim", namespace="ledger", name="ledger-wal"
    )
    assert alertmanager.target_of({"namespace": "shop", "job": "kube-state-metrics"}) is None


def test_authentication() -> None:
    """Bearer token or basic-auth password must equal the configured token; anything else is refused."""
    basic = "Basic " + base64.b64encode(b"alertmanager:s3cret").decode()
    assert alertmanager.authorized("Bearer s3cret", "s3cret")
    assert alertmanager.authorized(basic, "s3cret")
    assert not alertmanager.authorized("Bearer wrong", "s3cret")
    assert not alertmanager.authorized(None, "s3cret")
    assert not alertmanager.authorized("Basic !!notbase64", "s3cret")
    assert not alertmanager.authorized("Bearer s3cret", "")


def test_shadow_alerts_are_split_off() -> None:
    """Alerts on aegis-shadow-* namespaces leave the payload; the rest stays; all-shadow leaves nothing."""
    shadow = {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "aegis-shadow-inc-1-ab12", "pod": "p"}, "fingerprint": "s1"}
    mixed = alertmanager.parse(json.dumps(payload(commonLabels={"alertname": "KubePodCrashLooping"}, alerts=[*payload()["alerts"], shadow])).encode())
    kept, ignored = alertmanager.without_shadow(mixed)
    assert kept is not None and [a.fingerprint for a in kept.alerts] == ["a1"] and [a.fingerprint for a in ignored] == ["s1"]
    only = alertmanager.parse(json.dumps(payload(commonLabels={"namespace": "aegis-shadow-inc-1-ab12"}, alerts=[shadow])).encode())
    assert alertmanager.without_shadow(only) == (None, only.alerts)
    untouched = alertmanager.parse(json.dumps(payload()).encode())
    assert alertmanager.without_shadow(untouched) == (untouched, [])
