"""Every shipped workload rule, live: a real failure → real kube-state-metrics → Prometheus → Alertmanager → one AEGIS thread.

One namespace on the real control plane gets a workload per failure class, all at once: a pod no
node can take, a pod whose volume never mounts, a Deployment whose readiness never passes (two
replicas: one thread, not two), a Deployment stuck past its progress deadline, a StatefulSet and a
DaemonSet whose rollouts stall, a Deployment whose pods are evicted, and a Job that fails. KWOK
plays the kubelet (tests/cluster/README.md's annotation contract); the real scheduler, deployment,
StatefulSet, DaemonSet, ReplicaSet and Job controllers do the rest. The real kube-state-metrics
watches them, a real Prometheus evaluates the shipped expressions (only the durations are scaled:
minutes become seconds, test_alert_chain.scaled_rules), a real Alertmanager with the shipped route
posts to AEGIS, and the Slack stand-in must show one thread per workload, naming the workload and
the alert. Alertmanager groups by alert name and namespace, so one notification carries alerts of
several workloads: AEGIS must split it.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from aegis.bot import app as app_factory
from aegis.bot.observability import Observability
from aegis.bot.slack_client import SlackChatClient
from aegis.core import config
from aegis.core.investigator import Investigator
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Incident, ObjectRef
from aegis.core.store import IncidentStore, open_store
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, SECRET, latest
from tests.integration.conftest import Cluster
from tests.integration.observability.alertmanager import alertmanager, config_for_test
from tests.integration.observability.kube_state_metrics import kube_state_metrics
from tests.integration.observability.prometheus import free_port, poll, prometheus
from tests.integration.observability.test_alert_chain import parents, scaled_rules
from tests.slack_standin.server import SlackStandIn

pytestmark = pytest.mark.integration

IMAGE = "registry.example.com/shop/app:1.0.0"
# A readiness probe on a path the simulated app does not serve: Running, never Ready.
SERVES = {"sim.aegis.dev/serves": '{"app": {"port": 8080, "readyPath": "/healthz"}}'}
NOT_READY_PROBE = {"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1}}


@dataclass(frozen=True)
class Case:
    """One failure class: the object that breaks, the rule that must fire for it, and the workload AEGIS must name."""

    alert: str
    kind: str
    name: str
    manifest: dict[str, Any]
    category: str  # what the thread's diagnosis must find
    pods: int = 0  # pods the thread must list (the replicas of a pod-level alert), 0: not checked
    also: tuple[str, ...] = ()  # other shipped rules the same failure fires, which must join the same thread


def _template(name: str, annotations: dict[str, str] | None = None, volumes: list[dict[str, Any]] | None = None, **container: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": IMAGE, "ports": [{"containerPort": 8080}], **container}]}
    if volumes:
        spec["volumes"] = volumes
    return {"metadata": {"labels": {"app": name}, "annotations": annotations or {}}, "spec": spec}


def _workload(kind: str, name: str, template: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template, **spec},
    }


CASES = [
    # The real scheduler refuses it: no node has 16 CPUs.
    Case("KubePodUnschedulable", "Deployment", "unschedulable",
         _workload("Deployment", "unschedulable", _template("unschedulable", resources={"requests": {"cpu": "16"}}), replicas=1), "unschedulable_resources"),
    # Scheduled, but its ConfigMap volume never mounts (ContainerCreating): Pending.
    Case("KubePodPending", "Deployment", "pending",
         _workload("Deployment", "pending", _template(
             "pending", volumes=[{"name": "settings", "configMap": {"name": "app-settings-missing"}}],
             volumeMounts=[{"name": "settings", "mountPath": "/etc/app"}]), replicas=1), "missing_config_reference"),
    # Running, readiness never passes; two replicas are one workload, one thread.
    Case("KubeContainerNotReady", "Deployment", "not-ready",
         _workload("Deployment", "not-ready", _template("not-ready", SERVES, **NOT_READY_PROBE), replicas=2), "readiness_probe_failure", pods=2),
    # An image that does not exist and a 10 s progress deadline: Progressing=False, ProgressDeadlineExceeded.
    Case("KubeDeploymentRolloutStuck", "Deployment", "stuck",
         _workload("Deployment", "stuck", _template("stuck", {"sim.aegis.dev/images": IMAGE}, image=IMAGE.replace("1.0.0", "1.0.1")),
                   replicas=1, progressDeadlineSeconds=10), "image_pull_error", also=("KubePodImagePullFailing",)),
    # A memory limit under what the simulated app needs: OOMKilled, restarted, crash looping.
    Case("KubePodOOMKilled", "Deployment", "oom",
         _workload("Deployment", "oom", _template("oom", {"sim.aegis.dev/memory-floor": '{"app": "256Mi"}'}, resources={"limits": {"memory": "128Mi"}}),
                   replicas=1), "oom_killed", also=("KubePodCrashLooping",)),
    # Two replicas, OrderedReady: ledger-0 never gets ready, so ledger-1 is never made.
    Case("KubeStatefulSetRolloutStalled", "StatefulSet", "ledger",
         _workload("StatefulSet", "ledger", _template("ledger", SERVES, **NOT_READY_PROBE), replicas=2, serviceName="ledger"), "readiness_probe_failure"),
    # One pod per fake node, none ever ready.
    Case("KubeDaemonSetRolloutStalled", "DaemonSet", "agent",
         _workload("DaemonSet", "agent", _template("agent", SERVES, **NOT_READY_PROBE)), "readiness_probe_failure"),
    # Writes 6Gi of scratch data and requests none: the kubelet evicts each pod a few seconds after it starts.
    Case("KubePodEvicted", "Deployment", "evicted",
         _workload("Deployment", "evicted", _template("evicted", {"sim.aegis.dev/ephemeral-storage-usage": '{"app": "6Gi"}'}), replicas=1), "evicted"),
    # Its image crashes, restartPolicy Never, backoffLimit 0: the Job controller marks it Failed.
    Case("KubeJobFailed", "Job", "export", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "export"},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"annotations": {"sim.aegis.dev/crash-when": json.dumps({"app": {"image": IMAGE}})}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "app", "image": IMAGE}]},
        }},
    }, "job_failed"),
]  # fmt: skip


def _found(incidents: list[Incident], case: Case, ns: str) -> Incident | None:
    """The incident of the case's workload, once its alert has joined it."""
    want = ObjectRef(kind=case.kind, namespace=ns, name=case.name)
    return next((i for i in incidents if i.target == want and {case.alert, *case.also} <= {a.alertname for a in i.alerts}), None)


async def _prometheus_alerts(http: httpx.AsyncClient, prom_url: str) -> list[dict[str, Any]]:
    return list((await http.get(f"{prom_url}/api/v1/alerts")).json()["data"]["alerts"])


def _names_workload(labels: dict[str, str], case: Case, ns: str) -> bool:
    """The alert's labels name the case's workload: its kube-state-metrics label, or a pod of it."""
    if labels.get("namespace") != ns:
        return False
    label = {"Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset", "Job": "job_name"}[case.kind]
    return labels.get(label) == case.name or labels.get("pod", "").startswith(f"{case.name}-")


async def test_each_rule_fires_and_opens_one_thread_per_workload(control_plane: Cluster, tmp_path: Path) -> None:
    """Nine failure classes at once: each shipped workload rule fires in Prometheus and AEGIS opens one thread for the broken workload."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    ns = await asyncio.to_thread(control_plane.create_namespace, "rules")
    for case in CASES:
        await asyncio.to_thread(control_plane.apply, case.manifest, ns)
    timings["applied"] = round(time.monotonic() - started, 1)

    (tmp_path / "alertmanager-token").write_text(ALERT_TOKEN)
    rules = scaled_rules(tmp_path / "prometheus-alerts.yaml")
    prometheus_port = free_port()
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(gateway.close)
        standin = await stack.enter_async_context(SlackStandIn(rate_per_second=None).serve())
        settings = config.load(
            slack_bot_token=standin.token, slack_signing_secret=SECRET, slack_api_url=standin.url, slack_channel=CHANNEL,
            alertmanager_token=ALERT_TOKEN, store_url=str(tmp_path / "aegis.db"), prometheus_url=f"http://127.0.0.1:{prometheus_port}",
            backend_timeout_seconds=10.0,
        )  # fmt: skip
        store: IncidentStore = await open_store(settings.store_url)
        stack.push_async_callback(store.close)
        chat = SlackChatClient(standin.token, standin.url, per_channel_interval=0.0)
        stack.push_async_callback(chat.aclose)
        resources = ("pods", "deployments", "statefulsets", "daemonsets", "jobs")
        kube_target = await stack.enter_async_context(kube_state_metrics(tmp_path, control_plane.admin_kubeconfig, (ns,), resources))
        investigator = Investigator(gateway, settings=settings, links=Observability.from_settings(settings).link_builder)
        bot = app_factory.build(settings, chat=chat, store=store, investigator=investigator)
        runner = web.AppRunner(bot.web, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        bot_address = f"127.0.0.1:{runner.addresses[0][1]}"
        am_config = config_for_test(f"http://{bot_address}/alertmanager/webhook", tmp_path / "alertmanager-token")
        am = await stack.enter_async_context(alertmanager(tmp_path, am_config))
        prom_url = await stack.enter_async_context(prometheus(tmp_path, {"kube-state-metrics": kube_target}, (rules,), port=prometheus_port, alertmanager=am))
        stack.push_async_callback(bot.service.drain)  # first out: its last graphs still query Prometheus
        timings["stack up"] = round(time.monotonic() - started, 1)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=5))

        async def every_case_threaded() -> dict[str, Incident] | None:
            incidents = await store.list_open()
            found = {case.alert: _found(incidents, case, ns) for case in CASES}
            if not all(found.values()):
                return None
            return {alert: incident for alert, incident in found.items() if incident is not None}

        async def state() -> str:
            """What each part saw, for a timeout message."""
            firing = sorted({(a["labels"]["alertname"], a["state"]) for a in await _prometheus_alerts(http, prom_url)})
            am_alerts = sorted({a["labels"]["alertname"] for a in (await http.get(f"http://{am}/api/v2/alerts")).json()})
            incidents = [(str(i.target), sorted({a.alertname for a in i.alerts})) for i in await store.list_open()]
            pods = await asyncio.to_thread(control_plane.dump, ns)
            return f"prometheus: {firing}\nalertmanager: {am_alerts}\nincidents: {incidents}\n{pods[-6000:]}"

        try:
            incidents = await poll("a thread for every failure class", every_case_threaded, timeout=180, interval=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{await state()}") from None
        timings["all threads"] = round(time.monotonic() - started, 1)

        # Prometheus: each rule fired (its ALERTS series; OOMKilled comes and goes with the restarts), on labels that
        # name the case's workload: its own label, or a pod of it. Firing alerts carry their rendered annotations.
        query = {"query": f'ALERTS{{alertstate="firing", namespace="{ns}"}}[10m]'}
        fired = [s["metric"] for s in (await http.get(f"{prom_url}/api/v1/query", params=query)).json()["data"]["result"]]
        for case in CASES:
            for alert in (case.alert, *case.also):
                mine = [a for a in fired if a["alertname"] == alert and _names_workload(a, case, ns)]
                assert mine, f"{alert} did not fire for {case.kind} {case.name}: {sorted({a['alertname'] for a in fired})}"
        firing = [a for a in await _prometheus_alerts(http, prom_url) if a["state"] == "firing" and a["labels"].get("namespace") == ns]
        assert firing and all(a["annotations"]["runbook_url"].startswith("https://") and ns in a["annotations"]["summary"] for a in firing)
        # The scheduler's refusal is named once, by the specific rule: no KubePodPending beside KubePodUnschedulable.
        query = {"query": f'ALERTS{{alertname="KubePodPending", namespace="{ns}", pod=~"unschedulable-.+"}}[10m]'}
        assert not (await http.get(f"{prom_url}/api/v1/query", params=query)).json()["data"]["result"]  # not even pending

        # AEGIS: one incident and one thread per workload, whatever alerts joined it, naming the workload and the alert.
        open_now = await store.list_open()
        targets = [str(i.target) for i in open_now]
        assert len(targets) == len(set(targets)), f"a workload has two incidents: {sorted(targets)}"
        threads = {m.ts: latest(m) for m in parents(standin)}
        assert len(threads) == len(open_now), f"{len(threads)} threads for {len(open_now)} incidents"
        for case in CASES:
            incident = incidents[case.alert]
            assert incident.thread_ts in threads, f"{case.alert}: no thread for {incident.target}"
            shown = json.dumps(threads[incident.thread_ts])
            assert f"{case.kind.lower()} {case.name}" in shown and case.alert in shown, shown

        # Each thread gets its diagnosis from the live cluster (and the bot is idle before the stack stops).
        async def diagnosed() -> dict[str, str] | None:
            now = {case.alert: await store.get(incidents[case.alert].id) for case in CASES}
            done = {alert: i.diagnosis.rca.category.value for alert, i in now.items() if i is not None and i.diagnosis is not None}
            return done if len(done) == len(CASES) else None

        categories = await poll("a diagnosis in every thread", diagnosed, timeout=90, interval=1.0)
        timings["all diagnosed"] = round(time.monotonic() - started, 1)
        assert categories == {case.alert: case.category for case in CASES}
        not_ready = next(c for c in CASES if c.pods)
        listed = {a.pod for a in incidents[not_ready.alert].alerts if a.alertname == not_ready.alert}
        live = {p["metadata"]["name"] for p in await asyncio.to_thread(control_plane.pods, ns, f"app={not_ready.name}")}
        assert listed == live and len(listed) == not_ready.pods, (listed, live)
    timings["total"] = round(time.monotonic() - started, 1)
    print(f"\n[alert rules live] {timings}")
