"""`aegis demo --live`: the whole incident story on a real control plane, told in the terminal.

It starts the test control plane (tests/cluster/controlplane.py: kube-apiserver, etcd,
controller-manager, scheduler, KWOK; binaries from `make cluster`), deploys an example incident's
manifest so the workload really breaks, and then drives the product's own IncidentService, the
code `aegis serve` runs behind Slack: `/aegis analyze`, **Verify in shadow**, **Apply fix**. AEGIS
works through its least-privilege ServiceAccount. Only Slack is replaced: every message the
thread would show is printed as it is posted or edited, and its Block Kit JSON is written to the
output directory (paste it into Block Kit Builder to see it as Slack would).

The harness runs as a subprocess, so the product never imports test code; it needs a source
checkout (`examples/` and `tests/cluster/`), like `aegis demo`.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from aegis.bot import messages
from aegis.bot.app import incident_service
from aegis.bot.authz import Authorizer
from aegis.bot.demo.memory_chat import MemoryChatClient
from aegis.bot.observability import Observability
from aegis.bot.render.plaintext import message_lines
from aegis.bot.slack_client import Blocks, MessageRef
from aegis.core import config, wiring
from aegis.core.errors import AegisError, UsageError
from aegis.core.incidents.view import ActionOutcome
from aegis.core.kube.gateway import KubeGateway
from aegis.core.kube.live import LiveGateway
from aegis.core.models import Incident, IncidentState, ObjectRef
from aegis.core.objects import kinds
from aegis.core.shadow.manager import ShadowManager, ShadowPolicy
from aegis.core.store import open_store
from aegis.core.store.base import IncidentStore

DEMO_USER = "U0DEMOSRE"
DEMO_CHANNEL = "C0INCIDENTS"
# The verification plan's own settle window (30-60 s) is right for production; the demo shows the
# same checks over a shorter window unless AEGIS_SHADOW_SETTLE_SECONDS says otherwise.
DEMO_WATCH_SECONDS = 15.0
DEMO_SETTLE_SECONDS = 10.0
READY_TIMEOUT = 150.0
BREAK_TIMEOUT = 90.0
T = TypeVar("T")


class DemoError(AegisError):
    """The live demo could not run its story; the message says where it stopped."""

    exit_code = 1


@dataclass(frozen=True)
class LiveCluster:
    """The running control plane: where it lives and the two identities the demo uses."""

    directory: Path
    admin_kubeconfig: Path  # the demo's "kubectl" (deploys the broken app)
    aegis_kubeconfig: Path  # AEGIS's ServiceAccount, bound to deploy/rbac/clusterrole.yaml
    kubectl: Path
    ready_line: str


class Transcript(MemoryChatClient):
    """The ChatClient seam kept in memory (as the tests' fake does), printing each message as Slack would show it
    and writing its Block Kit JSON to `out_dir` as it happens."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.written: list[Path] = []
        self._shown: dict[str, list[str]] = {}

    def _write(self, kind: str, payload: Mapping[str, Any]) -> None:
        path = self.out_dir / f"{len(self.written) + 1:02d}-{kind}.json"
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.written.append(path)

    def _show(self, heading: str, text: str, blocks: Blocks | None, ts: str | None = None) -> None:
        lines = message_lines(text, [dict(b) for b in blocks] if blocks else None)
        shown = lines
        if ts is not None and ts in self._shown:
            # An edit: the lines that changed, as a diff, rather than the whole message again.
            shown = [d for d in difflib.ndiff(self._shown[ts], lines) if d[:1] in "+-"]
            shown = [f"{d[0]} {d[2:]}" for d in shown] or ["(no visible change)"]
        if ts is not None:
            self._shown[ts] = lines
        print(f"\n  ┌─ {heading}")
        for line in shown:
            print(f"  │ {line}")
        print("  └─", flush=True)

    def _where(self, channel: str, ts: str) -> str:
        message = next((m for m in self.messages(channel) if m.ts == ts), None)
        return "thread reply" if message is not None and message.thread_ts else "parent message"

    async def post_message(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None, *, urgent: bool = True) -> MessageRef:
        ref = await super().post_message(channel, text, blocks, thread_ts)
        where = "thread reply" if thread_ts else f"new message in {channel}"
        self._show(f"Slack · {where} (ts {ref.ts})", text, blocks, ref.ts)
        payload = {"method": "chat.postMessage", "channel": channel, "thread_ts": thread_ts, "ts": ref.ts, "text": text, "blocks": blocks}
        self._write("reply" if thread_ts else "parent", payload)
        return ref

    async def update_message(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        ref = await super().update_message(channel, ts, text, blocks)
        self._show(f"Slack · {self._where(channel, ts)} edited (ts {ts}), changed lines", text, blocks, ts)
        self._write("edit", {"method": "chat.update", "channel": channel, "ts": ts, "text": text, "blocks": blocks})
        return ref

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None) -> None:
        await super().post_ephemeral(channel, user, text, blocks, thread_ts)
        self._show(f"Slack · only visible to {user}", text, blocks)
        payload = {"method": "chat.postEphemeral", "channel": channel, "thread_ts": thread_ts, "user": user, "text": text, "blocks": blocks}
        self._write("ephemeral", payload)

    async def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str, initial_comment: str | None = None) -> str:
        file_id = await super().upload_file(channel, thread_ts, filename, content, title, initial_comment)
        (self.out_dir / filename).write_bytes(content)
        self._show(f"Slack · file in thread: {filename}", initial_comment or title, None)
        return file_id

    async def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        return frozenset()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def step(text: str) -> None:
    print(f"\n▸ {text}", flush=True)


async def poll(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 1.0) -> T:
    """Await probe() until it returns something; DemoError naming `what` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if loop.time() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def control_plane(root: Path, keep: bool) -> AsyncIterator[LiveCluster]:
    """Run tests/cluster/controlplane.py in the foreground of a child process; SIGTERM stops it and everything it started."""
    harness = root / "tests" / "cluster" / "controlplane.py"
    if not harness.is_file():
        raise UsageError(f"aegis demo --live needs a source checkout: {harness} is missing")
    workdir = Path(tempfile.mkdtemp(prefix="aegis-demo-live-"))
    log_path = workdir / "controlplane.log"
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(harness), "start", "--dir", str(workdir), "--nodes", "2", stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
        )
    try:
        ready = workdir / "ready"

        async def started() -> bool:
            if proc.returncode is not None:
                tail = log_path.read_text(errors="replace")[-1500:]
                hint = " Build the binaries once with `make cluster` (about 10 minutes on 2 cores)." if "missing" in tail else ""
                raise DemoError(f"the control plane did not start (exit {proc.returncode}).{hint}\n{tail}")
            return ready.exists()

        await poll("the control plane to be ready", started, READY_TIMEOUT, interval=0.2)
        state = json.loads((workdir / "state.json").read_text())
        yield LiveCluster(
            directory=workdir,
            admin_kubeconfig=Path(state["admin_kubeconfig"]),
            aegis_kubeconfig=Path(state["aegis_kubeconfig"]),
            kubectl=Path(state["bin_dir"]) / "kubectl",
            ready_line=ready.read_text().splitlines()[0],
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if keep:
            print(f"\n(control plane files kept in {workdir})")
        else:
            await asyncio.to_thread(_remove_tree, workdir)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


async def kubectl(cluster: LiveCluster, *args: str, stdin: bytes | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        str(cluster.kubectl), "--kubeconfig", str(cluster.admin_kubeconfig), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)}: {err.decode(errors='replace').strip()}")
    return out.decode()


def manifest_documents(example: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((example / "manifest.yaml").read_text(encoding="utf-8")) if d]


async def deploy(cluster: LiveCluster, gateway: KubeGateway, docs: list[dict[str, Any]]) -> None:
    """Apply document by document; a workload that appears again is a later revision, applied once the earlier one rolled."""
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        meta = doc["metadata"]
        key = (doc["kind"], meta["name"])
        if key in seen and doc["kind"] in kinds.WORKLOAD_KINDS:

            async def observed(kind: str = doc["kind"], ns: str = meta.get("namespace", "default"), name: str = meta["name"]) -> bool:
                obj = await gateway.get(kind, ns, name)
                return bool(obj.get("status", {}).get("observedGeneration", 0) >= obj["metadata"].get("generation", 1))

            await poll(f"{doc['kind']}/{meta['name']} to roll out its earlier revision", observed, 60)
            await asyncio.sleep(10)  # the earlier revision ran for a while in the real incident
        await kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(doc).encode())
        seen.add(key)
        print(f"  applied {doc['kind']}/{meta['name']}")


class Breakage:
    """Polled until the target's namespace shows a failing pod (a waiting reason other than start-up, or restarts).

    Crashed containers count once the previous log of every one of them is served, or `log_grace` seconds
    after the first crash was seen (some crashes leave no log, e.g. a StartError): a kubelet serves the log
    at once, the test cluster writes it a moment after the status, and a diagnosis in between would miss
    the line naming the cause (the investigator may read any of the failing pods).
    """

    def __init__(self, gateway: KubeGateway, target: ObjectRef, *, log_grace: float = 10.0) -> None:
        self.gateway = gateway
        self.target = target
        self.log_grace = log_grace
        self._crash_seen: float | None = None

    async def __call__(self) -> str | None:
        failing: list[str] = []
        crashed: list[tuple[str, str]] = []
        for pod in await self.gateway.list_objects("Pod", self.target.namespace):
            name = pod["metadata"]["name"]
            statuses = [*(pod.get("status", {}).get("initContainerStatuses") or []), *(pod.get("status", {}).get("containerStatuses") or [])]
            for status in statuses:
                reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
                if status.get("restartCount", 0) >= 1 or reason not in (None, "ContainerCreating", "PodInitializing"):
                    failing.append(f"{name}: {reason or 'restarting'}, {status.get('restartCount', 0)} restart(s)")
                    if (status.get("lastState") or {}).get("terminated"):
                        crashed.append((name, status["name"]))
            for condition in pod.get("status", {}).get("conditions") or []:
                if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                    failing.append(f"{name}: {condition.get('reason')}")
        if not failing or not await self._logs_served(crashed):
            return None
        return failing[0]

    async def _logs_served(self, crashed: list[tuple[str, str]]) -> bool:
        if not crashed:
            return True
        now = time.monotonic()
        self._crash_seen = self._crash_seen or now
        if now - self._crash_seen >= self.log_grace:
            return True
        for pod, container in crashed:
            if not await self.gateway.logs(self.target.namespace, pod, container, previous=True, tail_lines=5):
                return False
        return True


async def workload_health(gateway: KubeGateway, target: ObjectRef) -> str:
    obj = await gateway.get(target.kind, target.namespace, target.name)
    status = obj.get("status", {})
    if target.kind == "DaemonSet":
        return f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)} ready"
    return f"{status.get('readyReplicas', 0)}/{obj.get('spec', {}).get('replicas', 1)} ready, {status.get('updatedReplicas', 0)} updated"


def _prepare(incident_name: str, out_dir: Path) -> tuple[Path, ObjectRef]:
    """The example's directory and target; an empty output directory (earlier runs' JSON removed)."""
    example = repo_root() / "examples" / "incidents" / incident_name
    try:
        expected = json.loads((example / "expected.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"no example incident at {example} ({exc}); see examples/incidents/") from exc
    if expected.get("live") is False:
        raise UsageError(f"{incident_name} does not reproduce on the test cluster: {expected.get('live_note', '')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        stale.unlink()
    return example, ObjectRef.model_validate(expected["target"])


async def run(settings: config.Settings, *, incident_name: str, out_dir: Path, keep: bool) -> int:
    root = repo_root()
    example, target = await asyncio.to_thread(_prepare, incident_name, out_dir)
    settings = settings.model_copy(
        update={
            "approvers": [DEMO_USER],
            "slack_channel": DEMO_CHANNEL,
            "shadow_settle_seconds": settings.shadow_settle_seconds if settings.shadow_settle_seconds is not None else DEMO_SETTLE_SECONDS,
            "rollout_timeout_seconds": min(settings.rollout_timeout_seconds, 180.0),
            # The watch after Apply, short enough to see it end in the demo ("the fix held").
            "apply_watch_seconds": min(settings.apply_watch_seconds, DEMO_WATCH_SECONDS),
        }
    )
    started = time.monotonic()
    print(f"AEGIS live demo: {incident_name} on a real control plane (kube-apiserver, etcd, controller-manager, scheduler; KWOK plays the nodes)")
    step("starting the control plane")
    async with control_plane(root, keep) as cluster:
        print(f"  {cluster.ready_line} (files in {cluster.directory})")
        gateway = await LiveGateway.connect(kubeconfig=str(cluster.aegis_kubeconfig))
        try:
            return await _story(settings, cluster, gateway, example, target, out_dir, started)
        finally:
            await gateway.close()


async def _story(settings: config.Settings, cluster: LiveCluster, gateway: KubeGateway, example: Path, target: ObjectRef, out_dir: Path, started: float) -> int:
    step(f"deploying {example.relative_to(repo_root())}/manifest.yaml as an engineer would (admin credentials)")
    await deploy(cluster, gateway, manifest_documents(example))
    step(f"waiting for {target} to break")
    t0 = time.monotonic()
    failure = await poll(f"{target} to break", Breakage(gateway, target), BREAK_TIMEOUT)
    print(f"  broken after {time.monotonic() - t0:.1f}s: {failure}")

    chat = Transcript(out_dir)
    store = await open_store(str(cluster.directory / "aegis.db"))
    shadow = ShadowManager(gateway, ShadowPolicy.from_settings(settings))
    service = incident_service(
        settings,
        chat=chat,
        store=store,
        investigator=wiring.investigator(settings, gateway, links=Observability.from_settings(settings).link_builder),
        authorizer=Authorizer(approvers=settings.approvers, approver_groups=[], chat=chat),
        shadow=shadow,
        remediator=wiring.remediator(settings, gateway),
        alert_channel=DEMO_CHANNEL,
    )
    try:
        kind = target.kind.lower() if target.kind != "Deployment" else "deploy"
        step(f"{DEMO_USER} types: /aegis analyze {kind}/{target.name} -n {target.namespace}   (AEGIS acts as its ServiceAccount)")
        incident = await service.request_analysis(target, user=DEMO_USER, channel=DEMO_CHANNEL)
        await service.drain(timeout=120)
        incident = await _expect(store, incident, IncidentState.DIAGNOSED, "diagnosis")
        if incident.diagnosis is None or incident.diagnosis.fix is None:
            raise DemoError("the diagnosis proposes no fix, so there is nothing to verify or apply")

        step(f"{DEMO_USER} clicks [ Verify in shadow ]")
        await _click(service.verify(incident.id, revision=incident.proposal_revision, user=DEMO_USER), chat)
        await service.drain(timeout=300)
        incident = await _expect(store, incident, IncidentState.VERIFIED, "shadow verification")
        leftover = [ns for ns in await gateway.list_objects("Namespace", None, "app.kubernetes.io/managed-by=aegis")]
        print(f"  shadow namespaces left behind: {len(leftover)}")

        step(f"{DEMO_USER} clicks [ Apply fix ] and confirms")
        await _click(service.apply(incident.id, revision=incident.proposal_revision, user=DEMO_USER), chat)
        await service.drain(timeout=settings.rollout_timeout_seconds + 60)
        incident = await _expect(store, incident, IncidentState.APPLIED, "apply")
        health = await workload_health(gateway, target)
        failing = await Breakage(gateway, target, log_grace=0)()
        step(f"{target}: {health}" + (f"; still failing: {failing}" if failing else "; no pod failing"))
        audit = await store.audit(incident.id)
        print("  audit: " + ", ".join(f"{a.action}={a.outcome} by {a.actor}" for a in audit))
    finally:
        await service.drain(timeout=30)
        await shadow.aclose()
        await store.close()
    print(f"\nDone in {time.monotonic() - started:.0f}s. {len(chat.written)} Slack messages as Block Kit JSON in {out_dir}/")
    return 1 if failing else 0


async def _click(action: Awaitable[ActionOutcome], chat: Transcript) -> None:
    """What the listener does with a click's outcome: the private reply goes to the person who clicked."""
    outcome = await action
    if outcome.refusal is not None:
        await chat.post_ephemeral(DEMO_CHANNEL, DEMO_USER, messages.outcome(outcome.action.value, outcome.refusal.value, outcome.detail))


async def _expect(store: IncidentStore, incident: Incident, state: IncidentState, what: str) -> Incident:
    current: Incident | None = await store.get(incident.id)
    if current is None or current.state is not state:
        found = current.state.value if current else "missing"
        reason = f": {current.last_error}" if current is not None and current.last_error else ""
        raise DemoError(f"the {what} step ended in state {found}, not {state.value}{reason}")
    return current
