"""dependency_unavailable: the workload fails because an in-cluster Service it calls has nothing healthy behind it.

Signal: an unhealthy container's log shows connections to an in-cluster Service refused (`connect:
connection refused`, `ECONNREFUSED`, `[Errno 111]`, …) or timing out without a NetworkPolicy that
explains it. The collector followed that Service to its Endpoints and to the workload behind it
(the owner of the pods it selects, or the workload it was meant to select), and the engine
diagnosed that workload as if it were the target.

The root cause reported is the upstream workload's own diagnosis (a selector that matches none of
its pods, a crash loop, a bad image, …), with its steps and evidence, and its fix — a guarded patch
on the upstream workload or Service — as this diagnosis' fix. When nothing stands behind the
Service, or the upstream looks healthy, manual steps name the Service and what to check.
"""

from __future__ import annotations

from dataclasses import replace

from aegis.core import objects
from aegis.core.analyzers import connectivity, network_policy_blocked
from aegis.core.analyzers.base import Context, Finding, Upstream
from aegis.core.analyzers.connectivity import FailingCall
from aegis.core.models import Category


def analyze(ctx: Context) -> Finding | None:
    if ctx.pod is None or not ctx.upstream:
        return None
    for call in reversed(connectivity.failing_calls(ctx)):
        if call.failure.kind not in ("refused", "timeout", "unreachable"):
            continue
        target = connectivity.service_for(ctx, call.failure.host)
        upstream = ctx.upstream.get(target) if target else None
        if upstream is None:
            continue
        if call.failure.kind in ("timeout", "unreachable") and network_policy_blocked.analyze(ctx) is not None:
            return None  # dropped by a policy: that analyzer names it
        return _finding(ctx, call, upstream)
    return None


def _finding(ctx: Context, call: FailingCall, upstream: Upstream) -> Finding:
    dep = upstream.dependency
    ns, name = dep.service.namespace, dep.service.name
    service = connectivity.service_object(ctx, dep)
    selector = ((service or {}).get("spec") or {}).get("selector") or {}
    pods = connectivity.selected_pods(dep, service) if service else []
    ready = connectivity.ready_addresses(ctx, dep)
    workload = dep.bundle.workload if dep.bundle else None
    wname = f"{str(workload.get('kind', '')).lower()}/{objects.name(workload)}" if workload else None
    svc_keys = (f"dependency:Service/{ns}/{name}", f"dependency:Endpoints/{ns}/{name}")
    how = {"refused": "are refused", "unreachable": "find no route to the host"}.get(call.failure.kind, "time out")
    steps = [
        f"Container {call.state.name} of pod {call.state.pod_name} fails: its connections to {call.failure.host}"
        f"{':' + str(call.failure.port) if call.failure.port else ''}{call.failure.provenance} {how}: "
        f"'{call.failure.line[:200]}'{ctx.cite(call.log_key, call.state.key)}",
        f"{call.failure.host} is Service {name} in namespace {ns}; it selects {_show(selector)}, which {len(pods)} pod(s) match, and its "
        f"Endpoints list {ready if ready is not None else 'an unknown number of'} ready address(es){ctx.cite(*svc_keys)}",
    ]
    finding = upstream.finding
    if finding is not None and workload is not None:
        cited = list(finding.evidence_ids) or ctx.evidence.ids(*svc_keys)
        steps.append(f"Followed the Service to {wname}, diagnosed on its own as {finding.category.value}: {finding.summary} [{', '.join(cited)}]")
        steps += [f"{wname}: {step}" for step in finding.steps]
        fix = replace(finding.fix, target=finding.fix.target or workload) if finding.fix else None
        return Finding(
            category=Category.DEPENDENCY_UNAVAILABLE,
            confidence=0.9,
            summary=(
                f"Container {call.state.name} fails because its dependency, Service {name}, has no ready endpoints"
                if not ready
                else f"Container {call.state.name} fails because its dependency, Service {name}, does not serve it"
            )
            + f": root cause upstream in {wname} — {finding.category.value}: {finding.summary}",
            steps=steps,
            evidence_ids=[*ctx.evidence.ids(call.log_key, call.state.key, *svc_keys), *finding.evidence_ids],
            fix=fix,
            manual_steps=[f"{wname}: {step}" for step in finding.manual_steps],
        )
    if workload is None:
        steps.append(f"No pods match the selector and no workload in namespace {ns} resembles it: nothing serves Service {name}{ctx.cite(*svc_keys)}")
        manual = [
            f"Deploy the workload Service {name} is meant for in namespace {ns}, or set its spec.selector to the labels of the pods that "
            f"should serve it: `kubectl -n {ns} edit service {name}`."
        ]
        summary = f"Container {call.state.name} fails because Service {name}, which it calls, selects no pods and no workload serves it."
    else:
        steps.append(
            f"{wname} shows no failure AEGIS recognizes, yet the Service has {ready if ready is not None else 'unknown'} ready address(es) for it"
            f"{ctx.cite(*svc_keys)}"
        )
        port, _ = connectivity.target_port(service or {}, call.failure.port, pods)
        manual = [
            f"Check that {wname} listens on the Service's target port {port} and is Ready: `kubectl -n {ns} get endpoints {name}` and "
            f"`kubectl -n {ns} describe {wname}`; compare Service {name}'s targetPort with the container's ports."
        ]
        summary = f"Container {call.state.name} fails because its dependency, Service {name} ({wname}), does not accept its connections."
    return Finding(
        category=Category.DEPENDENCY_UNAVAILABLE,
        confidence=0.8 if workload is None else 0.6,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids(call.log_key, call.state.key, *svc_keys),
        manual_steps=manual,
    )


def _show(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "(no selector)"
