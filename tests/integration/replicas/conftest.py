"""Two `aegis serve --http` processes on one PostgreSQL store and the real control plane.

Each replica is a real process (so it can be SIGKILLed), with its own replica id, acting through
AEGIS's ServiceAccount, posting to one Slack Web API stand-in, and taking Slack-signed requests over
real HTTP. Short heartbeats, lease and janitor period keep the failover within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from aegis.core.models import Incident
from aegis.core.store import open_store
from aegis.core.store.base import IncidentStore
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, SECRET, block_actions, interaction_body, sign, slash_body
from tests.integration.conftest import Cluster
from tests.integration.store.conftest import postgres_database, postgres_server  # noqa: F401 - fixtures used by the tests here
from tests.slack_standin.server import SlackStandIn

AEGIS = Path(sys.executable).parent / "aegis"
APPROVER = "U0APPROVER"
TIMING = {
    "AEGIS_REPLICA_HEARTBEAT_SECONDS": "1",  # dead after 3 s
    "AEGIS_LEADER_LEASE_SECONDS": "4",
    "AEGIS_SHADOW_JANITOR_INTERVAL_SECONDS": "2",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=_free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(AEGIS), "serve", "--http", "--port", str(self.port), env=self.env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"replica {self.name} exited {self.process.returncode}:\n{self.log.read_text()[-4000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                assert time.monotonic() < deadline, f"replica {self.name} never answered /healthz:\n{self.log.read_text()[-4000:]}"
                await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, no lease release, as a node failure or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def events(self) -> list[dict[str, Any]]:
        """The replica's JSON log events (what it did, and any error it logged)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found


@dataclass
class Pair:
    a: Replica
    b: Replica
    standin: SlackStandIn
    store: IncidentStore
    cluster: Cluster

    async def post(self, replica: Replica, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=replica.url, timeout=30) as http:
            return await http.post(path, content=body, headers=headers)

    async def slash(self, replica: Replica, text: str, user: str = APPROVER) -> httpx.Response:
        body = slash_body(text, user)
        return await self.post(replica, "/slack/events", body, sign(body, int(time.time())))

    def click_body(self, action_id: str, incident: Incident, user: str = APPROVER) -> tuple[bytes, dict[str, str]]:
        value = json.dumps({"incident": incident.id, "rev": incident.proposal_revision}, separators=(",", ":"))
        body = interaction_body(block_actions(action_id, value, user, incident.diagnosis_ts, trigger_id=f"trig-{uuid.uuid4().hex}"))
        return body, sign(body, int(time.time()))

    async def click(self, replica: Replica, action_id: str, incident: Incident, user: str = APPROVER) -> httpx.Response:
        body, headers = self.click_body(action_id, incident, user)
        return await self.post(replica, "/slack/events", body, headers)

    def thread_texts(self, incident: Incident) -> list[str]:
        """Every reply of the incident's thread as it reads now (its latest edit)."""
        out = []
        for m in self.standin.recorder.thread(CHANNEL, incident.thread_ts or ""):
            latest = m.updates[-1] if m.updates else {"text": m.text, "blocks": m.blocks}
            out.append(json.dumps(latest, ensure_ascii=False))
        return out


def replica_env(name: str, standin: SlackStandIn, store_url: str, kubeconfig: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEGIS_", "SLACK_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": standin.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "AEGIS_SLACK_API_URL": standin.url,
            "AEGIS_SLACK_CHANNEL": CHANNEL,
            "AEGIS_ALERTMANAGER_TOKEN": ALERT_TOKEN,
            "AEGIS_APPROVERS": APPROVER,
            "AEGIS_STORE_URL": store_url,
            "AEGIS_KUBECONFIG": str(kubeconfig),
            "AEGIS_REPLICA_ID": name,
            "AEGIS_LOG_FORMAT": "json",
            "AEGIS_ROLLOUT_TIMEOUT_SECONDS": "120",
            "AEGIS_SHADOW_CLEANUP_WAIT_SECONDS": "0",
            "AEGIS_APPLY_WATCH_SECONDS": "0",
            **TIMING,
            **extra,
        }
    )
    return env


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


async def start_pair(cluster: Cluster, store_url: str, tmp_path: Path, extra: dict[str, str]) -> AsyncIterator[Pair]:
    async with SlackStandIn(rate_per_second=None).serve() as standin:
        a = Replica("replica-a", replica_env("replica-a", standin, store_url, cluster.aegis_kubeconfig, extra), tmp_path / "replica-a.log")
        b = Replica("replica-b", replica_env("replica-b", standin, store_url, cluster.aegis_kubeconfig, extra), tmp_path / "replica-b.log")
        store = await open_store(store_url)
        try:
            await asyncio.gather(a.start(), b.start())
            yield Pair(a, b, standin, store, cluster)
        finally:
            await asyncio.gather(a.stop(), b.stop())
            await store.close()


@pytest_asyncio.fixture
async def pair(control_plane: Cluster, postgres_database: str, tmp_path: Path) -> AsyncIterator[Pair]:  # noqa: F811
    # A long settle window keeps a verification running long enough to kill its replica mid-way;
    # Apply does not wait for a shadow pass, so the Apply tests need no verification first.
    async for running in start_pair(control_plane, postgres_database, tmp_path, {"AEGIS_SHADOW_SETTLE_SECONDS": "120", "AEGIS_REQUIRE_SHADOW_PASS": "false"}):
        yield running
