"""The MCP server in process (the SDK's own Client, no transport) over recorded snapshots and a SQLite store.

The transports (stdio subprocess, HTTP with its token) and the live cluster are the integration
tier's (tests/integration/mcp); here: what each tool answers, and that bad input is a tool error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client

from aegis.bot.mcp import server, tools
from aegis.core import config
from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState, ObjectRef
from aegis.core.store import open_store
from tests.incidents import EXAMPLES

SNAPSHOT = EXAMPLES / "crashloop-missing-env" / "snapshot"
TARGET = {"target": "deploy/checkout", "namespace": "shop"}


@pytest_asyncio.fixture
async def services(tmp_path: Path) -> AsyncIterator[tools.Services]:
    settings = config.load(store_url=str(tmp_path / "aegis.db"), mcp_snapshot_dir=str(tmp_path / "snapshots"))
    svc = tools.Services(settings, snapshot=str(SNAPSHOT))
    yield svc
    await svc.aclose()


async def _call(svc: tools.Services, name: str, args: dict[str, Any]) -> Any:
    async with Client(server.build(svc)) as client:
        return await client.call_tool(name, args)


async def test_tools_are_listed_with_schemas_and_hints(services: tools.Services) -> None:
    """Five tools, none that applies; diagnose is read-only with the report's output schema; verify_fix is not read-only."""
    async with Client(server.build(services)) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == {"diagnose", "snapshot", "list_incidents", "get_incident", "verify_fix"}
    assert not any("apply" in name for name in listed)
    diagnose = listed["diagnose"]
    assert diagnose.annotations is not None and diagnose.annotations.read_only_hint is True
    assert diagnose.output_schema is not None and {"target", "diagnosis", "fix"} <= set(diagnose.output_schema["properties"])
    assert diagnose.input_schema["required"] == ["target"]
    assert listed["verify_fix"].annotations is not None and listed["verify_fix"].annotations.read_only_hint is False


async def test_diagnose_answers_what_analyze_json_prints(services: tools.Services) -> None:
    """The structured answer equals `aegis analyze --output json` on the same snapshot; a second block says Apply is a click in Slack."""
    result = await _call(services, "diagnose", TARGET)
    assert not result.is_error, result.content
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aegis.bot.cli", "analyze", "deploy/checkout", "-n", "shop", "--snapshot", str(SNAPSHOT), "--output", "json",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, _ = await cli.communicate()
    assert cli.returncode == 0
    assert result.structured_content == json.loads(stdout)
    assert json.loads(result.content[0].text) == result.structured_content
    assert "Apply" in result.content[1].text and "/aegis analyze" in result.content[1].text


async def test_diagnose_links_the_open_incident_thread(services: tools.Services, tmp_path: Path) -> None:
    """When the store has an open incident about the target, the answer names it and links its Slack thread."""
    store = await open_store(str(tmp_path / "aegis.db"))
    now = datetime.now(UTC)
    await store.create(
        Incident(
            id=IncidentId("INC-3"),
            source=IncidentSource.SLASH_COMMAND,
            state=IncidentState.DIAGNOSED,
            title="missing_env_var on checkout",
            target=ObjectRef(kind="Deployment", namespace="shop", name="checkout"),
            channel="C0SHOP",
            thread_ts="1733313600.001200",
            created_at=now,
            updated_at=now,
        )
    )
    await store.close()
    result = await _call(services, "diagnose", TARGET)
    assert "INC-3" in result.content[1].text and "https://slack.com/archives/C0SHOP/p1733313600001200" in result.content[1].text

    listed = await _call(services, "list_incidents", {})
    assert [i["id"] for i in listed.structured_content["incidents"]] == ["INC-3"]
    assert listed.structured_content["incidents"][0]["thread"].endswith("/p1733313600001200")
    detail = await _call(services, "get_incident", {"incident_id": "INC-3"})
    assert detail.structured_content["state"] == "diagnosed" and detail.structured_content["transitions"] == []


async def test_output_is_redacted(tmp_path: Path) -> None:
    """A Secret's real value printed in a log, and a bearer token in another line, reach no tool answer."""
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, snap)
    secret_value = "postgres://app:hunter2hunter2@db:5432/shop"
    objects = (snap / "objects.yaml").read_text()
    encoded = base64.b64encode(secret_value.encode()).decode()
    (snap / "objects.yaml").write_text(objects.replace("DATABASE_URL: '[REDACTED]'", f"DATABASE_URL: {encoded}"))
    log = next(snap.glob("logs/shop/*/checkout.previous.log"))
    log.write_text(
        log.read_text()
        + f'{{"level":"debug","msg":"fallback dsn {secret_value}"}}\n'
        + '{"level":"debug","msg":"calling payments with Authorization: Bearer abcdefghijklmnop1234"}\n'
    )
    settings = config.load(store_url=str(tmp_path / "aegis.db"), mcp_snapshot_dir=str(tmp_path / "out"))
    svc = tools.Services(settings, snapshot=str(snap))
    try:
        answers = [await _call(svc, "diagnose", TARGET), await _call(svc, "snapshot", TARGET)]
    finally:
        await svc.aclose()
    for answer in answers:
        assert not answer.is_error, answer.content
        text = json.dumps([c.model_dump() for c in answer.content]) + json.dumps(answer.structured_content)
        assert "hunter2hunter2" not in text and "abcdefghijklmnop1234" not in text
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "hunter2hunter2" not in written and "abcdefghijklmnop1234" not in written


async def test_snapshot_writes_under_the_configured_directory(services: tools.Services, tmp_path: Path) -> None:
    """The bundle lands in AEGIS_MCP_SNAPSHOT_DIR (the client names no path) and diagnoses as the original does."""
    result = await _call(services, "snapshot", TARGET)
    assert not result.is_error, result.content
    path = Path(result.structured_content["path"])
    assert path.parent == (tmp_path / "snapshots").resolve() and (path / "objects.yaml").is_file()
    assert result.structured_content["objects"] > 0 and str(path) in result.structured_content["next"]
    again = tools.Services(services.settings, snapshot=str(path))
    try:
        rediagnosed = await _call(again, "diagnose", TARGET)
    finally:
        await again.aclose()
    assert rediagnosed.structured_content["diagnosis"]["category"] == "missing_env_var"


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("diagnose", {"target": "deploy/nope", "namespace": "shop"}, "kubectl get deployment -n shop"),
        ("diagnose", {"target": "ingress/checkout", "namespace": "shop"}, "TARGET is"),
        ("diagnose", {"target": "deploy/Bad_Name", "namespace": "shop"}, "not a valid Kubernetes name"),
        ("diagnose", {"target": "deploy/coredns", "namespace": "kube-system"}, "AEGIS_PROTECTED_NAMESPACES"),
        ("snapshot", {"target": "deploy/coredns", "namespace": "kube-system"}, "excluded"),
        ("diagnose", {"target": "deploy/checkout", "namespace": "shop", "context": "prod"}, "leave it out"),
        ("verify_fix", {"target": "deploy/checkout", "namespace": "shop"}, "needs a live cluster"),
        ("get_incident", {"incident_id": "INC-404"}, "list_incidents"),
        ("list_incidents", {"limit": 0}, "limit"),
    ],
)
async def test_bad_input_is_a_tool_error_that_says_what_to_do(services: tools.Services, tool: str, args: dict[str, Any], says: str) -> None:
    """Each refusal is an isError result with the next step; the server answers the next call normally."""
    async with Client(server.build(services)) as client:
        result = await client.call_tool(tool, args)
        assert result.is_error and says in result.content[0].text, result.content
        assert not (await client.call_tool("diagnose", TARGET)).is_error


async def test_resources_and_prompt(services: tools.Services) -> None:
    """Every example is readable as a resource; the triage prompt carries the target it was given."""
    async with Client(server.build(services)) as client:
        resources = (await client.list_resources()).resources
        assert len(resources) == len(list(EXAMPLES.glob("*/expected.json")))
        read = await client.read_resource("aegis://examples/crashloop-missing-env")
        assert json.loads(read.contents[0].text)["expected"]["category"] == "missing_env_var"
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["triage"] and prompts[0].title == "Triage this workload"
        prompt = await client.get_prompt("triage", {"target": "deploy/checkout", "namespace": "shop"})
        assert "deploy/checkout" in prompt.messages[0].content.text


def test_other_commands_do_not_load_the_sdk() -> None:
    """`aegis analyze --snapshot` never imports the MCP SDK (start-up time belongs to the command that needs it)."""
    code = (
        "import sys, contextlib, io\n"
        "from aegis.bot import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = cli.main(['analyze', 'deploy/checkout', '-n', 'shop', '--snapshot', {str(SNAPSHOT)!r}, '-o', 'json'])\n"
        "assert rc == 0, rc\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types', 'aegis.bot.mcp'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_http_without_token_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    """`aegis mcp --http` with no AEGIS_MCP_TOKEN exits 2 with one line naming it, before listening."""
    env = {k: v for k, v in os.environ.items() if k != "AEGIS_MCP_TOKEN"}
    out = subprocess.run(
        [sys.executable, "-m", "aegis.bot.cli", "mcp", "--http", "127.0.0.1:0"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert out.returncode == 2 and "HOST:PORT" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "aegis.bot.cli", "mcp", "--http", "127.0.0.1:8765", "--snapshot", str(SNAPSHOT)],
        capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.startswith("aegis: error: AEGIS_MCP_TOKEN: required"), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


async def test_unreachable_cluster_is_a_tool_error_and_the_server_keeps_serving(tmp_path: Path) -> None:
    """A kubeconfig whose API server refuses connections: diagnose says what to check; the next call is answered too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the test connects: connection refused
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t0ken-for-nothing"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
                "current-context": "gone",
            }
        )
    )
    settings = config.load(store_url=str(tmp_path / "aegis.db"), kubeconfig=str(kubeconfig))
    svc = tools.Services(settings)
    try:
        async with Client(server.build(svc)) as client:
            for tool in ("diagnose", "verify_fix", "snapshot"):
                result = await client.call_tool(tool, TARGET)
                assert result.is_error and "cannot reach the Kubernetes API server" in result.content[0].text, result.content
                assert "AEGIS_KUBE_CONTEXT" in result.content[0].text
            assert not (await client.call_tool("list_incidents", {})).is_error
    finally:
        await svc.aclose()


def test_http_on_a_busy_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    """A port already taken is a one-line start-up error naming HOST:PORT (exit 2), not uvicorn's exit."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "aegis.bot.cli", "mcp", "--http", f"127.0.0.1:{port}", "--snapshot", str(SNAPSHOT)],
            capture_output=True, text=True, env={**os.environ, "AEGIS_MCP_TOKEN": "t" * 32, "AEGIS_LOG_LEVEL": "error"}, timeout=60, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == f"aegis: error: --http: cannot listen on 127.0.0.1:{port} (Address already in use); pick another HOST:PORT"
