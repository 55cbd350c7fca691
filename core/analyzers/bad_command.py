"""bad_command: a container cannot run its command — the executable is missing or not executable.

Signal: an app container that fails to start with StartError/ContainerCannotRun exit 128 and a
runtime message `exec: "X": executable file not found in $PATH`, `stat X: no such file or
directory` or `permission denied`; or one that exits 127/126 (the shell's "command not found" /
"cannot execute") with a log that says so. Fix: when the last rollout changed the container's
command/args, restore the previous revision's; for "exec format error" (a binary built for another
CPU) when the rollout changed only the image, restore the previous image; otherwise no patch — a
human must correct the command or the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, KubeObject, PatchOperation, Risk
from aegis.core.redaction import MARKER

# The OCI runtime's words, as containerd/CRI-O report them in the terminated/waiting message.
# CRI-O quotes the path with escaped quotes (`exec: \\"foo\\": …`) inside its own msg="…".
_EXEC = re.compile(
    r'exec: \\?"?([^":\\]+)\\?"?: (executable file not found in \$PATH|stat [^:]+: no such file or directory|'
    r"permission denied|no such file or directory|exec format error)"
)
# runc's init, once the container started, prints its exec failure to the container's own log and exits 1
# (a script whose interpreter is missing, CRLF shebangs, an image built for another CPU).
_LOG_EXEC = re.compile(r"(?:^|caused:? )exec (\S+): (no such file or directory|exec format error|permission denied)$")
_LOG_EXEC_BARE = re.compile(r"exec user process caused:? \"?(no such file or directory|exec format error|permission denied)")
# An interpreter that started but cannot open the script or archive the command names (exit 1 or 2).
_SCRIPT_MISSING = (
    re.compile(r"can't open file '([^']+)': \[Errno 2\] No such file or directory"),  # CPython
    re.compile(r"Error: Cannot find module '([^']+)'"),  # Node.js
    re.compile(r"Error: Unable to access jarfile (\S+)"),  # java -jar
    re.compile(r"Error: Could not find or load main class (\S+)"),  # java
    re.compile(r"can't open '?([^'\s]+)'?"),  # busybox/dash sh SCRIPT
    re.compile(r"^(?:\S*/)?(?:ba|da|a|z)?sh: (?:line \d+: |\d+: )?([^:\s]+): No such file or directory$"),  # bash SCRIPT
)
# A shell or exec wrapper failing to find or run the program (exit 127 / 126).
_SHELL = re.compile(
    r"(?:([^:\s]+): (?:command )?not found$|exec ([^:\s]+): no such file or directory"
    r"|([^:\s]+): [Pp]ermission denied|([^:\s]+): cannot execute|can't open '?([^'\s]+)'?"
    # A shebang `#!/usr/bin/env python` whose interpreter the image lacks.
    r"|(?:^|/)env: '?([^':\s]+)'?: No such file or directory"
    r"|^(?:\S*/)?(?:ba|da|a|z)?sh: (?:line \d+: |\d+: )?([^:\s]+): No such file or directory$)"
)
_START_REASONS = ("StartError", "ContainerCannotRun", "RunContainerError", "CreateContainerError")


@dataclass(frozen=True)
class CommandFailure:
    """Why the runtime or shell could not run the container's program."""

    executable: str
    problem: str
    exit_code: int | None
    evidence_key: str
    strong: bool  # the runtime's own message (exit 128), not an inference from exit 126/127


def detect(ctx: Context, state: ContainerState) -> CommandFailure | None:
    """The command failure of one container (app or init), if its status or log shows one."""
    term = state.last_terminated
    code = term.get("exitCode")
    message = " ".join(str(m) for m in (term.get("message"), state.waiting_message) if m)
    reason = str(term.get("reason") or "")
    if (reason in _START_REASONS or state.waiting_reason in _START_REASONS or code == 128) and (m := _EXEC.search(message)):
        return CommandFailure(m.group(1), m.group(2), code, state.key, True)
    if code not in (None, 0, 126, 127):
        return _from_log(ctx, state, code)
    if code in (126, 127):
        text, log_key = signals.log_text(ctx, state)
        for line in reversed(text.splitlines()):
            found = _SHELL.search(line.strip())
            if found:
                exe = next(g for g in found.groups() if g)
                problem = "permission denied" if code == 126 else "command not found"
                return CommandFailure(exe.rstrip(":"), f"{problem} ({line.strip()[:120]})", code, log_key or state.key, True)
        exe = next(iter(_command(state.spec)), "the image's entrypoint")
        return CommandFailure(exe, "not executable" if code == 126 else "not found", code, state.key, False)
    return None


def _from_log(ctx: Context, state: ContainerState, code: int) -> CommandFailure | None:
    """A command failure the log of a run that exited `code` (not 126/127) shows: runc's exec error, or a missing script it names."""
    text, log_key = signals.log_text(ctx, state)
    command = " ".join(_command(state.spec))
    for raw in reversed(text.splitlines()[-50:]):
        line = raw.strip()
        if m := _LOG_EXEC.search(line):
            return CommandFailure(m.group(1), f"{m.group(2)} ({line[:120]})", code, log_key or state.key, True)
        if m := _LOG_EXEC_BARE.search(line):
            exe = next(iter(_command(state.spec)), "the image's entrypoint")
            return CommandFailure(exe, f"{m.group(1)} ({line[:120]})", code, log_key or state.key, True)
        for pattern in _SCRIPT_MISSING:
            m = pattern.search(line)
            # Only what the command itself names: a library the program fails to load is not a bad command.
            if m and command and m.group(1) in command:
                return CommandFailure(m.group(1), f"no such file ({line[:120]})", code, log_key or state.key, True)
    return None


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx, init=False):
        if not (state.crashing or state.waiting_reason in _START_REASONS):
            continue
        failure = detect(ctx, state)
        if failure:
            return _finding(ctx, state, failure)
    return None


def _command(container: dict[str, Any]) -> list[str]:
    return [str(c) for c in (container.get("command") or []) + (container.get("args") or [])]


def previous_container(ctx: Context, name: str, *, init: bool) -> dict[str, Any] | None:
    """The container of this name in the previous revision's pod template."""
    _, previous = template_pair(ctx.bundle)
    if not previous:
        return None
    spec = previous.get("spec") or {}
    index = objects.container_index(spec, name, init=init)
    return None if index is None else objects.containers(spec, init=init)[index]


def restore_fields(workload: KubeObject, index: int, init: bool, old: dict[str, Any], fields: tuple[str, ...]) -> list[PatchOperation]:
    """Guarded ops setting `fields` of a workload container back to `old`'s values (added, replaced or removed).

    Returns [] when a value is redacted (it can be neither guarded nor written back) or nothing differs.
    """
    base = patching.container_path(workload, index, init=init)
    current = objects.containers(objects.pod_spec(workload), init=init)[index]
    ops: list[PatchOperation] = []
    for field in fields:
        now, then = current.get(field), old.get(field)
        if now == then:
            continue
        if MARKER in repr(now) or MARKER in repr(then):
            return []
        path = f"{base}/{field}"
        if then is None:
            ops += [patching.test(path, now), PatchOperation(op="remove", path=path)]
        else:
            ops += patching.set_field(path, now, then)
    return [patching.test(f"{base}/name", current.get("name")), *ops] if ops else []


def _finding(ctx: Context, state: ContainerState, failure: CommandFailure) -> Finding:
    term = state.last_terminated
    previous = previous_container(ctx, state.name, init=False)
    changed = previous is not None and _command(previous) != _command(state.spec)
    shown = " ".join(_command(state.spec)) or "(the image's entrypoint)"
    steps = [
        f"Container {state.name} of pod {state.pod_name} is {state.waiting_reason or 'failing'} with {state.restarts} restarts; "
        f"it last ended with exit code {term.get('exitCode')} ({term.get('reason')}){ctx.cite(state.key, 'event:BackOff', 'event:Failed')}",
        f"The {'runtime' if failure.exit_code == 128 or not failure.exit_code else 'shell'} could not run {failure.executable}: "
        f"{failure.problem}{ctx.cite(failure.evidence_key)}",
        f"The container's command is `{shown}` in image {state.spec.get('image')}{ctx.cite(state.key)}",
    ]
    if changed and previous is not None:
        steps.append(f"The last rollout changed the command from `{' '.join(_command(previous)) or '(image entrypoint)'}`{ctx.cite('change:rollout')}")
    # "exec format error": the kernel cannot run the binary at all, an image built for another CPU.
    # When the rollout changed only the image, the previous image is the one known to run here.
    foreign = "exec format error" in failure.problem and previous is not None and not changed and previous.get("image") != state.spec.get("image")
    arch = _node_arch(ctx, state)
    if foreign and previous is not None:
        steps.append(
            f"'exec format error' means the binary is not built for this node's CPU{f' ({arch})' if arch else ''}: the command is unchanged, "
            f"and the last rollout changed the image from {previous.get('image')} to {state.spec.get('image')}{ctx.cite('change:rollout', state.key)}"
        )
        draft, manual = _image_fix(ctx, state, previous, arch)
    else:
        draft, manual = _fix(ctx, state, previous if changed else None, failure)
    steps.append(
        f"Fix: {draft.summary}{ctx.cite('change:rollout', failure.evidence_key)}"
        if draft
        else f"The previous revision ran the same command — no known-good command to restore, no patch{ctx.cite(state.key)}"
    )
    confidence = 0.95 if changed or foreign else (0.9 if failure.strong else 0.75)
    if foreign and previous is not None:
        cpu = f" ({arch})" if arch else ""
        because = f"; image {state.spec.get('image')} is not built for the node's CPU{cpu} (the last rollout changed it from {previous.get('image')})."
    else:
        because = "; the last rollout changed its command." if changed else "."
    return Finding(
        category=Category.BAD_COMMAND,
        confidence=confidence,
        summary=f"Container {state.name} cannot start: {failure.executable}: {failure.problem.split(' (')[0]}{because}",
        steps=steps,
        evidence_ids=ctx.evidence.ids(*dict.fromkeys([state.key, failure.evidence_key, "event:BackOff", "event:Failed", "change:rollout"])),
        fix=draft,
        manual_steps=manual,
    )


def _node_arch(ctx: Context, state: ContainerState) -> str | None:
    """The CPU architecture of the node the pod runs on, as the kubelet reports it."""
    node_name = (state.pod.get("spec") or {}).get("nodeName")
    node = ctx.bundle.find("Node", str(node_name)) if node_name else None
    if node is None:
        return None
    arch = ((node.get("status") or {}).get("nodeInfo") or {}).get("architecture") or objects.labels(node).get("kubernetes.io/arch")
    return str(arch) if arch else None


def _image_fix(ctx: Context, state: ContainerState, previous: dict[str, Any], arch: str | None) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    cpu = arch or "the nodes' architecture"
    manual = [
        f"Build and push image {state.spec.get('image')} for {cpu} (e.g. `docker buildx build --platform linux/{arch or 'amd64'}`, "
        "or a multi-arch manifest), then re-deploy.",
    ]
    ops = restore_fields(workload, index, False, previous, ("image",)) if workload is not None and index is not None else []
    if not ops:
        return None, manual
    return FixDraft(
        ops=ops,
        summary=f"restore container {state.name}'s image to the previous revision's {previous.get('image')}",
        rationale=(
            f"The kernel cannot execute the binary of {state.spec.get('image')} (exec format error): it is built for another CPU than {cpu}. "
            "The rollout changed only the image; the previous one ran on these nodes."
        ),
        risk=Risk.MEDIUM,
        risk_notes="Rolling restart; the workload runs the previous version's code until an image for this architecture is pushed.",
        alternatives_rejected=[
            "Restarting the pod: the same image fails the same way on every node of this architecture.",
            "Pinning the pods to nodes of another architecture: none may exist, and it hides a broken build.",
        ],
    ), manual


def _fix(ctx: Context, state: ContainerState, previous: dict[str, Any] | None, failure: CommandFailure) -> tuple[FixDraft | None, list[str]]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=False)
    manual = [
        f"Correct the command of container {state.name}: {failure.executable} does not run in image {state.spec.get('image')} "
        f"({failure.problem.split(' (')[0]}). Check the image's entrypoint and paths (e.g. `docker inspect`, or `ls -l` in a debug container).",
        "If the image changed, confirm it still ships that binary with the executable bit set; then re-deploy.",
    ]
    if workload is None or index is None or previous is None:
        return None, manual
    ops = restore_fields(workload, index, False, previous, ("command", "args"))
    if not ops:
        return None, manual
    old = " ".join(_command(previous)) or "the image's entrypoint"
    return FixDraft(
        ops=ops,
        summary=f"restore container {state.name}'s command to the previous revision's `{old}`",
        rationale=(
            f"The runtime cannot run {failure.executable}, and the last rollout is what changed the command; the previous "
            "revision ran with its command. Restoring only command/args keeps the rest of the rollout (image, env, resources)."
        ),
        risk=Risk.LOW,
        risk_notes="Rolling restart of the workload's pods. If the new command was meant to enable a new behaviour, that change is undone until corrected.",
        alternatives_rejected=[
            "Restarting the pod: the same command would fail the same way.",
            "Rolling back the whole workload: also reverts the image and other changes; the command alone is what broke.",
        ],
    ), []
