"""What the `aegis` command does to start quickly, and that it undoes it where it would matter.

The console script (bot/entry.py) keeps the cyclic collector off while the modules load and freezes
everything at exit; `cli.main` turns the collector back on before the command runs, so `aegis serve`
never runs for days without it. pydantic's plugin discovery is skipped unless the user asks for it.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.bot import cli, entry

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOT = ROOT / "examples" / "incidents" / "crashloop-missing-env" / "snapshot"


@pytest.fixture
def collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()  # what the test froze goes back to the collector
    gc.enable()


def test_the_console_script_loads_the_cli_with_the_collector_off_and_freezes_at_exit(monkeypatch: pytest.MonkeyPatch, collector_restored: None) -> None:
    seen: dict[str, bool] = {}

    def command() -> int:
        seen["collector on while the command starts"] = gc.isenabled()
        return 7

    monkeypatch.setattr(cli, "main", command)
    assert entry.main() == 7
    assert seen == {"collector on while the command starts": False}
    assert gc.get_freeze_count() > 0  # the interpreter's last collection has nothing left to walk


COMMAND = """
import asyncio, gc, sys
from aegis.bot import cli

async def command(args, settings):  # stands in for the command (serve, analyze, ...) that main dispatches to
    print(gc.isenabled(), gc.get_freeze_count() > 0)
    return 0

cli._dispatch = command
if sys.argv[1] == "off":
    gc.disable()  # as the console script leaves it
sys.exit(cli.main(["schema"]))
"""


def _command_sees(collector: str) -> list[str]:
    # A process of its own: main configures logging on this process's stdout.
    run = subprocess.run([sys.executable, "-c", COMMAND, collector], capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_a_command_runs_with_the_collector_on() -> None:
    # A long-running command (serve) would otherwise never collect cyclic garbage.
    assert _command_sees("off") == ["True", "True"]


def test_a_caller_that_left_the_collector_on_is_left_alone() -> None:
    assert _command_sees("on") == ["True", "False"]  # a caller's heap is not frozen behind its back


def test_the_installed_command_diagnoses_through_the_entry_point() -> None:
    aegis = Path(sys.executable).parent / "aegis"
    assert "aegis.bot.entry" in aegis.read_text(), "the console script must be the entry point that manages the collector"
    run = subprocess.run(
        [str(aegis), "analyze", "deploy/checkout", "-n", "shop", "--snapshot", str(SNAPSHOT), "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["diagnosis"]["category"] == "missing_env_var"


PROBE = """
import sys
import aegis.core.models as models
ref = models.ObjectRef(kind="Deployment", namespace="shop", name="checkout")
loader = sys.modules.get("pydantic.plugin._loader")
print(str(ref), "importlib.metadata" in sys.modules, getattr(loader, "__file__", None) is not None)
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env={**clean, **env})
    return run.stdout.split()


def test_models_build_without_reading_every_package_metadata() -> None:
    # The model validates; importlib.metadata was never imported; pydantic's loader was replaced.
    assert _probe() == ["Deployment/checkout", "-n", "shop", "False", "False"]


def test_a_user_who_enables_pydantic_plugins_gets_pydantic_s_own_loader() -> None:
    # pydantic's own loader ran and read the entry points.
    assert _probe(PYDANTIC_DISABLE_PLUGINS="false") == ["Deployment/checkout", "-n", "shop", "True", "True"]
