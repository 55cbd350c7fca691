"""A killed `aegis verify` leaves its shadow behind; the janitor on the next start deletes it once expired."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from aegis.core.kube.live import LiveGateway
from aegis.core.shadow import cloning, janitor
from tests.incidents import EXAMPLES, load_all
from tests.integration.conftest import Cluster
from tests.integration.shadow.test_shadow_live import deploy_example, diagnosed, namespace_gone, poll

pytestmark = pytest.mark.integration

EXAMPLE = next(i for i in load_all(EXAMPLES) if i.name == "quote-api-launch")


def shadow_namespaces(cluster: Cluster, source: str) -> list[str]:
    items = cluster.api.get("/api/v1/namespaces", params={"labelSelector": cloning.SHADOW_SELECTOR})["items"]
    return [n["metadata"]["name"] for n in items if n["metadata"].get("annotations", {}).get(cloning.SOURCE_ANNOTATION, "").endswith(f"-n {source}")]


async def test_sigkill_mid_verification_leaves_an_orphan_the_janitor_removes(control_plane: Cluster, tmp_path: Path) -> None:
    """SIGKILL `aegis verify` while the clone runs: the namespace survives the process, and the janitor deletes it after its expiry."""
    target = deploy_example(control_plane, EXAMPLE)
    env = {
        **os.environ,
        "AEGIS_SHADOW_TTL_SECONDS": "8",  # expires soon after the kill
        "AEGIS_SHADOW_SETTLE_SECONDS": "300",  # keeps the run in its verify phase until the kill
        "AEGIS_SHADOW_TIMEOUT_SECONDS": "300",
    }
    kubeconfig = str(control_plane.aegis_kubeconfig)
    probe_gateway = await LiveGateway.connect(kubeconfig=kubeconfig)
    try:
        await diagnosed(probe_gateway, control_plane, target, EXAMPLE)  # broken and diagnosable: `aegis verify` has a fix to prove
    finally:
        await probe_gateway.close()
    command = [sys.executable, "-m", "aegis.bot.cli", "verify", f"deploy/{target.name}", "-n", target.namespace, "--kubeconfig", kubeconfig]
    output = tmp_path / "verify.out"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT)
    gateway = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    try:

        async def clone_running() -> str | None:
            assert process.returncode is None, f"aegis verify ended early:\n{output.read_text()}"
            for name in shadow_namespaces(control_plane, target.namespace):
                pods = control_plane.pods(name)
                if any(c.get("type") == "Ready" and c.get("status") == "True" for p in pods for c in p["status"].get("conditions") or []):
                    return name
            return None

        orphan: str = await poll("the shadow clone Ready", clone_running, 90)
        process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(process.wait(), timeout=10) == -signal.SIGKILL
        assert not namespace_gone(control_plane, orphan), "the killed process cleaned up: nothing to prove"

        started = time.monotonic()

        async def swept() -> bool:
            deleted = await janitor.sweep(gateway)  # what `aegis serve` does at start-up and periodically
            return orphan in deleted or namespace_gone(control_plane, orphan)

        await poll(f"the janitor deleting {orphan} after its expiry", swept, 60, interval=1.0)
        await poll(f"{orphan} gone", lambda: asyncio.to_thread(namespace_gone, control_plane, orphan), 60)
        print(f"\n[janitor] orphan {orphan} removed {time.monotonic() - started:.1f}s after the kill")
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), timeout=10)
        await gateway.close()
        control_plane.api.delete(f"/api/v1/namespaces/{target.namespace}")
