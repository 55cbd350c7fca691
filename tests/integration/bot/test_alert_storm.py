"""The alert storm, end to end over real HTTP: 1,000 alerts in 60 s about 50 broken workloads.

`aegis serve --http` runs as its own process, as a team would start it, on a snapshot of 50 crash-looping
Deployments; Alertmanager-shaped notifications reach its webhook, and its Slack calls reach the Slack
Web API stand-in, which paces each channel as Slack does. What the on-call would check afterwards:
one thread per workload, every alert on its workload's incident, Slack's pace kept, the bot's memory,
and each diagnosis in its thread soon after the workload's first alert.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.slack_standin.server import SlackStandIn
from tests.storm import Storm, figures, free_port, peak_rss_mib, send_storm, storm_snapshot, until_done

pytestmark = pytest.mark.integration

SECRET = "storm-signing-secret"
ALERT_TOKEN = "storm-alert-token"
CHANNEL = "C0STORM"


async def test_a_thousand_alerts_open_fifty_threads_and_lose_none(tmp_path: Path) -> None:
    storm = Storm()
    snapshot = storm_snapshot(tmp_path / "snapshot", storm.workloads)
    store = tmp_path / "aegis.db"
    async with SlackStandIn(channels={CHANNEL}).serve() as stand:
        env = {**os.environ, "SLACK_BOT_TOKEN": stand.token, "SLACK_SIGNING_SECRET": SECRET, "AEGIS_SLACK_API_URL": stand.url,
               "AEGIS_SLACK_CHANNEL": CHANNEL, "AEGIS_ALERTMANAGER_TOKEN": ALERT_TOKEN, "AEGIS_STORE_URL": str(store),
               "AEGIS_LOG_LEVEL": "warning"}  # fmt: skip
        aegis = Path(sys.executable).parent / "aegis"
        port = free_port()
        bot = await asyncio.create_subprocess_exec(str(aegis), "serve", "--http", "--port", str(port), "--snapshot", str(snapshot), env=env, cwd=tmp_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=200)) as http:
                await until_healthy(http, bot)
                sent = await send_storm(http, storm, ALERT_TOKEN)
            await until_done(stand, CHANNEL, store, storm)
            rss = peak_rss_mib(bot.pid)
        finally:
            bot.terminate()
            await bot.wait()
        result = figures(stand, CHANNEL, store, storm, sent, rss)
        report = "\n".join(result.lines(CHANNEL))

    assert bot.returncode == 0, f"the bot did not stop cleanly on SIGTERM (exit {bot.returncode})\n{report}"
    assert result.refused == 0, f"{sent.refused[:3]}\n{report}"
    assert result.incidents == storm.workloads and result.parents == storm.workloads, report
    assert result.recorded == storm.total_alerts and not result.misplaced, f"{result.misplaced[:5]}\n{report}"
    assert result.busiest_10s <= 10, report
    assert result.peak_rss_mib < 300, report
    assert not result.undiagnosed, f"{result.undiagnosed[:5]}\n{report}"
    assert max(result.diagnosis_after.values()) <= 150, report


async def until_healthy(http: httpx.AsyncClient, bot: asyncio.subprocess.Process, limit: float = 30.0) -> None:
    for _ in range(int(limit / 0.1)):
        if bot.returncode is not None:
            raise AssertionError(f"aegis serve exited before it listened (exit {bot.returncode})")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"aegis serve did not answer /healthz within {limit:.0f} s")
