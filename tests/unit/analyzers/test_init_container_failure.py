"""init_container_failure: the init container's own cause decides the fix (missing variable, command, rollout change)."""

from __future__ import annotations

from typing import Any

from aegis.core.analyzers import init_container_failure
from aegis.core.models import Category
from tests.unit.analyzers.contexts import deployment_context


def _init_crashed(name: str = "setup", code: int = 1, reason: str = "Error", message: str = "") -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code, "reason": reason}
    if message:
        term["message"] = message
    return {"name": name, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": term}}


_APP = [{"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]


def _spec(init: dict[str, Any]) -> dict[str, Any]:
    return {"initContainers": [{"name": "setup", "image": "setup:1", **init}], "containers": [{"name": "app", "image": "app:1"}]}


def test_shell_unset_variable_is_added_from_a_configmap_key() -> None:
    """'PGHOST: parameter not set' from a shell init script adds PGHOST from the ConfigMap that holds it."""
    ctx = deployment_context(
        _spec({"command": ["sh", "-c", "set -u; pg_isready -h ${PGHOST}"]}),
        statuses=_APP,
        init_statuses=[_init_crashed(code=2)],
        configmaps={"db-settings": ["PGHOST", "PGPORT"]},
        logs={("setup", True): "/scripts/wait.sh: 3: PGHOST: parameter not set\n"},
    )
    finding = init_container_failure.analyze(ctx)
    assert finding is not None and finding.category is Category.INIT_CONTAINER_FAILURE and finding.fix is not None
    ops = [op.as_json() for op in finding.fix.ops]
    assert {
        "op": "add",
        "path": "/spec/template/spec/initContainers/0/env",
        "value": [{"name": "PGHOST", "valueFrom": {"configMapKeyRef": {"name": "db-settings", "key": "PGHOST"}}}],
    } in ops


def test_init_start_error_restores_the_previous_command() -> None:
    """An init container the runtime cannot exec, whose command the rollout changed, gets the previous command back."""
    message = 'exec: "/bin/migrate": stat /bin/migrate: no such file or directory: unknown'
    ctx = deployment_context(
        _spec({"command": ["/bin/migrate"]}),
        statuses=_APP,
        init_statuses=[_init_crashed(code=128, reason="StartError", message=message)],
        previous=_spec({"command": ["/usr/local/bin/migrate"]}),
    )
    finding = init_container_failure.analyze(ctx)
    assert finding is not None and finding.fix is not None
    assert {"op": "replace", "path": "/spec/template/spec/initContainers/0/command", "value": ["/usr/local/bin/migrate"]} in [
        op.as_json() for op in finding.fix.ops
    ]


def test_unchanged_init_container_failing_on_a_dependency_gives_manual_steps() -> None:
    """An unchanged init container that fails on its dependency has no known-good state to restore: no patch, steps quote its error."""
    ctx = deployment_context(
        _spec({"command": ["wait-for", "db:5432"]}),
        statuses=_APP,
        init_statuses=[_init_crashed()],
        previous=_spec({"command": ["wait-for", "db:5432"]}),
        logs={("setup", True): "wait-for: waiting for db:5432\nwait-for: timeout after 60s, db:5432 unreachable\n"},
    )
    finding = init_container_failure.analyze(ctx)
    assert finding is not None and finding.fix is None and finding.manual_steps
    assert any("timeout after 60s" in step for step in finding.steps)


def test_completed_init_container_is_not_a_failure() -> None:
    """An init container that exited 0 (even after logging errors while it waited) is not init_container_failure."""
    done = {"name": "setup", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    ctx = deployment_context(_spec({}), statuses=_APP, init_statuses=[done], logs={("setup", False): "error: db not ready, retrying\ndb is up\n"})
    assert init_container_failure.analyze(ctx) is None


def test_oom_killed_init_container_is_left_to_oom_killed() -> None:
    """An init container killed for memory is the OOM class's, not this one's."""
    ctx = deployment_context(_spec({}), statuses=_APP, init_statuses=[_init_crashed(code=137, reason="OOMKilled")])
    assert init_container_failure.analyze(ctx) is None
