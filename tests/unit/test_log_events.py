"""Log contract: JSON lines named area.phase.event, with incident_id on every event of an incident's work."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import structlog

from aegis.core import config, telemetry
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import ObjectRef
from tests.incidents import EXAMPLES

EVENT = re.compile(r"^[a-z_]+\.[a-z_]+\.[a-z_]+$")
ROOT = Path(__file__).resolve().parents[2]


async def test_incident_work_logs_carry_incident_id_and_area_phase_event() -> None:
    """Investigator and backend-collector events in an incident's task are JSON with incident_id, level, timestamp."""
    out = io.StringIO()
    telemetry.configure_logging("json", "debug", stream=out)
    try:
        settings = config.load(prometheus_url="http://127.0.0.1:9", backend_timeout_seconds=2)
        investigator = Investigator(SnapshotGateway.open(EXAMPLES / "crashloop-missing-env" / "snapshot"), settings=settings)
        target = ObjectRef(kind="Deployment", namespace="shop", name="checkout")
        await asyncio.create_task(investigator.investigate(target), context=telemetry.incident_task_context("INC-42"))
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {"analysis.collect.start", "analysis.backend.failed", "analysis.diagnose.complete"} <= {line["event"] for line in lines}
    for line in lines:
        assert EVENT.match(line["event"]), line["event"]
        assert line["incident_id"] == "INC-42" and line["level"] and line["timestamp"]


def test_every_event_name_in_the_code_is_area_phase_event() -> None:
    """Every literal event name passed to a logger in core/ and bot/ has three dotted parts."""
    call = re.compile(r"(?:\blog|_log|logger|\))\.(?:debug|info|warning|error|exception|critical)\(\s*\"([^\"]+)\"")
    names = {m.group(1) for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("bot/**/*.py")] for m in call.finditer(path.read_text())}
    assert names and not {n for n in names if not EVENT.match(n)}
