"""An image built for another CPU: 'exec format error', in the runtime's, runc's or the kernel's words.

When the rollout changed only the image, the previous image is the one known to run on these nodes:
the fix restores it. The report names the image, the previous one and the node's architecture.
"""

from __future__ import annotations

from typing import Any

import pytest

from aegis.core.analyzers.engine import diagnose
from aegis.core.models import Category
from tests.unit.analyzers.contexts import deployment_context
from tests.unit.analyzers.test_real_message_variants import _crashed

NEW, OLD = "registry.internal/shop/api:2.0.0", "registry.internal/shop/api:1.9.3"
_RUNC = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: "
    'unable to start container process: exec: "/app/server": exec format error: unknown'
)
_FAILURES = [
    ("runc's init in the log", _crashed("app", 1), "exec /app/server: exec format error\n"),
    ("containerd StartError", _crashed("app", 128, "StartError", _RUNC), None),
    ("docker-era runc", _crashed("app", 1), "standard_init_linux.go:228: exec user process caused: exec format error\n"),
]


def _context(status: dict[str, Any], log: str | None, *, command: list[str] | None = None, image: str = NEW) -> Any:
    current = {"containers": [{"name": "app", "image": image, "command": command or ["/app/server"]}]}
    previous = {"containers": [{"name": "app", "image": OLD, "command": ["/app/server"]}]}
    ctx = deployment_context(current, statuses=[status], previous=previous, logs={("app", True): log} if log else None)
    ctx.bundle.pods[0]["spec"]["nodeName"] = "worker-1"
    ctx.bundle.nodes = [
        {"kind": "Node", "metadata": {"name": "worker-1", "labels": {"kubernetes.io/arch": "amd64"}}, "status": {"nodeInfo": {"architecture": "amd64"}}}
    ]
    return ctx


@pytest.mark.parametrize(("case", "status", "log"), _FAILURES, ids=[f[0] for f in _FAILURES])
def test_an_image_for_another_cpu_is_rolled_back_to_the_previous_image(case: str, status: dict[str, Any], log: str | None) -> None:
    diagnosis = diagnose(_context(status, log).bundle)
    assert diagnosis.rca.category is Category.BAD_COMMAND, case
    summary = diagnosis.rca.summary
    assert "exec format error" in summary and NEW in summary and OLD in summary and "(amd64)" in summary, summary
    assert diagnosis.fix is not None
    base = "/spec/template/spec/containers/0"
    assert diagnosis.fix.patch_json() == [
        {"op": "test", "path": f"{base}/name", "value": "app"},
        {"op": "test", "path": f"{base}/image", "value": NEW},
        {"op": "replace", "path": f"{base}/image", "value": OLD},
    ]


def test_a_changed_command_is_what_gets_restored() -> None:
    """The rollout changed the command too: the command is the suspect, as for any command that cannot run."""
    diagnosis = diagnose(_context(_crashed("app", 1), "exec /app/serve: exec format error\n", command=["/app/serve"]).bundle)
    assert diagnosis.fix is not None and "command" in diagnosis.fix.summary and OLD not in diagnosis.fix.summary


def test_the_same_image_as_before_gets_no_patch_but_the_build_to_make() -> None:
    diagnosis = diagnose(_context(_crashed("app", 1), "exec /app/server: exec format error\n", image=OLD).bundle)
    assert diagnosis.rca.category is Category.BAD_COMMAND and diagnosis.fix is None
