"""Fixtures for `aegis mcp` against the control plane: a broken example workload, and the server's environment."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from aegis.core.models import ObjectRef
from tests.incidents import EXAMPLES, Incident, load_all
from tests.integration.conftest import Cluster
from tests.integration.examples import deploy_example

EXAMPLE = "crashloop-missing-env"
AEGIS = [sys.executable, "-m", "aegis.bot.cli", "mcp"]


@pytest.fixture
def broken(control_plane: Cluster) -> ObjectRef:
    """The example's workload deployed in a fresh namespace, crash-looping for want of DATABASE_URL."""
    incident: Incident = next(i for i in load_all(EXAMPLES) if i.name == EXAMPLE)
    return deploy_example(control_plane, incident)


@pytest.fixture
def server_env(control_plane: Cluster, tmp_path: Path) -> dict[str, str]:
    """`aegis mcp`'s environment: AEGIS's own ServiceAccount, a fresh store, a short shadow settle window."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEGIS_", "KUBECONFIG"))}
    env.update(
        AEGIS_KUBECONFIG=str(control_plane.aegis_kubeconfig),
        AEGIS_STORE_URL=str(tmp_path / "aegis.db"),
        AEGIS_MCP_SNAPSHOT_DIR=str(tmp_path / "snapshots"),
        AEGIS_SHADOW_SETTLE_SECONDS="3",
        AEGIS_SHADOW_TIMEOUT_SECONDS="60",
        AEGIS_SHADOW_CLEANUP_WAIT_SECONDS="0",
        AEGIS_LOG_FORMAT="json",
    )
    return env


async def poll(what: str, probe: Callable[[], Awaitable[Any]], timeout: float, interval: float = 1.0) -> Any:
    """Call `probe` until it returns something truthy, or fail after `timeout` seconds naming the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
