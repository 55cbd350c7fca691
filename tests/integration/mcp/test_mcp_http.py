"""`aegis mcp --http` as its own process: bearer token enforced, and a shadow verification streamed as MCP progress.

Over real HTTP on loopback with the SDK's streamable-HTTP client: a wrong or missing token gets
401 and no session; with the token, verify_fix on the live broken example reports each phase as a
progress notification and passes, its shadow namespace is gone afterwards, and production is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from aegis.core.models import ObjectRef
from tests.cluster.controlplane import resource_path
from tests.integration.conftest import Cluster
from tests.integration.mcp.conftest import AEGIS, poll

pytestmark = pytest.mark.integration

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """`aegis mcp --http` on a free loopback port with a fresh token; (url, token) once it answers."""
    token = secrets.token_hex(16)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    log = (tmp_path / "server.log").open("w")
    proc = await asyncio.create_subprocess_exec(*AEGIS, "--http", f"127.0.0.1:{port}", env={**env, "AEGIS_MCP_TOKEN": token}, cwd=tmp_path, stderr=log)
    try:
        async with httpx2.AsyncClient(timeout=5) as http:

            async def answers() -> bool:
                assert proc.returncode is None, (tmp_path / "server.log").read_text()
                with contextlib.suppress(httpx2.TransportError):
                    return (await http.post(url, json=INIT)).status_code == 401
                return False

            await poll("aegis mcp --http listening", answers, timeout=30, interval=0.2)
        yield url, token
    finally:
        if proc.returncode is None:
            proc.terminate()
        stopped = await asyncio.wait_for(proc.wait(), 60)
        log.close()
    # SIGTERM is a clean stop: connections closed, running shadows cleaned up, exit 0.
    assert stopped == 0, (tmp_path / "server.log").read_text()


@contextlib.asynccontextmanager
async def _client(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, sending the bearer token on every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


async def test_http_refuses_a_wrong_token_and_verifies_with_progress(
    control_plane: Cluster, broken: ObjectRef, server_env: dict[str, str], tmp_path: Path
) -> None:
    """401 without or with a wrong token; with the right one verify_fix streams its phases as progress and passes."""
    async with serving(server_env, tmp_path) as (url, token):
        async with httpx2.AsyncClient(timeout=10) as http:
            headers = {"Accept": "application/json, text/event-stream"}
            missing = await http.post(url, json=INIT, headers=headers)
            wrong = await http.post(url, json=INIT, headers={**headers, "Authorization": "Bearer " + "0" * 32})
        for refused in (missing, wrong):
            assert refused.status_code == 401 and refused.headers["www-authenticate"].lower().startswith("bearer"), refused.text
            assert "mcp-session-id" not in refused.headers
        # The SDK's own client cannot open a session with a wrong token either.
        with pytest.raises(ExceptionGroup) as raised:
            async with _client(url, "0" * 32) as refused_client:
                await refused_client.list_tools()
        assert raised.group_contains(MCPError, depth=None)

        args = {"target": f"deploy/{broken.name}", "namespace": broken.namespace}
        # The initialize handshake, as the editors' clients of today connect (the stdio test speaks the 2026 protocol).
        async with _client(url, token, mode="legacy") as client:
            assert {t.name for t in (await client.list_tools()).tools} >= {"diagnose", "verify_fix"}

            async def fixable() -> bool:
                result = await client.call_tool("diagnose", args)
                return not result.is_error and result.structured_content["fix"] is not None

            await poll(f"{broken} diagnosed with a fix\n{control_plane.dump(broken.namespace)}", fixable, timeout=90)

            progress: list[tuple[float, str | None]] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append((value, message))

            result = await client.call_tool("verify_fix", args, progress_callback=on_progress)
            assert not result.is_error, result.content
            verification = result.structured_content["verification"]
            assert verification["passed"], verification
            assert "Apply" in result.structured_content["apply"]

    messages = [m or "" for _, m in progress]
    print("\n[verify_fix progress] " + " | ".join(messages))
    for phase in ("diagnosed", "namespace ok", "clone ok", "patch ok", "verify ok", "verdict: passed"):
        assert any(m.startswith(phase) for m in messages), messages
    assert [v for v, _ in progress] == sorted(v for v, _ in progress)
    shadow_ns = verification["namespace"]
    assert control_plane.api.get_or_none(f"/api/v1/namespaces/{shadow_ns}") is None or (
        control_plane.api.get(f"/api/v1/namespaces/{shadow_ns}")["status"].get("phase") == "Terminating"
    )
    production = control_plane.api.get(resource_path("Deployment", broken.namespace, broken.name))
    env = production["spec"]["template"]["spec"]["containers"][0].get("env") or []
    assert not any(e["name"] == "DATABASE_URL" for e in env), "verify_fix changed production"
