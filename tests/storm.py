"""The alert storm: 1,000 alerts over about 60 s about 50 broken workloads, as Alertmanager notifications
to a running `aegis serve`, and the figures the person on call would check afterwards.

Shared by tests/integration/bot/test_alert_storm.py (which asserts them) and bench/bot.py (which prints
them), so the benchmark and the test measure the same storm.

The bot diagnoses a snapshot of 50 Deployments, each a copy of the crashloop-missing-env example under
its own name. Each workload has 20 alerts (5 pods x 2 alert names x 2 containers). Alertmanager sends a
group's whole alert list each time, so a workload's four notifications, 7 s apart, carry 5, 10, 15 and
20 alerts; workloads start 0.8 s apart. Pods other than the snapshot's one are gone (as crash-looping
replicas replaced by their ReplicaSet are): AEGIS must find their owner by name.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.slack_standin.server import SlackStandIn

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "incidents" / "crashloop-missing-env" / "snapshot"
NAMESPACE = "shop"
ALERTNAMES = ("KubePodCrashLooping", "KubePodNotReady")
CONTAINERS = ("app", "proxy")
POD_SUFFIXES = ("x2x9k", "b7v4q", "m8z5w", "q4t6r", "h6n2c")  # x2x9k is the one pod each snapshot copy holds
_UID = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{10})[0-9a-f]{2}\b")


@dataclass(frozen=True)
class Storm:
    workloads: int = 50
    waves: int = 4  # notifications per workload, each carrying the group's alerts so far
    wave_gap: float = 7.0
    stagger: float = 0.8  # between successive workloads' first notifications

    @property
    def alerts_per_workload(self) -> int:
        return len(POD_SUFFIXES) * len(ALERTNAMES) * len(CONTAINERS)

    @property
    def total_alerts(self) -> int:
        return self.workloads * self.alerts_per_workload

    @staticmethod
    def workload(w: int) -> str:
        return f"checkout{w:02d}"

    def alerts(self, w: int) -> list[dict[str, Any]]:
        """Workload w's alerts in the order they start firing: pod by pod."""
        name = self.workload(w)
        return [
            {
                "status": "firing",
                "labels": {"alertname": alertname, "namespace": NAMESPACE, "pod": f"{name}-7d9f8b6c5d-{suffix}", "container": container},
                "annotations": {"summary": f"{alertname} on {name}"},
                "startsAt": "2026-12-05T09:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"{w:04x}{p:02x}{a:02x}{c:02x}",
            }
            for p, suffix in enumerate(POD_SUFFIXES)
            for a, alertname in enumerate(ALERTNAMES)
            for c, container in enumerate(CONTAINERS)
        ]

    def notification(self, w: int, wave: int) -> dict[str, Any]:
        alerts = self.alerts(w)[: self.alerts_per_workload * (wave + 1) // self.waves]
        name = self.workload(w)
        return {
            "version": "4",
            "groupKey": f'{{}}:{{namespace="{NAMESPACE}", workload="{name}"}}',
            "status": "firing",
            "receiver": "aegis",
            "truncatedAlerts": 0,
            "groupLabels": {"namespace": NAMESPACE, "workload": name},
            "commonLabels": {"namespace": NAMESPACE, "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }

    def schedule(self) -> Iterator[tuple[float, int, int]]:
        """(seconds after the start, workload, wave) of every notification."""
        for w in range(self.workloads):
            for wave in range(self.waves):
                yield w * self.stagger + wave * self.wave_gap, w, wave


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def storm_snapshot(dest: Path, workloads: int) -> Path:
    """A snapshot holding `workloads` copies of the example's workload, each under its own name."""
    dest.mkdir(parents=True, exist_ok=True)
    text = (EXAMPLE / "objects.yaml").read_text()
    docs = [d for d in re.split(r"^---\s*$", text, flags=re.M) if d.strip()]
    shared = [d for d in docs if "checkout" not in d]  # the Node: one for all
    own = [d for d in docs if "checkout" in d]
    copies = [_UID.sub(lambda m, w=w: f"{m.group(1)}{w:02x}", d.replace("checkout", Storm.workload(w))) for w in range(workloads) for d in own]
    (dest / "objects.yaml").write_text("\n---\n".join(d.strip("\n") for d in shared + copies) + "\n")
    meta = yaml.safe_load((EXAMPLE / "snapshot.yaml").read_text())
    meta["target"]["name"] = Storm.workload(0)
    (dest / "snapshot.yaml").write_text(yaml.safe_dump(meta))
    for log in (EXAMPLE / "logs").rglob("*.log"):
        relative = str(log.relative_to(EXAMPLE))
        for w in range(workloads):
            copy = dest / relative.replace("checkout", Storm.workload(w))
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(log.read_text().replace("checkout", Storm.workload(w)))
    return dest


@dataclass
class Sent:
    started: float = 0.0  # time.monotonic(), the clock the Slack stand-in records with
    first_alert: dict[str, float] = field(default_factory=dict)  # workload -> when its first notification went
    refused: list[tuple[int, str]] = field(default_factory=list)


async def send_storm(http: httpx.AsyncClient, storm: Storm, token: str) -> Sent:
    """Post every notification at its time; all of them concurrently in flight, as Alertmanager's would be."""
    sent = Sent(started=time.monotonic())
    headers = {"Authorization": f"Bearer {token}"}

    async def one(at: float, w: int, wave: int) -> None:
        await asyncio.sleep(max(0.0, sent.started + at - time.monotonic()))
        sent.first_alert.setdefault(storm.workload(w), time.monotonic())
        response = await http.post("/alertmanager/webhook", json=storm.notification(w, wave), headers=headers)
        if response.status_code // 100 != 2:
            sent.refused.append((response.status_code, response.text[:200]))

    await asyncio.gather(*(one(at, w, wave) for at, w, wave in storm.schedule()))
    return sent


async def until_done(stand: SlackStandIn, channel: str, store: Path, storm: Storm, *, quiet: float = 6.0, limit: float = 420.0) -> None:
    """Until every workload's diagnosis is in its thread and the bot made no call for the channel for `quiet` seconds."""
    deadline = time.monotonic() + limit
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        calls = len([r for r in stand.recorder.requests if r.body.get("channel") == channel])
        if calls != seen:
            seen, since = calls, time.monotonic()
        elif time.monotonic() - since >= quiet and len([i for i in read_incidents(store) if i["diagnosis_ts"]]) >= storm.workloads:
            return
        await asyncio.sleep(0.5)


def read_incidents(store: Path) -> list[dict[str, Any]]:
    """The alert incidents as the bot stored them (its SQLite file, read-only)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT id, target, alerts, thread_ts, diagnosis_ts, state FROM incidents WHERE source = 'alertmanager'").fetchall()
    return [{**dict(r), "target": json.loads(r["target"] or "null"), "alerts": json.loads(r["alerts"] or "[]")} for r in rows]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def busiest_window(stand: SlackStandIn, channel: str, method: str = "chat.postMessage", window: float = 10.0) -> int:
    """The most accepted `method` calls for `channel` within any `window` seconds (a half-open interval)."""
    stamps = sorted(r.at for r in stand.recorder.requests if r.method == method and r.body.get("channel") == channel and r.status == 200)
    best, start = 0, 0
    for end, t in enumerate(stamps):
        while t - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass(frozen=True)
class Figures:
    sent: int
    refused: int
    incidents: int
    parents: int
    recorded: int  # alerts found on their workload's incident, each exactly where it belongs
    misplaced: list[str]  # workloads whose incident lacks an alert sent about it, or holds a stranger's
    posts: int
    busiest_10s: int
    peak_rss_mib: float
    diagnosis_after: dict[str, float]  # workload -> seconds from its first alert to its diagnosis in the thread
    undiagnosed: list[str]
    finished_after: float  # the channel's last call, seconds after the first alert

    def lines(self, channel: str) -> list[str]:
        worst = max(self.diagnosis_after.values(), default=float("nan"))
        return [
            f"{self.sent} alerts about {self.incidents} workloads sent ({self.refused} notifications refused)",
            f"incidents {self.incidents}, parent messages {self.parents}; "
            f"alerts on their incident {self.recorded} of {self.sent} (lost or misplaced: {self.sent - self.recorded})",
            f"diagnosis in its thread after the first alert: worst {worst:.0f} s (goal <= 150 s: {worst / 150:.2f}x); not diagnosed: {len(self.undiagnosed)}",
            f"{channel}: {self.posts} chat.postMessage, busiest 10 s window {self.busiest_10s} (goal <= 10: {self.busiest_10s / 10:.2f}x), "
            f"done after {self.finished_after:.0f} s",
            f"bot peak RSS {self.peak_rss_mib:.0f} MiB (goal < 300 MiB: {self.peak_rss_mib / 300:.2f}x)",
        ]


def figures(stand: SlackStandIn, channel: str, store: Path, storm: Storm, sent: Sent, rss_mib: float) -> Figures:
    incidents = read_incidents(store)
    by_workload = {i["target"]["name"]: i for i in incidents if i["target"]}
    recorded, misplaced = 0, []
    for w in range(storm.workloads):
        name = storm.workload(w)
        want = {a["fingerprint"] for a in storm.alerts(w)}
        have = {a["fingerprint"] for a in by_workload.get(name, {}).get("alerts", [])}
        recorded += len(want & have)
        if want != have:
            misplaced.append(name)
    posted_at = {r.ts: r.at for r in stand.recorder.requests if r.method == "chat.postMessage" and r.status == 200 and r.ts}
    after, undiagnosed = {}, []
    for name, first in sent.first_alert.items():
        incident = by_workload.get(name)
        at = posted_at.get(incident["diagnosis_ts"]) if incident and incident["diagnosis_ts"] else None
        if at is None:
            undiagnosed.append(name)
        else:
            after[name] = at - first
    calls = [r.at for r in stand.recorder.requests if r.body.get("channel") == channel]
    return Figures(
        sent=storm.total_alerts,
        refused=len(sent.refused),
        incidents=len(incidents),
        parents=len([m for m in stand.recorder.messages(channel) if m.thread_ts is None]),
        recorded=recorded,
        misplaced=misplaced,
        posts=len([r for r in stand.recorder.requests if r.method == "chat.postMessage" and r.body.get("channel") == channel]),
        busiest_10s=busiest_window(stand, channel),
        peak_rss_mib=rss_mib,
        diagnosis_after=after,
        undiagnosed=sorted(undiagnosed),
        finished_after=max(calls, default=sent.started) - sent.started,
    )
