"""The live kube-state-metrics substitute turns a pod object into kube-state-metrics' series, exactly (no cluster needed)."""

from __future__ import annotations

import shutil
import subprocess

from tests.integration.observability.kube_state_live import exposition

CRASHLOOPING = {
    "metadata": {"namespace": "shop", "name": "checkout-1", "uid": "u1"},
    "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "checkout", "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}}}]},
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "checkout",
                "restartCount": 3,
                "ready": False,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
            }
        ],
    },
}
HEALTHY = {
    "metadata": {"namespace": "shop", "name": "checkout-2", "uid": "u2"},
    "spec": {"containers": [{"name": "checkout"}]},
    "status": {"phase": "Running", "containerStatuses": [{"name": "checkout", "restartCount": 0, "ready": True, "state": {"running": {}}}]},
}


def test_series_names_labels_and_exact_values() -> None:
    """Each family once with HELP/TYPE; waiting_reason only while waiting; quantities exact in base units."""
    text = exposition([CRASHLOOPING, HEALTHY])
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    base = 'namespace="shop",pod="checkout-1",uid="u1"'
    assert f'kube_pod_container_status_restarts_total{{{base},container="checkout"}} 3' in samples
    assert f'kube_pod_container_status_waiting_reason{{{base},container="checkout",reason="CrashLoopBackOff"}} 1' in samples
    assert f'kube_pod_container_status_last_terminated_reason{{{base},container="checkout",reason="Error"}} 1' in samples
    limit = f'kube_pod_container_resource_limits{{{base},node="kwok-node-0",container="checkout",resource="memory",unit="byte"}} 268435456'
    assert limit in samples
    assert f'kube_pod_container_resource_requests{{{base},node="kwok-node-0",container="checkout",resource="cpu",unit="core"}} 0.1' in samples
    assert f'kube_pod_status_phase{{{base},phase="Running"}} 1' in samples
    assert not [s for s in samples if s.startswith("kube_pod_container_status_waiting_reason") and "checkout-2" in s]
    assert text.count("# TYPE kube_pod_container_status_restarts_total counter") == 1
    if shutil.which("promtool"):  # the exposition lints clean where Debian's prometheus is installed
        lint = subprocess.run(["promtool", "check", "metrics"], check=False, input=text, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, lint.stdout + lint.stderr
