"""`aegis demo --live` as a person runs it: a real subprocess, its own control plane, the whole story.

It must break the example, diagnose it, pass shadow verification, apply the fix and end healthy
(exit 0), print the thread, write valid Block Kit JSON for every message, leak no secret, and
leave no control-plane process behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.controlplane import bin_dir, missing_binaries
from tests.integration.conftest import BUILD_HINT

pytestmark = pytest.mark.integration

AEGIS = Path(sys.executable).parent / "aegis"
SECRET_VALUE = "s3cr3t-Pa55w0rd"  # in examples/incidents/crashloop-missing-env/manifest.yaml's Secret


def test_demo_live_tells_the_whole_story(tmp_path: Path) -> None:
    missing = missing_binaries(bin_dir())
    if missing:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"control-plane binaries missing: {', '.join(missing)}; {BUILD_HINT}")
    out = tmp_path / "blockkit"
    run = subprocess.run([str(AEGIS), "demo", "--live", "--out", str(out)], capture_output=True, text=True, timeout=420, check=False)
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    story = run.stdout
    for line in ("control plane", "broken after", "/aegis analyze deploy/checkout -n shop", "DIAGNOSIS: MISSING_ENV_VAR", "Shadow verification passed"):
        assert line in story, f"{line!r} not in the demo's output"
    assert "Deployment/checkout -n shop: 2/2 ready, 2 updated; no pod failing" in story
    assert "shadow namespaces left behind: 0" in story

    written = sorted(out.glob("*.json"))
    assert len(written) >= 5
    messages = [json.loads(p.read_text()) for p in written]
    for message in messages:
        assert message["method"] in {"chat.postMessage", "chat.update", "chat.postEphemeral"}
        assert message["text"] and (message["blocks"] is None or 0 < len(message["blocks"]) <= 50)
    parent = messages[0]
    assert parent["method"] == "chat.postMessage" and parent["thread_ts"] is None
    last_parent = [m for m in messages if m["method"] == "chat.update" and m["ts"] == parent["ts"]][-1]
    assert "FIX APPLIED" in last_parent["text"]
    everything = story + run.stderr + "".join(p.read_text() for p in written)
    assert SECRET_VALUE not in everything

    left = subprocess.run(["pgrep", "-f", "aegis-demo-live-"], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == "", f"control-plane processes left behind: {left.stdout}"
