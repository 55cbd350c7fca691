"""An incident is one broken workload: alerts about its pods join one thread under any name.

Fast tier, on the crashloop-missing-env snapshot (Deployment shop/checkout, its ReplicaSet
checkout-7d9f8b6c5d) and the in-memory chat. The same behaviour over real HTTP and a real API
server is in tests/integration/bot/test_alert_storm.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aegis.bot.alert_updates import from_webhook
from aegis.bot.alertmanager import WebhookPayload
from aegis.bot.app import incident_service
from aegis.bot.authz import Authorizer
from aegis.bot.demo.memory_chat import MemoryChatClient
from aegis.core.config import Settings
from aegis.core.incidents.service import IncidentService
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import IncidentState
from aegis.core.objects.owners import owner_candidates, replicaset_of_pod_name
from aegis.core.store import open_store
from aegis.core.store.base import IncidentStore
from tests.incidents import EXAMPLES

CHANNEL = "C0ALERTS"
RS = "checkout-7d9f8b6c5d"


def notification(status: str, *alerts: tuple[str, str, str], group: str = "g") -> WebhookPayload:
    """One Alertmanager notification; each alert is (alertname, pod, status)."""
    return WebhookPayload.model_validate(
        {
            "version": "4",
            "groupKey": group,
            "status": status,
            "receiver": "aegis",
            "commonLabels": {"namespace": "shop"},
            "alerts": [
                {"status": st, "labels": {"alertname": name, "namespace": "shop", "pod": pod}, "fingerprint": f"{name}/{pod}"} for name, pod, st in alerts
            ],
        }
    )


@dataclass
class Bot:
    service: IncidentService
    store: IncidentStore
    chat: MemoryChatClient

    async def send(self, payload: WebhookPayload) -> None:
        await self.service.handle_alerts(from_webhook(payload))
        await self.service.drain()

    def parents(self) -> list[Any]:
        return [m for m in self.chat.messages(CHANNEL) if m.thread_ts is None]


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    chat = MemoryChatClient()
    store = await open_store(str(tmp_path / "aegis.db"))
    investigator = Investigator(SnapshotGateway.open(EXAMPLES / "crashloop-missing-env" / "snapshot"))
    authorizer = Authorizer(approvers=["U0APPROVER"], approver_groups=[], chat=chat)
    service = incident_service(Settings(), chat=chat, store=store, investigator=investigator, authorizer=authorizer, alert_channel=CHANNEL)
    try:
        yield Bot(service, store, chat)
    finally:
        await service.drain()
        await store.close()


async def test_three_pods_under_two_alert_names_are_one_incident_and_one_thread(bot: Bot) -> None:
    # Three replicas crash loop, each its own Alertmanager group (group_by pod), one of them also under a second name.
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-x2x9k", "firing"), group="g1"))
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-b7v4q", "firing"), group="g2"))
    await bot.send(notification("firing", ("KubeContainerNotReady", f"{RS}-x2x9k", "firing"), ("KubePodCrashLooping", f"{RS}-m8z5w", "firing"), group="g3"))

    (parent,) = bot.parents()
    (incident,) = await bot.store.list_open()
    assert incident.target is not None and (incident.target.kind, incident.target.name) == ("Deployment", "checkout")
    assert {(a.alertname, a.pod) for a in incident.alerts} == {
        ("KubePodCrashLooping", f"{RS}-x2x9k"), ("KubePodCrashLooping", f"{RS}-b7v4q"),
        ("KubeContainerNotReady", f"{RS}-x2x9k"), ("KubePodCrashLooping", f"{RS}-m8z5w"),
    }  # fmt: skip
    # The parent lists the names and the pods; each new one got one reply.
    assert "KubeContainerNotReady" in parent.text or any("KubeContainerNotReady" in str(b) for b in parent.blocks or [])
    for pod in ("x2x9k", "b7v4q", "m8z5w"):
        assert any(pod in str(b) for b in parent.blocks or []), pod
    replies = [m.text for m in bot.chat.thread(CHANNEL, parent.ts) if "new alert" in m.text]
    assert len(replies) == 2 and "b7v4q" in replies[0] and "KubeContainerNotReady" in replies[1] and "m8z5w" in replies[1], replies

    # A repeat of everything posts nothing new.
    before = len(bot.chat.messages(CHANNEL)) + sum(len(bot.chat.thread(CHANNEL, p.ts)) for p in bot.parents())
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-b7v4q", "firing"), group="g2"))
    after = len(bot.chat.messages(CHANNEL)) + sum(len(bot.chat.thread(CHANNEL, p.ts)) for p in bot.parents())
    assert after == before and len(bot.parents()) == 1
    repeated = await bot.store.get(incident.id)
    assert repeated is not None and repeated.repeat_count == 1


async def test_the_incident_resolves_only_when_all_its_alerts_have(bot: Bot) -> None:
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-x2x9k", "firing"), group="g1"))
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-b7v4q", "firing"), group="g2"))
    (incident,) = await bot.store.list_open()

    await bot.send(notification("resolved", ("KubePodCrashLooping", f"{RS}-x2x9k", "resolved"), group="g1"))
    still = await bot.store.get(incident.id)
    assert still is not None and still.state is not IncidentState.RESOLVED
    assert [a.pod for a in still.alerts if a.firing] == [f"{RS}-b7v4q"]
    assert any("1 of 2 resolved" in str(b) for b in bot.parents()[0].blocks or [])

    await bot.send(notification("resolved", ("KubePodCrashLooping", f"{RS}-b7v4q", "resolved"), group="g2"))
    done = await bot.store.get(incident.id)
    assert done is not None and done.state is IncidentState.RESOLVED
    (parent,) = bot.parents()
    assert "RESOLVED" in parent.text


async def test_a_repeat_after_reject_joins_the_closed_thread_and_a_new_alert_after_resolution_opens_one(bot: Bot) -> None:
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-x2x9k", "firing")))
    (incident,) = await bot.store.list_open()
    outcome = await bot.service.reject(incident.id, revision=incident.proposal_revision, user="U0APPROVER", reason="not now")
    assert outcome.refusal is None, outcome
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-x2x9k", "firing")))
    assert len(bot.parents()) == 1
    repeated = await bot.store.get(incident.id)
    assert repeated is not None and repeated.state is IncidentState.REJECTED and repeated.repeat_count == 1

    # A different alert on the same workload after the reject is news: a new thread.
    await bot.send(notification("firing", ("KubePodOOMKilled", f"{RS}-x2x9k", "firing")))
    assert len(bot.parents()) == 2


async def test_a_notification_spanning_two_workloads_is_split(bot: Bot) -> None:
    """group_by [alertname] puts pods of different workloads in one notification: each workload gets its own incident."""
    await bot.send(notification("firing", ("KubePodCrashLooping", f"{RS}-x2x9k", "firing"), ("KubePodCrashLooping", "ledger-0", "firing")))
    incidents = await bot.store.list_open()
    assert sorted(str(i.target) for i in incidents) == ["Deployment/checkout -n shop", "Pod/ledger-0 -n shop"]
    assert len(bot.parents()) == 2
    assert sorted(len(i.alerts) for i in incidents) == [1, 1]


def test_pod_names_lead_to_the_owners_that_could_have_made_them() -> None:
    assert owner_candidates("checkout-7d9f8b6c5d-x2x9k")[0] == ("Deployment", "checkout")
    assert owner_candidates("ledger-0") == [("StatefulSet", "ledger")]
    assert ("DaemonSet", "node-agent") in owner_candidates("node-agent-x7k2p")
    assert replicaset_of_pod_name("checkout-7d9f8b6c5d-x2x9k") == RS
    assert replicaset_of_pod_name("ledger-0") is None
