"""Silence from the thread against the real Alertmanager, through a real `aegis serve --http`.

Debian's Alertmanager binary (configured from deploy/docker/alertmanager.yml, as the alert-chain test does) holds
alerts pushed to its v2 API and notifies AEGIS's webhook with its bearer token; `aegis serve --http` runs as its own
process on the crashloop-missing-env snapshot (Deployment shop/checkout) and posts to the Slack stand-in; clicks
arrive as Slack signs them. The checkout incident has a pod alert and a stuck-rollout alert (no pod label); a
neighbour Deployment (payments) fires the same two alert names. What a person would check:

- someone neither approver nor silencer is refused privately, and Alertmanager holds no silence;
- Silence 1 h makes one silence whose matchers, createdBy and comment are right, Alertmanager then reports
  checkout's alerts suppressed by it and the neighbour's still active, and the parent says "Silenced until";
- Unsilence expires it, the alerts are active again and the parent offers Silence again;
- I'm on it puts the owner on the parent;
- with Alertmanager stopped, a Silence click is answered with why and what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aegis.bot.render import blocks
from tests.incidents import EXAMPLES
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, SECRET, block_actions, interaction_body, sign
from tests.integration.observability.alertmanager import alertmanager, config_for_test
from tests.integration.observability.prometheus import free_port, poll
from tests.slack_standin.server import Message, SlackStandIn

pytestmark = pytest.mark.integration

AEGIS = Path(sys.executable).parent / "aegis"
SNAPSHOT = EXAMPLES / "crashloop-missing-env" / "snapshot"
APPROVER = "U0APPROVER"
SILENCER = "U0SILENCER"
STRANGER = "U0STRANGER"
OWNER = "U0BOB"
WORKSPACE = "https://acme.slack.com"
CHECKOUT_POD = "checkout-7d9f8b6c5d-x2x9k"
PAYMENTS_POD = "payments-6f7b9c8d5f-q4t6r"


def alerts_to_push() -> list[dict[str, Any]]:
    """Two alerts about checkout (one per pod, one about the Deployment) and the same two names about payments; firing for an hour."""
    ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    annotations = {"summary": "Pod is crash looping.", "runbook_url": "https://runbooks.example.com/KubePodCrashLooping"}
    crash = "KubePodCrashLooping"
    stuck = "KubeDeploymentRolloutStuck"
    return [
        {"labels": {"alertname": crash, "namespace": "shop", "pod": CHECKOUT_POD, "severity": "critical"}, "annotations": annotations, "endsAt": ends,
         "generatorURL": "http://prometheus.example:9090/graph?g0.expr=kube_pod_container_status_waiting_reason"},
        {"labels": {"alertname": stuck, "namespace": "shop", "deployment": "checkout", "severity": "warning"}, "annotations": {}, "endsAt": ends},
        {"labels": {"alertname": crash, "namespace": "shop", "pod": PAYMENTS_POD, "severity": "critical"}, "annotations": annotations, "endsAt": ends},
        {"labels": {"alertname": stuck, "namespace": "shop", "deployment": "payments", "severity": "warning"}, "annotations": {}, "endsAt": ends},
    ]  # fmt: skip


@dataclass
class Live:
    standin: SlackStandIn
    aegis_url: str
    am_url: str
    http: httpx.AsyncClient

    async def click(self, action_id: str, parent: Message, user: str, name: str = "") -> None:
        value = next(e["value"] for b in latest(parent)["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id)
        payload = block_actions(action_id, value, user, parent.ts, trigger_id=f"trig-{time.monotonic_ns()}")
        payload["user"] = {"id": user, "username": name, "name": name, "team_id": "T1"} if name else {"id": user}
        body = interaction_body(payload)
        response = await self.http.post(f"{self.aegis_url}/slack/events", content=body, headers=sign(body, int(time.time())))
        assert response.status_code == 200, response.text

    async def silences(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.am_url}/api/v2/silences")
        response.raise_for_status()
        return list(response.json())

    async def alert_states(self) -> dict[tuple[str, str], tuple[str, list[str]]]:
        """(alertname, pod or deployment) -> (Alertmanager's state for it, the silences suppressing it)."""
        response = await self.http.get(f"{self.am_url}/api/v2/alerts")
        response.raise_for_status()
        out = {}
        for alert in response.json():
            labels = alert["labels"]
            key = (labels["alertname"], labels.get("pod") or labels.get("deployment", ""))
            out[key] = (alert["status"]["state"], list(alert["status"]["silencedBy"]))
        return out

    def parent_of(self, workload: str) -> Message | None:
        return next((m for m in self.standin.recorder.messages(CHANNEL) if m.thread_ts is None and f"deployment {workload}" in json.dumps(latest(m))), None)

    def ephemerals_to(self, user: str) -> list[str]:
        return [e["text"] for e in self.standin.recorder.ephemerals if e["user"] == user]


def latest(message: Message) -> dict[str, Any]:
    return dict(message.updates[-1]) if message.updates else {"text": message.text, "blocks": message.blocks or []}


def buttons(message: Message) -> list[str]:
    return [e["action_id"] for b in latest(message)["blocks"] if b["type"] == "actions" for e in b["elements"]]


def shown(message: Message) -> str:
    return json.dumps(latest(message), ensure_ascii=False)


@contextlib.asynccontextmanager
async def aegis_serve(tmp_path: Path, standin: SlackStandIn, port: int, am_url: str) -> AsyncIterator[str]:
    """`aegis serve --http` as its own process, as an operator runs it (the snapshot stands in for the cluster)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEGIS_", "SLACK_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "AEGIS_SLACK_API_URL": standin.url,
            "AEGIS_SLACK_CHANNEL": CHANNEL,
            "AEGIS_SLACK_WORKSPACE_URL": WORKSPACE,
            "AEGIS_ALERTMANAGER_TOKEN": ALERT_TOKEN,
            "AEGIS_ALERTMANAGER_URL": am_url,
            "AEGIS_APPROVERS": APPROVER,
            "AEGIS_SILENCERS": SILENCER,
            "AEGIS_STORE_URL": str(tmp_path / "aegis.db"),
            "AEGIS_LOG_FORMAT": "json",
        }
    )
    log = tmp_path / "aegis.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(AEGIS), "serve", "--http", "--port", str(port), "--snapshot", str(SNAPSHOT), env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def healthy() -> bool:
                assert process.returncode is None, f"aegis serve exited {process.returncode}:\n{log.read_text()[-3000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get(f"{url}/healthz")).status_code == 200
                return False

            await poll("aegis serve /healthz", healthy, timeout=30)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()
        secrets = (SECRET, ALERT_TOKEN, standin.token)
        assert not [s for s in secrets if s in log.read_text()], "a secret reached AEGIS's log"


async def test_silence_unsilence_and_ack_from_the_thread_against_real_alertmanager(tmp_path: Path) -> None:
    """The whole story of the module docstring, on the real Alertmanager and a real `aegis serve`."""
    token_file = tmp_path / "am-token"
    token_file.write_text(ALERT_TOKEN)
    aegis_port = free_port()
    config = config_for_test(f"http://127.0.0.1:{aegis_port}/alertmanager/webhook", token_file)
    async with SlackStandIn(rate_per_second=None).serve() as standin, httpx.AsyncClient(timeout=10) as http:
        am_dir = tmp_path / "am"
        am_dir.mkdir()
        async with contextlib.AsyncExitStack() as running_alertmanager:
            am_url = "http://" + await running_alertmanager.enter_async_context(alertmanager(am_dir, config))
            async with aegis_serve(tmp_path, standin, aegis_port, am_url) as aegis_url:
                live = Live(standin, aegis_url, am_url, http)
                (await http.post(f"{am_url}/api/v2/alerts", json=alerts_to_push())).raise_for_status()

                async def checkout_incident_with_both_alerts() -> Message | None:
                    parent = live.parent_of("checkout")
                    text = shown(parent) if parent else ""
                    both = "KubeDeploymentRolloutStuck" in text and "KubePodCrashLooping" in text and blocks.ACTION_SILENCE[1] in text
                    return parent if both and "DIAGNOSED" in text else None

                parent = await poll("checkout's thread, diagnosed, listing both alerts", checkout_incident_with_both_alerts, timeout=60)
                # The neighbour's thread opens on its own schedule: under load its parent may come after checkout's diagnosis.
                await poll("the neighbour's alerts opening their own thread", lambda: now(live.parent_of("payments")), timeout=60)
                assert buttons(parent) == [blocks.ACTION_ACK, *blocks.ACTION_SILENCE.values()]
                assert "<https://runbooks.example.com/KubePodCrashLooping|📕 Runbook>" in shown(parent)
                assert "prometheus.example:9090/graph" in shown(parent), "the alert's generatorURL is a link on the parent"

                # Neither approver nor silencer: refused privately, nothing reaches Alertmanager.
                await live.click(blocks.ACTION_SILENCE[1], parent, STRANGER)
                refusal = await poll("the stranger's refusal", lambda: now(live.ephemerals_to(STRANGER)))
                assert "AEGIS_SILENCERS" in refusal[0] and "Nothing changed" in refusal[0]
                assert [e["thread_ts"] for e in standin.recorder.ephemerals if e["user"] == STRANGER] == [parent.ts], "shown in the parent's thread"
                assert await live.silences() == []

                # Silence 1 h by an approver.
                await live.click(blocks.ACTION_SILENCE[1], parent, APPROVER, name="alice")

                async def one_active() -> list[dict[str, Any]]:
                    return [s for s in await live.silences() if s["status"]["state"] == "active"]

                (silence,) = await poll("a silence in Alertmanager", one_active)
                matchers = {m["name"]: (m["value"], m["isRegex"], m["isEqual"]) for m in silence["matchers"]}
                assert matchers["namespace"] == ("shop", False, True)
                assert matchers["alertname"] == ("KubeDeploymentRolloutStuck|KubePodCrashLooping", True, True)
                assert CHECKOUT_POD in matchers["pod"][0] and matchers["pod"][1] and matchers["deployment"] == ("checkout|", True, True)
                assert silence["createdBy"] == f"alice ({APPROVER})"
                assert f"{WORKSPACE}/archives/{CHANNEL}/p{parent.ts.replace('.', '')}" in silence["comment"]
                lasts = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00")) - datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
                assert timedelta(minutes=59) < lasts <= timedelta(hours=1, seconds=1)

                async def checkout_suppressed() -> dict[tuple[str, str], tuple[str, list[str]]] | None:
                    states = await live.alert_states()
                    ours = [states.get(("KubePodCrashLooping", CHECKOUT_POD)), states.get(("KubeDeploymentRolloutStuck", "checkout"))]
                    return states if all(s == ("suppressed", [silence["id"]]) for s in ours) else None

                states = await poll("checkout's alerts suppressed by the silence", checkout_suppressed)
                assert states[("KubePodCrashLooping", PAYMENTS_POD)] == ("active", []), "the neighbour's pod alert is not silenced"
                assert states[("KubeDeploymentRolloutStuck", "payments")] == ("active", []), "the neighbour's rollout alert is not silenced"

                until = await poll("the parent saying silenced until", lambda: now("Silenced until <!date^" in shown(parent)))
                assert until and f"by <@{APPROVER}>" in shown(parent) and f"#/silences/{silence['id']}|" in shown(parent)
                assert buttons(parent) == [blocks.ACTION_ACK, blocks.ACTION_UNSILENCE]
                replies = await poll(
                    "the silence noted in the thread", lambda: now([m.text for m in standin.recorder.thread(CHANNEL, parent.ts) if "silenced" in m.text])
                )
                assert f"<@{APPROVER}>" in replies[0]

                # Unsilence by a silencer: expired in Alertmanager, alerts active again, Silence offered again.
                await live.click(blocks.ACTION_UNSILENCE, parent, SILENCER)

                async def expired() -> bool:
                    return all(s["status"]["state"] == "expired" for s in await live.silences())

                await poll("the silence expired in Alertmanager", expired)

                async def checkout_active() -> bool:
                    states = await live.alert_states()
                    return states.get(("KubePodCrashLooping", CHECKOUT_POD)) == ("active", [])

                await poll("checkout's alerts active again", checkout_active)
                await poll("the parent offering Silence again", lambda: now(buttons(parent) == [blocks.ACTION_ACK, *blocks.ACTION_SILENCE.values()]))
                assert "Silenced until" not in shown(parent)

                # I'm on it: the owner is on the parent.
                await live.click(blocks.ACTION_ACK, parent, OWNER)
                await poll("the owner on the parent", lambda: now(f"Owner: <@{OWNER}>" in shown(parent)))

                # Alertmanager stopped, AEGIS still running: a Silence click is answered with why and what to check.
                await running_alertmanager.aclose()
                await live.click(blocks.ACTION_SILENCE[4], parent, APPROVER)
                answer = await poll("the answer to a click with Alertmanager down", lambda: now([t for t in live.ephemerals_to(APPROVER) if "Could not" in t]))
                assert "unreachable" in answer[0] and "AEGIS_ALERTMANAGER_URL" in answer[0] and am_url in answer[0], answer[0]
                assert "Silenced until" not in shown(parent)


async def now(value: Any) -> Any:
    """A value already known, as the awaitable `poll` wants (the stand-in's records are read in this process)."""
    return value
