"""bad_command: runtime and shell phrasings are recognized, and only a changed command is restored."""

from __future__ import annotations

from typing import Any

from aegis.core.analyzers import bad_command
from aegis.core.models import Category
from tests.unit.analyzers.contexts import deployment_context


def _crashed(name: str, code: int, reason: str, message: str = "") -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code, "reason": reason}
    if message:
        term["message"] = message
    return {"name": name, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": term}}


_NOT_IN_PATH = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start "
    'container process: exec: "srv": executable file not found in $PATH: unknown'
)
_NO_FILE = (
    "OCI runtime create failed: runc create failed: unable to start container process: error during container init: "
    'exec: "/opt/app/run": stat /opt/app/run: no such file or directory: unknown'
)


def test_runtime_messages_name_the_executable() -> None:
    """Both containerd phrasings (not in $PATH, stat: no such file) give the executable and a strong signal."""
    for message, exe in ((_NOT_IN_PATH, "srv"), (_NO_FILE, "/opt/app/run")):
        spec = {"containers": [{"name": "app", "image": "app:1", "command": [exe]}]}
        finding = bad_command.analyze(deployment_context(spec, statuses=[_crashed("app", 128, "StartError", message)]))
        assert finding is not None and finding.category is Category.BAD_COMMAND
        assert exe in finding.summary and finding.confidence >= 0.9


def test_changed_command_is_restored_and_new_args_removed() -> None:
    """When the rollout changed command and added args, the fix restores the command and removes the args, each guarded."""
    spec = {"containers": [{"name": "app", "image": "app:1", "command": ["srv"], "args": ["--fast"]}]}
    previous = {"containers": [{"name": "app", "image": "app:1", "command": ["server"]}]}
    finding = bad_command.analyze(deployment_context(spec, statuses=[_crashed("app", 128, "StartError", _NOT_IN_PATH)], previous=previous))
    assert finding is not None and finding.fix is not None and finding.confidence == 0.95
    ops = [op.as_json() for op in finding.fix.ops]
    base = "/spec/template/spec/containers/0"
    assert ops == [
        {"op": "test", "path": f"{base}/name", "value": "app"},
        {"op": "test", "path": f"{base}/command", "value": ["srv"]},
        {"op": "replace", "path": f"{base}/command", "value": ["server"]},
        {"op": "test", "path": f"{base}/args", "value": ["--fast"]},
        {"op": "remove", "path": f"{base}/args"},
    ]


def test_shell_exit_127_without_a_known_good_command_gives_manual_steps() -> None:
    """Exit 127 with '/bin/sh: 1: gunicorn: not found' is bad_command; with no earlier command to restore, no patch."""
    spec = {"containers": [{"name": "web", "image": "py:1", "command": ["/bin/sh", "-c", "gunicorn app:app"]}]}
    ctx = deployment_context(spec, statuses=[_crashed("web", 127, "Error")], logs={("web", True): "/bin/sh: 1: gunicorn: not found\n"})
    finding = bad_command.analyze(ctx)
    assert finding is not None and finding.fix is None
    assert "gunicorn" in finding.summary
    assert finding.manual_steps and "gunicorn" in finding.manual_steps[0]


def test_app_exit_1_mentioning_a_missing_file_is_not_bad_command() -> None:
    """An app that exits 1 because its config file is missing ran its command fine: not bad_command."""
    spec = {"containers": [{"name": "api", "image": "api:1", "command": ["/usr/local/bin/api"]}]}
    ctx = deployment_context(
        spec, statuses=[_crashed("api", 1, "Error")], logs={("api", True): "fatal: open /etc/api/config.yaml: no such file or directory\n"}
    )
    assert bad_command.analyze(ctx) is None


def test_redacted_command_is_never_written_back() -> None:
    """A previous command holding a redacted value is not restored (it could be neither guarded nor written)."""
    spec = {"containers": [{"name": "app", "image": "app:1", "command": ["srv", "--token=abc"]}]}
    previous = {"containers": [{"name": "app", "image": "app:1", "command": ["server", "--token=[REDACTED]"]}]}
    finding = bad_command.analyze(deployment_context(spec, statuses=[_crashed("app", 128, "StartError", _NOT_IN_PATH)], previous=previous))
    assert finding is not None and finding.fix is None and finding.manual_steps
