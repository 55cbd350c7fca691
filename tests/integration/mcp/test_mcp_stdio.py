"""`aegis mcp` over stdio, spawned as an assistant spawns it, through the SDK's own client, against the control plane.

The example workload breaks live; the server (AEGIS's ServiceAccount) lists its tools, diagnoses
the workload as `aegis analyze --output json` would, and answers an unknown target and an
excluded namespace with tool errors while it keeps serving.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from aegis.core.models import ObjectRef
from aegis.core.report import AnalysisReport
from tests.integration.conftest import Cluster
from tests.integration.mcp.conftest import AEGIS, poll

pytestmark = pytest.mark.integration


async def test_stdio_lists_tools_diagnoses_and_refuses_bad_targets(
    control_plane: Cluster, broken: ObjectRef, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Tool list, a live diagnosis in the report contract, a live snapshot, and isError answers for an unknown target and kube-system."""
    params = StdioServerParameters(command=AEGIS[0], args=AEGIS[1:], env=server_env, cwd=tmp_path)
    with (tmp_path / "server.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"diagnose", "snapshot", "list_incidents", "get_incident", "verify_fix"}

            args = {"target": f"deploy/{broken.name}", "namespace": broken.namespace}

            async def diagnosed() -> Any:
                result = await client.call_tool("diagnose", args)
                assert not result.is_error, result.content
                report = result.structured_content
                return result if report["diagnosis"]["category"] == "missing_env_var" and report["fix"] else None

            result = await poll(f"{broken} diagnosed as missing_env_var\n{control_plane.dump(broken.namespace)}", diagnosed, timeout=90)
            report = AnalysisReport.model_validate(result.structured_content)
            assert report.workload == broken and report.fix is not None
            assert any(op["op"] == "test" for op in report.fix.patch)
            assert json.loads(result.content[0].text) == result.structured_content
            assert "Apply" in result.content[1].text

            written = await client.call_tool("snapshot", args)
            assert not written.is_error, written.content
            bundle = Path(written.structured_content["path"])
            assert bundle.parent == tmp_path / "snapshots" and f"name: {broken.name}" in (bundle / "objects.yaml").read_text()

            unknown = await client.call_tool("diagnose", {"target": "deploy/no-such-workload", "namespace": broken.namespace})
            assert unknown.is_error and "not found" in unknown.content[0].text and "kubectl get deployment" in unknown.content[0].text
            excluded = await client.call_tool("diagnose", {"target": "deploy/coredns", "namespace": "kube-system"})
            assert excluded.is_error and "AEGIS_PROTECTED_NAMESPACES" in excluded.content[0].text
            refused = await client.call_tool("verify_fix", {"target": "deploy/coredns", "namespace": "kube-system"})
            assert refused.is_error and "excluded" in refused.content[0].text
            # Still serving after the refusals.
            assert not (await client.call_tool("list_incidents", {})).is_error
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log
