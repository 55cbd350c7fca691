"""dns_resolution_failure: the workload calls a host name that does not resolve.

Signal: an unhealthy container's log reports a failed name lookup for a host (`no such host`,
NXDOMAIN, `Name or service not known`, `Temporary failure in name resolution`, `UnknownHostException`,
`getaddrinfo ENOTFOUND`, …). A lookup that times out is the resolver being unreachable, not the
name (network_policy_blocked when a policy explains it).

The diagnosis names the host and where the workload gets it: an env value in the pod template, a
ConfigMap key the env reads (its value is kept when it is an address), or the container's args or
command. It names the Service in the namespace the host most resembles.
Fix: when the last rollout changed that env value or argument, restore the previous revision's
value (guarded). Otherwise manual steps name the object and the field to correct.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any

from aegis.core import objects
from aegis.core.analyzers import connectivity, network_policy_blocked
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.connectivity import FailingCall
from aegis.core.evidence import netlog
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, Risk
from aegis.core.redaction import MARKER


@dataclass(frozen=True)
class Source:
    """Where a container gets the host: an env value, a ConfigMap key the env reads, or an argument."""

    what: str  # "env" | "configmap" | "args" | "command"
    name: str  # env var name, ConfigMap key, or argument index
    detail: str  # for people: `env LEDGER_URL`, `ConfigMap app-config key LEDGER_HOST`
    index: int | None = None  # the env entry's or argument's index in the container
    configmap: str | None = None


def analyze(ctx: Context) -> Finding | None:
    if ctx.pod is None:
        return None
    calls = [_as_written(ctx, c) for c in reversed(connectivity.failing_calls(ctx)) if c.failure.kind == "dns" and c.failure.host]
    if not calls:
        return None
    if all(netlog.resolver_trouble(c.failure.line) for c in calls) and network_policy_blocked.analyze(ctx) is not None:
        return None  # the resolver is unreachable because a policy drops port 53: that analyzer names it
    # nslookup and dig report each search-domain expansion they tried; the name the workload names is the one to fix.
    return _finding(ctx, next((c for c in calls if _sources(ctx, c.state.spec, c.failure.host)), calls[0]))


def _as_written(ctx: Context, call: FailingCall) -> FailingCall:
    """The call with the host as the container wrote it when the log shows it expanded by a resolv.conf search domain."""
    host = call.failure.host.rstrip(".")
    for suffix in (f".{ctx.bundle.namespace}.svc.cluster.local", ".svc.cluster.local", ".cluster.local"):
        short = host.removesuffix(suffix)
        if short != host and short and _sources(ctx, call.state.spec, short):
            return dataclasses.replace(call, failure=dataclasses.replace(call.failure, host=short))
    return call


def _finding(ctx: Context, call: FailingCall) -> Finding:
    host = call.failure.host
    state = call.state
    sources = _sources(ctx, state.spec, host)
    names = [objects.name(s) for s in ctx.bundle.services]
    short = host.split(".")[0]
    close = difflib.get_close_matches(short, [n for n in names if n != short], n=1, cutoff=0.7)
    steps = [
        f"Container {state.name} of pod {state.pod_name} fails: the name {host} does not resolve: '{call.failure.line[:200]}'"
        f"{ctx.cite(call.log_key, state.key)}",
    ]
    if sources:
        where = "; ".join(s.detail for s in sources)
        steps.append(f"The container gets {host} from {where}{ctx.cite(state.key, *(f'config:ConfigMap/{s.configmap}' for s in sources if s.configmap))}")
    else:
        steps.append(f"{host} is not in the container's env, args or command: it comes from the image or a mounted file{ctx.cite(state.key)}")
    in_cluster = connectivity.service_for(ctx, host)
    if ctx.bundle.knows("Service"):
        exists = in_cluster is not None and in_cluster[0] == ctx.bundle.namespace and in_cluster[1] in names
        if close:
            steps.append(
                f"No Service {short} exists in namespace {ctx.bundle.namespace}; Service {close[0]} does — a likely misspelling"
                + ctx.cite(f"config:Service/{close[0]}", state.key)
            )
        elif not exists:
            steps.append(f"No Service named {short} exists in namespace {ctx.bundle.namespace}{ctx.cite(state.key)}")
    draft, restored = _restore(ctx, call, sources)
    if draft and restored:
        steps.append(f"The last rollout changed {restored}; the previous revision's value did not name {host}{ctx.cite('change:rollout')}")
        steps.append(f"Fix: {draft.summary}{ctx.cite('change:rollout', call.log_key)}")
    else:
        steps.append(f"No earlier revision names another host in the same place: no patch to restore{ctx.cite(call.log_key, state.key)}")
    right = close[0] if close else "the right host"
    manual = [] if draft else [_manual(ctx, state.name, sources, host, right)]
    return Finding(
        category=Category.DNS_RESOLUTION_FAILURE,
        confidence=0.92 if sources else 0.85,
        summary=(
            f"Container {state.name} cannot resolve host {host}"
            + (f" (from {sources[0].detail})" if sources else "")
            + (f"; Service {close[0]} exists — a likely misspelling." if close else ".")
        ),
        steps=steps,
        evidence_ids=ctx.evidence.ids(
            call.log_key,
            state.key,
            *(f"config:ConfigMap/{s.configmap}" for s in sources if s.configmap),
            *([f"config:Service/{close[0]}"] if close else []),
            "change:rollout",
        ),
        fix=draft,
        manual_steps=manual,
    )


def _mentions(value: Any, host: str) -> bool:
    if not isinstance(value, str):
        return False
    text = value.lower()
    h = host.lower()
    start = text.find(h)
    while start >= 0:
        before = text[start - 1] if start else ""
        after = text[start + len(h)] if start + len(h) < len(text) else ""
        if not (before.isalnum() or before in "-_") and not (after.isalnum() or after in "-_"):
            return True
        start = text.find(h, start + 1)
    return False


def _sources(ctx: Context, container: dict[str, Any], host: str) -> list[Source]:
    found: list[Source] = []
    for i, env in enumerate(container.get("env") or []):
        name = str(env.get("name"))
        if _mentions(env.get("value"), host):
            found.append(Source("env", name, f"env {name}={env.get('value')}", index=i))
        ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
        if ref:
            cm = ctx.bundle.find("ConfigMap", str(ref.get("name")))
            if cm is not None and _mentions((cm.get("data") or {}).get(ref.get("key")), host):
                found.append(
                    Source(
                        "configmap",
                        str(ref.get("key")),
                        f"env {name}, read from ConfigMap {ref.get('name')} key {ref.get('key')}",
                        configmap=str(ref.get("name")),
                    )
                )
    for source in container.get("envFrom") or []:
        name = str((source.get("configMapRef") or {}).get("name") or "")
        cm = ctx.bundle.find("ConfigMap", name) if name else None
        for key, value in ((cm or {}).get("data") or {}).items():
            if _mentions(value, host):
                found.append(Source("configmap", str(key), f"ConfigMap {name} key {key} (through envFrom)", configmap=name))
    for field in ("args", "command"):
        for i, arg in enumerate(container.get(field) or []):
            if _mentions(arg, host):
                found.append(Source(field, str(i), f"{field}[{i}] `{arg}`", index=i))
    return found


def _restore(ctx: Context, call: FailingCall, sources: list[Source]) -> tuple[FixDraft | None, str]:
    """A guarded patch restoring the previous revision's env value or argument that named another host."""
    workload = ctx.workload
    current, previous = template_pair(ctx.bundle)
    index = None
    if workload is not None and workload.get("kind") != "Pod":
        index = objects.container_index(objects.pod_spec(workload), call.state.name)
    if workload is None or index is None or previous is None or current is None:
        return None, ""
    old = objects.find_container(previous.get("spec") or {}, call.state.name)
    now = objects.containers(objects.pod_spec(workload))[index]
    if not old:
        return None, ""
    before = old[0]
    base = patching.container_path(workload, index)
    for source in sources:
        if source.what == "env" and source.index is not None:
            entry = (now.get("env") or [])[source.index]
            was = next((e for e in before.get("env") or [] if e.get("name") == source.name), None)
            if not was or "value" not in was or was.get("value") == entry.get("value") or _mentions(was.get("value"), call.failure.host):
                continue
            if MARKER in str(entry.get("value")) or MARKER in str(was["value"]):
                continue  # a redacted value can be neither guarded nor restored
            path = f"{base}/env/{source.index}"
            ops = [
                patching.test(f"{base}/name", call.state.name),
                patching.test(f"{path}/name", source.name),
                *patching.replace(f"{path}/value", entry.get("value"), was["value"]),
            ]
            summary = f"set env {source.name} of container {call.state.name} back to {was['value']} (the previous revision's value)"
            return _draft(ops, summary, call.failure.host, str(was["value"])), f"env {source.name} from {was['value']} to {entry.get('value')}"
        if source.what in ("args", "command") and source.index is not None:
            old_list, new_list = before.get(source.what) or [], now.get(source.what) or []
            if len(old_list) != len(new_list) or old_list[source.index] == new_list[source.index] or _mentions(old_list[source.index], call.failure.host):
                continue
            ops = [
                patching.test(f"{base}/name", call.state.name),
                *patching.replace(f"{base}/{source.what}/{source.index}", new_list[source.index], old_list[source.index]),
            ]
            summary = f"set {source.what}[{source.index}] of container {call.state.name} back to `{old_list[source.index]}`"
            return _draft(ops, summary, call.failure.host, str(old_list[source.index])), f"{source.what}[{source.index}]"
    return None, ""


def _draft(ops: list[Any], summary: str, host: str, value: str) -> FixDraft:
    return FixDraft(
        ops=ops,
        summary=summary,
        rationale=(
            f"The application fails because {host} does not resolve, and the last rollout introduced that name. The previous "
            f"revision's value ({value}) resolved and ran; restoring only that field fixes the address without rolling back the release."
        ),
        risk=Risk.LOW,
        risk_notes="Rolling restart; only the address changes.",
        alternatives_rejected=[
            "Restarting the pods: the name stays unresolvable.",
            "Adding a DNS entry or Service with the misspelled name: hides the typo and leaves two names for one thing.",
        ],
    )


def _manual(ctx: Context, container: str, sources: list[Source], host: str, right: str) -> str:
    workload = ctx.workload or ctx.pod or {}
    kind = str(workload.get("kind", "")).lower()
    if sources and sources[0].what == "configmap":
        return (
            f"Correct key {sources[0].name} of ConfigMap {sources[0].configmap} (it names {host}; use {right}), then restart {kind}/{objects.name(workload)} "
            f"so the pods read it: `kubectl -n {ctx.bundle.namespace} edit configmap {sources[0].configmap}` and "
            f"`kubectl -n {ctx.bundle.namespace} rollout restart {kind}/{objects.name(workload)}`."
        )
    if sources:
        return (
            f"Correct {sources[0].detail.split('=')[0]} of container {container} in {kind}/{objects.name(workload)} (it names {host}; use {right}): "
            f"`kubectl -n {ctx.bundle.namespace} edit {kind} {objects.name(workload)}`."
        )
    return f"Find where {kind}/{objects.name(workload)} gets {host} (image defaults, a mounted config file) and point it at {right}."
