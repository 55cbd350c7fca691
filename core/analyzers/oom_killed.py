"""oom_killed: a container is killed by the kernel because it outgrew its memory limit.

Signal: a container (app, sidecar or init) of the focus pod whose last termination has reason
OOMKilled (usually exit 137). Liveness failures and back-off around it are symptoms: the kill is
the root, so this class wins over a liveness diagnosis. Fix: raise that container's memory limit
in the owning workload by `policy.memory_limit_factor` (or back to the previous revision's limit
when the last rollout lowered it), rounded up to whole Mi and never above
`policy.memory_limit_max_mib`, keeping the request at or below the limit. A container already at
the ceiling, or one with no limit at all (the node ran out of memory), gets no patch: a human must
look at the memory use itself.
"""

from __future__ import annotations

import re

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, PatchOperation, Risk
from aegis.core.objects import quantity

# What runtimes print when they run out of heap: supporting evidence only, never the signal.
_LOG_HINTS = re.compile(
    r"OutOfMemoryError|out of memory|JavaScript heap out of memory|MemoryError|Cannot allocate memory|"
    r"memory allocation of \d+ bytes failed|fatal error: runtime: out of memory|NoMemoryError|heap limit|Pause Full|GC overhead",
    re.I,
)


def oom_victim(ctx: Context) -> ContainerState | None:
    """The focus pod's container whose last termination was OOMKilled (app containers first)."""
    states = signals.container_states(ctx, init=False) + signals.container_states(ctx, init=True)
    for state in states:
        term = state.last_terminated
        if term.get("reason") == "OOMKilled":
            return state
    return None


def analyze(ctx: Context) -> Finding | None:
    state = oom_victim(ctx)
    if state is None:
        return None
    term = state.last_terminated
    text, log_key = signals.log_text(ctx, state)
    hint = next((line.strip() for line in text.splitlines() if _LOG_HINTS.search(line)), "")
    containers = signals.container_states(ctx, init=False)
    role = ""
    if len(containers) > 1 and not state.init:
        role = " (a sidecar)" if state.index > 0 else " (the main container)"
    kind = "init container" if state.init else "container"
    limit = ((state.spec.get("resources") or {}).get("limits") or {}).get("memory")
    steps = [
        f"{kind.capitalize()} {state.name}{role} of pod {state.pod_name} last terminated with reason OOMKilled, "
        f"exit code {term.get('exitCode')}, after {state.restarts} restarts; it is now "
        f"{state.waiting_reason or ('running' if state.running else 'not running')}{ctx.cite(state.key, 'event:BackOff')}",
        f"Its memory limit is {limit or 'not set'}: the kernel's OOM killer ended the process when the container's memory use reached it{ctx.cite(state.key)}",
    ]
    if hint:
        steps.append(f"Its log shows the memory exhaustion from inside the process: {hint[:140]}{ctx.cite(log_key or '')}")
    probe_kills = _liveness_symptoms(ctx, state.name)
    if probe_kills:
        steps.append(
            f"There are also {probe_kills} liveness-probe failure/kill events for {state.name}: a process starved of memory "
            f"stops answering its probe, so these are a symptom of the OOM kills, not the cause{ctx.cite('event:Unhealthy', 'event:Killing')}"
        )
    previous_limit = _previous_limit(ctx, state)
    if previous_limit is not None:
        steps.append(f"The last rollout lowered its memory limit from {previous_limit} to {limit}{ctx.cite('change:rollout')}")
    draft, manual, verdict = _fix(ctx, state, previous_limit)
    steps.append(ctx.cited(verdict, state.key, "change:rollout"))
    summary = (
        f"{kind.capitalize()} {state.name}{role} of pod {state.pod_name} is repeatedly OOMKilled: its memory use exceeds its limit of {limit}."
        if limit
        else f"{kind.capitalize()} {state.name} of pod {state.pod_name} was OOMKilled with no memory limit set: the node ran out of memory."
    )
    return Finding(
        category=Category.OOM_KILLED,
        confidence=0.95 if state.restarts > 0 else 0.85,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(
            state.key,
            "event:BackOff",
            *([log_key] if log_key and hint else []),
            *(["event:Unhealthy", "event:Killing"] if probe_kills else []),
            *(["change:rollout"] if previous_limit is not None else []),
        ),
        fix=draft,
        manual_steps=manual,
    )


# A container killed this soon after it started, again and again, fills any limit: it is not short of headroom.
_FAST_KILL_SECONDS = 10.0


def _unbounded_growth(ctx: Context, state: ContainerState, limit: str) -> str:
    """Why the memory grows without bound ("" when nothing says so): an earlier raise did not stop the kills, or they come within seconds."""
    current, previous = template_pair(ctx.bundle)
    if current and previous:
        before = objects.find_container(previous.get("spec") or {}, state.name)
        old = ((before[0].get("resources") or {}).get("limits") or {}).get("memory") if before else None
        old_b, now_b = quantity.parse(old), quantity.parse(limit)
        running = ((state.spec.get("resources") or {}).get("limits") or {}).get("memory")
        if old_b is not None and now_b is not None and old_b < now_b and quantity.parse(running) == now_b:
            return f"the last rollout already raised its limit from {old} to {limit} and it is still OOMKilled at the new limit"
    term = state.last_terminated
    started, finished = objects.parse_time(term.get("startedAt")), objects.parse_time(term.get("finishedAt"))
    if started and finished and state.restarts >= 2:
        seconds = (finished - started).total_seconds()
        # Equal stamps say nothing (a runtime that did not record the run); a positive, tiny run does.
        if 0 < seconds <= _FAST_KILL_SECONDS:
            return f"it reached its {limit} limit {seconds:g} s after it started, on its {state.restarts}th restart"
    return ""


def _liveness_symptoms(ctx: Context, container: str) -> int:
    count = 0
    for event in ctx.bundle.events:
        message = str(event.get("message", ""))
        field_path = str((event.get("involvedObject") or {}).get("fieldPath", ""))
        named = f"{{{container}}}" in field_path or f"Container {container} " in message
        if named and (message.startswith("Liveness probe failed") or "failed liveness probe" in message):
            count += int(event.get("count") or 1)
    return count


def _previous_limit(ctx: Context, state: ContainerState) -> str | None:
    """The previous revision's memory limit for this container, when it was higher than now."""
    current, previous = template_pair(ctx.bundle)
    if not current or not previous:
        return None
    found = objects.find_container(previous.get("spec") or {}, state.name)
    if not found:
        return None
    old = ((found[0].get("resources") or {}).get("limits") or {}).get("memory")
    now = ((state.spec.get("resources") or {}).get("limits") or {}).get("memory")
    old_b, now_b = quantity.parse(old), quantity.parse(now)
    if old_b is not None and now_b is not None and old_b > now_b:
        return str(old)
    return None


def _fix(ctx: Context, state: ContainerState, previous_limit: str | None) -> tuple[FixDraft | None, list[str], str]:
    """(draft, manual steps, the closing analysis step)."""
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=state.init)
    if workload is None or index is None:
        return (
            None,
            [f"Raise the memory limit of container {state.name} in its owning workload."],
            (f"No fix — container {state.name} is not in a workload template AEGIS can patch"),
        )
    container = objects.containers(objects.pod_spec(workload), init=state.init)[index]
    resources = container.get("resources") or {}
    limit = (resources.get("limits") or {}).get("memory")
    request = (resources.get("requests") or {}).get("memory")
    limit_b = quantity.parse(limit)
    ceiling = ctx.policy.memory_limit_max_mib
    if limit is None or limit_b is None:
        return (
            None,
            [
                f"Container {state.name} has no memory limit, so the kill came from memory pressure on node "
                f"{(state.pod.get('spec') or {}).get('nodeName', '(unknown)')}, not from a limit AEGIS could raise.",
                f"Measure its real use (kubectl top pod {state.pod_name} --containers) and set requests.memory to it so the "
                "scheduler reserves the memory, and a limit above it.",
            ],
            f"No fix — container {state.name} has no memory limit to raise",
        )
    limit_mib = quantity.mib_ceil(limit_b)
    growth = _unbounded_growth(ctx, state, limit)
    if growth:
        return (
            None,
            [
                f"Do not raise the memory limit of container {state.name}: {growth}, so more memory only delays the next kill.",
                "Find what grows: a heap dump or memory profile of a run, an unbounded cache, queue or buffer, a leak in "
                "the version the pods run (compare with the last version that ran within its limit).",
                "If the growth began with a rollout, roll that release back while it is investigated.",
            ],
            f"No fix — {growth}: the memory grows without bound, and a higher limit would only be hit later",
        )
    if limit_mib >= ceiling:
        return (
            None,
            [
                f"Container {state.name} already has a memory limit of {limit}, at or above the ceiling AEGIS may propose "
                f"({ceiling}Mi, policy memory_limit_max_mib): raising it further needs a human decision.",
                "Look for a leak or an unbounded cache (heap dump, memory profile of the previous run's log), or lower the "
                "application's own memory settings (e.g. -Xmx, worker count, batch size).",
                "If the workload truly needs more, raise the limit by hand and check that the nodes can fit it.",
            ],
            f"No fix — the memory limit {limit} is already at the {ceiling}Mi ceiling of the analysis policy",
        )
    factor = ctx.policy.memory_limit_factor
    wanted = quantity.mib_ceil(limit_b * factor)
    reason = f"{factor:g}× the current {limit}"
    previous_b = quantity.parse(previous_limit)
    if previous_b is not None and quantity.mib_ceil(previous_b) > wanted:
        wanted, reason = quantity.mib_ceil(previous_b), f"the previous revision's {previous_limit}"
    new_mib = min(wanted, ceiling)
    capped = new_mib < wanted
    new_limit = f"{new_mib}Mi"
    base = patching.container_path(workload, index, init=state.init)
    ops: list[PatchOperation] = [patching.test(f"{base}/name", state.name)]
    ops += patching.replace(f"{base}/resources/limits/memory", limit, new_limit)
    request_note = ""
    request_b = quantity.parse(request)
    if request is None:
        # Without a request the API server defaults it to the limit: pin it to the old limit so the
        # scheduling footprint does not silently grow with the new limit.
        if resources.get("requests"):
            ops.append(PatchOperation(op="add", path=f"{base}/resources/requests/memory", value=limit))
        else:
            ops.append(PatchOperation(op="add", path=f"{base}/resources/requests", value={"memory": limit}))
        request_note = (
            f" The container had no memory request, which defaults to the limit; the patch pins the request at the old "
            f"limit ({limit}) so each pod does not reserve {new_mib - limit_mib}Mi more on its node."
        )
    elif request_b is not None and request_b > new_mib * quantity.MIB:
        ops += patching.replace(f"{base}/resources/requests/memory", request, new_limit)
        request_note = " The request is lowered to the new limit so request ≤ limit holds."
    else:
        request_note = f" The request ({request}) stays as it is and remains below the new limit."
    summary = f"raise the memory limit of container {state.name} from {limit} to {new_limit}"
    rationale = (
        f"Container {state.name} is killed each time its memory reaches the {limit} limit. {new_limit} is {reason}"
        + (f", capped at the {ceiling}Mi policy ceiling" if capped else "")
        + f", rounded up to whole Mi: enough headroom to stop the kills if the use is legitimate, bounded so a leak "
        f"cannot take the node.{request_note}"
    )
    return (
        FixDraft(
            ops=ops,
            summary=summary,
            rationale=rationale,
            risk=Risk.LOW if new_mib <= 2048 else Risk.MEDIUM,
            risk_notes=(
                f"Rolling restart of the workload's pods. Each {state.name} may now use up to {new_mib - limit_mib}Mi more "
                "memory on its node; if the use is a leak, the kills come back later, only slower."
            ),
            alternatives_rejected=[
                "Restarting the pod: it would be killed again at the same limit.",
                "Removing the memory limit: one leaking container could then exhaust the node and get others evicted.",
                "Rolling back the whole workload: the limit, not the code, is what the evidence points at"
                + (" (the rollout did lower it, so the patch restores that value instead)." if previous_b is not None else "."),
            ],
        ),
        [],
        f"Fix: {summary} ({reason}{', capped' if capped else ''})",
    )
