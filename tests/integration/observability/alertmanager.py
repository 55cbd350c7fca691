"""A real Alertmanager (Debian's prometheus-alertmanager) on loopback, configured from the shipped alertmanager.yml.

`config_for_test` keeps deploy/docker/alertmanager.yml's route and receivers (the same grouping,
the same routing of AEGIS's own alerts away from AEGIS, the same bearer-token webhook) and changes
only what cannot be the same here: the webhook URL, the token file, and the timers.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.observability.prometheus import ROOT, daemon, free_port

SHIPPED_CONFIG = ROOT / "deploy" / "docker" / "alertmanager.yml"


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        msg = "the alertmanager binary is missing: run deploy/check.sh (installs Debian's prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def config_for_test(webhook_url: str, token_file: Path) -> dict[str, Any]:
    """The shipped config with the webhook at `webhook_url`, its bearer token read from `token_file`, and short timers.

    The shipped 30s/5m/4h timers would make a test wait minutes for the first notification and the
    resolution; 1s/2s/6s keep the same order (group_wait < group_interval < repeat_interval), so
    repeats of a firing group reach AEGIS during the test too (they must edit, never open a second thread).
    """
    config: dict[str, Any] = copy.deepcopy(yaml.safe_load(SHIPPED_CONFIG.read_text()))
    config["route"].update({"group_wait": "1s", "group_interval": "2s", "repeat_interval": "6s"})
    aegis = next(r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    (webhook,) = aegis["webhook_configs"]
    webhook["url"] = webhook_url
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


@asynccontextmanager
async def alertmanager(workdir: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """Alertmanager with `config`, no HA cluster listener, data in `workdir`; its host:port."""
    binary = alertmanager_binary()
    port = free_port()
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    argv = [
        binary,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: a single instance
    ]
    async with daemon("alertmanager", argv, workdir / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready"):
        yield f"127.0.0.1:{port}"
