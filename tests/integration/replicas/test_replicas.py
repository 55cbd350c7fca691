"""Two replicas on one PostgreSQL and the real control plane: one thread, one patch, and no incident
stranded by a replica that dies mid-step."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from aegis.bot.render import blocks
from aegis.core.models import Incident, IncidentState
from tests.cluster.controlplane import resource_path
from tests.incidents import EXAMPLES, load_all
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, alert_payload
from tests.integration.examples import deploy_example
from tests.integration.replicas.conftest import Pair
from tests.integration.shadow.test_shadow_live import poll

pytestmark = pytest.mark.integration

EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "quote-api-launch")
S = IncidentState


async def diagnosed(pair: Pair, namespace: str) -> Incident:
    """`/aegis analyze` on replica a until the thread shows a diagnosis with a fix (the example needs a moment to break)."""

    async def attempt() -> Incident | None:
        assert (await pair.slash(pair.a, f"analyze deploy/quote-api -n {namespace}")).status_code == 200

        async def settled() -> Incident | None:
            # Diagnosed counts once the thread shows it (the diagnosis reply is posted right after the transition).
            found = [i for i in await pair.store.list_open() if i.state not in (S.OPEN, S.INVESTIGATING) and (i.diagnosis_ts or i.state is not S.DIAGNOSED)]
            return found[0] if found else None

        incident: Incident = await poll("the analysis to finish", settled, 60)
        if incident.state is S.DIAGNOSED and incident.diagnosis and incident.diagnosis.fix and incident.diagnosis_ts:
            return incident
        seen.append(f"{incident.id} {incident.state.value} {incident.diagnosis.rca.category.value if incident.diagnosis else None} "
                    f"fix={bool(incident.diagnosis and incident.diagnosis.fix)} ts={incident.diagnosis_ts} error={incident.last_error}")
        await pair.store.transition(incident.id, allowed_from={incident.state}, to=S.REJECTED, actor="test", reason="retry")
        return None

    seen: list[str] = []
    try:
        result: Incident = await poll("a diagnosis with a fix", attempt, 120, interval=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; analyses: {seen[-3:]}") from None
    return result


def buttons(pair: Pair, incident: Incident) -> list[str]:
    """The action ids on the diagnosis reply as it reads now."""
    reply = pair.standin.recorder.message(CHANNEL, incident.diagnosis_ts or "")
    latest = reply.updates[-1] if reply.updates else {"blocks": reply.blocks}
    return [e["action_id"] for b in latest["blocks"] or [] if b["type"] == "actions" for e in b["elements"]]


async def _async(value: object) -> object:
    return value


async def state_of(pair: Pair, incident: Incident, want: IncidentState, timeout: float = 90) -> Incident:
    async def reached() -> Incident | None:
        now = await pair.store.get(incident.id)
        return now if now is not None and now.state is want else None

    found: Incident = await poll(f"{incident.id} to be {want.value}", reached, timeout)
    return found


async def test_the_same_notification_to_both_replicas_opens_one_thread(pair: Pair) -> None:
    """Alertmanager's notification reaches both replicas at once: both answer 2xx, one incident, one parent message."""
    headers = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
    for round_ in range(5):  # several races, each a new alert group
        group = f'{{}}:{{alertname="KubePodCrashLooping",round="{round_}"}}'
        payload = alert_payload(group=group)
        payload["alerts"][0]["labels"]["pod"] = f"api{round_}-7d9f8b6c5d-x2x9k"  # a workload of its own: its own incident
        body = json.dumps(payload).encode()
        answers = await asyncio.gather(pair.post(pair.a, "/alertmanager/webhook", body, headers), pair.post(pair.b, "/alertmanager/webhook", body, headers))
        assert [r.status_code // 100 for r in answers] == [2, 2], [(r.status_code, r.text) for r in answers]

    async def five_parents() -> bool:
        return len([m for m in pair.standin.recorder.messages(CHANNEL) if m.thread_ts is None]) >= 5

    await poll("five parents", five_parents, 30)
    await asyncio.sleep(2)  # a sixth (a second thread for one group) would have been posted by now
    parents = [m for m in pair.standin.recorder.messages(CHANNEL) if m.thread_ts is None]
    assert len(parents) == 5, [p.text for p in parents]
    incidents = await pair.store.list_open()
    assert len(incidents) == 5 and len({i.group_key for i in incidents}) == 5
    errors = [e for r in (pair.a, pair.b) for e in r.events() if e.get("level") == "error"]
    assert not errors, errors


async def test_the_same_apply_click_on_both_replicas_patches_once(pair: Pair) -> None:
    """One signed Apply click delivered to both replicas: the workload is patched once, one Apply is audited ok."""
    target = await asyncio.to_thread(deploy_example, pair.cluster, EXAMPLE)
    incident = await diagnosed(pair, target.namespace)
    generation = pair.cluster.deployment(target.namespace, target.name)["metadata"]["generation"]
    body, headers = pair.click_body(blocks.ACTION_APPLY, incident)
    answers = await asyncio.gather(pair.post(pair.a, "/slack/events", body, headers), pair.post(pair.b, "/slack/events", body, headers))
    assert [r.status_code for r in answers] == [200, 200]
    await state_of(pair, incident, S.APPLIED, timeout=120)
    await asyncio.sleep(1)
    assert pair.cluster.deployment(target.namespace, target.name)["metadata"]["generation"] == generation + 1, "the click patched twice"
    audit = await pair.store.audit(incident.id)
    assert len([a for a in audit if a.action == "apply" and a.outcome == "ok"]) == 1
    assert len([a for a in audit if a.action == "apply" and a.outcome == "noop"]) == 1, [(a.actor, a.action, a.outcome) for a in audit]


async def test_a_replica_killed_mid_verification_leaves_no_shadow_and_says_so(pair: Pair) -> None:
    """SIGKILL of the replica running a shadow verification: within the janitor period the other replica deletes
    the shadow, the incident is back to diagnosed with Verify offered, and the thread says what happened."""
    target = await asyncio.to_thread(deploy_example, pair.cluster, EXAMPLE)
    incident = await diagnosed(pair, target.namespace)
    assert (await pair.click(pair.a, blocks.ACTION_VERIFY, incident)).status_code == 200
    selector = f"aegis.dev/incident={incident.id}"

    async def shadow_exists() -> list[str]:
        found = pair.cluster.api.get("/api/v1/namespaces", params={"labelSelector": selector})["items"]
        return [n["metadata"]["name"] for n in found if n["status"].get("phase") == "Active"]

    shadows = await poll("the shadow namespace", shadow_exists, 30)
    verifying = await pair.store.get(incident.id)
    assert verifying is not None and verifying.state is S.VERIFYING and verifying.worker == "replica-a"
    await pair.a.kill()
    killed = time.monotonic()

    back = await state_of(pair, incident, S.DIAGNOSED, timeout=30)
    assert back.worker is None

    async def shadows_gone() -> bool:
        items = pair.cluster.api.get("/api/v1/namespaces", params={"labelSelector": selector})["items"]
        return all(n["status"].get("phase") == "Terminating" for n in items)

    await poll("the shadow namespaces to be deleted", shadows_gone, 30)
    # Dead after 3 missed heartbeats (3 s), the lease (4 s) if replica a led, then one janitor period (2 s).
    assert time.monotonic() - killed < 20, f"recovered {time.monotonic() - killed:.0f}s after the kill"

    async def said_interrupted() -> bool:
        return any("verification was interrupted" in t for t in pair.thread_texts(back))

    await poll("the thread to say the verification was interrupted", said_interrupted, 15)
    assert any(shadows[0] in t for t in pair.thread_texts(back)), "the note names the deleted shadow namespace"
    await poll("Verify offered again on the diagnosis", lambda: _async(blocks.ACTION_VERIFY in buttons(pair, back)), 15)
    audit = [(a.action, a.outcome) for a in await pair.store.audit(incident.id)]
    assert ("verify", "interrupted") in audit


async def test_a_replica_killed_during_the_rollout_watch_ends_applied_and_rolls_back(pair: Pair) -> None:
    """SIGKILL after the patch landed, while the rollout is watched: after the restart the thread shows Applied
    (the write-ahead record matched the workload), and Roll back restores the pod template exactly."""
    target = await asyncio.to_thread(deploy_example, pair.cluster, EXAMPLE)
    # A rollout that takes 30 s to count as available keeps the watch open long enough to kill it.
    pair.cluster.api.patch(resource_path("Deployment", target.namespace, target.name), {"spec": {"minReadySeconds": 30}}, kind="merge")
    incident = await diagnosed(pair, target.namespace)
    before = pair.cluster.deployment(target.namespace, target.name)
    assert (await pair.click(pair.a, blocks.ACTION_APPLY, incident)).status_code == 200

    async def patched() -> bool:
        return bool(pair.cluster.deployment(target.namespace, target.name)["metadata"]["generation"] > before["metadata"]["generation"])

    await poll("the patch to land", patched, 60, interval=0.1)
    applying = await pair.store.get(incident.id)
    assert applying is not None and applying.state is S.APPLYING, "the rollout watch ended before the kill"
    await pair.a.kill()
    await pair.a.start()  # the same replica id: it recovers its own incident at start-up (or replica b got there first)

    applied = await state_of(pair, incident, S.APPLIED, timeout=30)
    assert any("Apply was interrupted" in t and "the patch had landed" in t for t in pair.thread_texts(applied))
    await poll("only Roll back offered on the diagnosis", lambda: _async(buttons(pair, applied) == [blocks.ACTION_ROLLBACK]), 15)

    assert (await pair.click(pair.a, blocks.ACTION_ROLLBACK, applied)).status_code == 200
    await state_of(pair, incident, S.ROLLED_BACK, timeout=60)
    restored = pair.cluster.deployment(target.namespace, target.name)
    assert json.dumps(restored["spec"]["template"], sort_keys=True) == json.dumps(before["spec"]["template"], sort_keys=True)
