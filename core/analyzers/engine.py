"""Run every analyzer over a bundle and turn the best finding into a Diagnosis.

When several failure classes show at once, the one with the highest confidence wins; ties go
to the class nearer the root (a liveness kill caused by OOM is `oom_killed`; a rollout stuck
because its pods crash is the crash's class). No finding means `unknown`, with what was checked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

from aegis.core import objects
from aegis.core.analyzers import registry
from aegis.core.analyzers.base import AnalysisPolicy, Context, Finding, FixDraft, Upstream
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import EvidenceSet, extract
from aegis.core.fixes.diff import workload_diff
from aegis.core.fixes.verification import plan_for
from aegis.core.models import Category, Diagnosis, EvidenceId, FixProposal, KubeObject, RCAResult

# Nearer the root first: used only to break confidence ties.
PRECEDENCE: list[Category] = [
    Category.MISSING_CONFIG_REFERENCE, Category.MISSING_ENV_VAR, Category.BAD_COMMAND, Category.IMAGE_PULL_ERROR,
    Category.OOM_KILLED, Category.VOLUME_FAILURE, Category.INIT_CONTAINER_FAILURE, Category.UNSCHEDULABLE_RESOURCES,
    Category.UNSCHEDULABLE_CONSTRAINTS, Category.APP_ERROR_AFTER_ROLLOUT, Category.LIVENESS_PROBE_FAILURE,
    Category.READINESS_PROBE_FAILURE, Category.EVICTED, Category.SERVICE_SELECTOR_MISMATCH, Category.ROLLOUT_STUCK,
    # issue 14 (i14c): a lost node and a full disk explain their pods' failures; a refused or failed
    # Job is named after its cause when that cause has a class of its own at higher confidence.
    Category.NODE_NOT_READY, Category.DISK_FULL, Category.QUOTA_EXCEEDED, Category.JOB_FAILED,
    # issue 14 (i14a): a crash whose logs name a refused API call, a host or a peer is that cause's.
    Category.RBAC_FORBIDDEN, Category.DNS_RESOLUTION_FAILURE, Category.NETWORK_POLICY_BLOCKED, Category.DEPENDENCY_UNAVAILABLE,
    Category.UNKNOWN,
]  # fmt: skip

Analyzer = Callable[[Context], Finding | None]


def run_analyzers(ctx: Context, analyzers: list[Analyzer] | None = None) -> list[Finding]:
    findings = [f for f in (a(ctx) for a in (analyzers or registry.ANALYZERS)) if f is not None]
    return sorted(findings, key=lambda f: (-f.confidence, PRECEDENCE.index(f.category)))


def diagnose(bundle: ObjectBundle, policy: AnalysisPolicy | None = None, notes: list[str] | None = None) -> Diagnosis:
    """The whole deterministic diagnosis of a collected bundle; pure, no I/O."""
    started = time.perf_counter()
    evidence = extract(bundle)
    policy = policy or AnalysisPolicy()
    ctx = Context(bundle=bundle, evidence=evidence, policy=policy, upstream=_upstream(bundle, evidence, policy))
    findings = run_analyzers(ctx)
    finding = _bare_pod_by_hand(bundle, findings[0]) if findings else _unknown(ctx)
    finding = _immutable_template(bundle, finding)
    fix = _proposal(bundle, finding.fix) if finding.fix and (finding.fix.target or bundle.workload) else None
    others = [f"{f.category.value} (confidence {f.confidence:.2f}): {f.summary}" for f in findings[1:3]]
    rca = RCAResult(
        category=finding.category,
        summary=finding.summary,
        confidence=finding.confidence,
        analysis_steps=finding.steps,
        evidence_summary=_evidence_bullets(evidence, finding),
        evidence_ids=finding.evidence_ids,
    )
    return Diagnosis(
        target=bundle.target,
        workload=bundle.workload_ref,
        template_digest=bundle.template_digest,
        rca=rca,
        evidence=evidence.items,
        fix=fix,
        manual_steps=finding.manual_steps,
        # A shadow copy verifies a workload or a Service; a claim's expansion has nothing to copy.
        verification_plan=plan_for(bundle, finding.category) if fix and fix.target.kind != "PersistentVolumeClaim" else None,
        notes=[*(notes or []), *(f"also considered: {o}" for o in others)],
        analyzed_at=bundle.observed_at,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _immutable_template(bundle: ObjectBundle, finding: Finding) -> Finding:
    """A Job's pod template cannot be patched, and a CronJob's lies elsewhere: the fix becomes a manual step."""
    workload = bundle.workload
    if finding.fix is None or finding.fix.target is not None or workload is None or workload.get("kind") not in ("Job", "CronJob"):
        return finding
    kind = str(workload.get("kind")).lower()
    step = f"In the pod template of {kind}/{objects.name(workload)}: {finding.fix.summary}. " + (
        "A Job's template cannot be changed after creation: re-create the Job with it." if kind == "job" else "The CronJob's next Job runs with it."
    )
    return replace(finding, fix=None, manual_steps=[step, *finding.manual_steps])


def _upstream(bundle: ObjectBundle, evidence: EvidenceSet, policy: AnalysisPolicy) -> dict[tuple[str, str], Upstream]:
    """Diagnose each dependency's workload as if it were the target; its cited evidence joins ours, renumbered."""
    found: dict[tuple[str, str], Upstream] = {}
    for dep in bundle.dependencies:
        key = (dep.service.namespace, dep.service.name)
        if dep.bundle is None:
            found[key] = Upstream(dep, None)
            continue
        theirs = extract(dep.bundle)
        findings = run_analyzers(Context(bundle=dep.bundle, evidence=theirs, policy=policy))
        found[key] = Upstream(dep, _adopt(findings[0], theirs, evidence, f"upstream:{key[0]}/{key[1]}:") if findings else None)
    return found


def _adopt(finding: Finding, theirs: EvidenceSet, ours: EvidenceSet, prefix: str) -> Finding:
    cited = set(finding.evidence_ids) | {i for step in finding.steps for i in _IDS.findall(step)}
    renumber: dict[str, str] = {}
    for key, item in theirs.by_key.items():
        if item.id in cited:
            renumber[item.id] = ours.add(prefix + key, item.kind, item.summary, item.excerpt, item.source, item.link)

    def rewrite(step: str) -> str:
        return _IDS.sub(lambda m: renumber.get(m.group(0), m.group(0)), step)

    return replace(
        finding,
        steps=[rewrite(s) for s in finding.steps],
        evidence_ids=[EvidenceId(renumber[i]) for i in finding.evidence_ids if i in renumber],
        manual_steps=[rewrite(s) for s in finding.manual_steps],
    )


_IDS = re.compile(r"\bE\d+\b")


# What the API server lets a plain update change on an existing Pod (ValidatePodUpdate): images, the
# active deadline, added tolerations, scheduling gates, grace period. Everything else — env, command,
# probes, volumes, resources (those only through the resize subresource) — is immutable.
_POD_MUTABLE = re.compile(
    r"^/(?:metadata/(?:labels|annotations)(?:/|$)|spec/(?:containers|initContainers)/\d+/image$|spec/activeDeadlineSeconds$"
    r"|spec/tolerations(?:/|$)|spec/schedulingGates(?:/|$)|spec/terminationGracePeriodSeconds$)"
)


def _bare_pod_by_hand(bundle: ObjectBundle, finding: Finding) -> Finding:
    """A fix that would change immutable fields of a Pod no controller owns becomes manual steps: the API would refuse the patch."""
    draft = finding.fix
    target = (draft.target or bundle.workload) if draft else None
    if draft is None or target is None or target.get("kind") != "Pod":
        return finding
    frozen = sorted({op.path for op in draft.ops if op.op != "test" and not _POD_MUTABLE.match(op.path)})
    if not frozen:
        return finding
    name, ns = objects.name(target), objects.namespace(target) or bundle.namespace
    # The field a person edits: `resources` for /spec/containers/1/resources/limits/memory, `volumes` for /spec/volumes/0.
    fields = ", ".join(dict.fromkeys(re.sub(r"^/spec/(?:(?:init)?[cC]ontainers/\d+/)?", "", p).split("/")[0] for p in frozen))
    by_hand = (
        f"Pod {name} has no controller, and a running Pod's {fields} cannot be changed (the API refuses such a patch): recreate it "
        f"with the change — {draft.summary}: `kubectl -n {ns} get pod {name} -o yaml > {name}.yaml`, edit it, then "
        f"`kubectl replace --force -f {name}.yaml`; better, run it under a Deployment so the next fix can be a patch."
    )
    steps = [f"Needed change, by hand (a bare Pod's {fields} is immutable): {s.removeprefix('Fix: ')}" if s.startswith("Fix: ") else s for s in finding.steps]
    return replace(finding, fix=None, steps=steps, manual_steps=[by_hand, *finding.manual_steps])


def _evidence_bullets(evidence: EvidenceSet, finding: Finding) -> list[str]:
    by_id = {e.id: e for e in evidence.items}
    return [f"{eid}: {by_id[eid].summary}" for eid in finding.evidence_ids if eid in by_id]


def _proposal(bundle: ObjectBundle, draft: FixDraft) -> FixProposal:
    workload = draft.target or bundle.workload
    assert workload is not None
    return FixProposal(
        target=objects.ref(workload),
        patch=draft.ops,
        summary=draft.summary,
        decision_rationale=draft.rationale,
        risk=draft.risk,
        risk_notes=_with_forced_rollback(workload, draft),
        alternatives_rejected=draft.alternatives_rejected,
        diff=workload_diff(workload, [op.as_json() for op in draft.ops]),
    )


def _with_forced_rollback(workload: KubeObject, draft: FixDraft) -> str:
    """Say up front that Apply evicts a StatefulSet's stuck pods (core/remediation does it)."""
    if workload.get("kind") != "StatefulSet" or not any(op.path.startswith("/spec/template/") for op in draft.ops if op.op != "test"):
        return draft.risk_notes
    note = "Apply also evicts the pods that are not Ready on the broken revision: the StatefulSet controller would wait for them forever."
    return f"{draft.risk_notes} {note}".strip()


def _unknown(ctx: Context) -> Finding:
    ids = [e.id for e in ctx.evidence.items[:5]]
    checked = ", ".join(c.value for c in PRECEDENCE if c is not Category.UNKNOWN)
    pod = ctx.pod
    state = f"pod {objects.name(pod)} is {(pod.get('status') or {}).get('phase', 'Unknown')}" if pod else "no pods found"
    return Finding(
        category=Category.UNKNOWN,
        confidence=0.2,
        summary=f"No known failure class matches the evidence ({state}); AEGIS proposes no change.",
        steps=[
            f"Collected the target's status, events, logs and configuration — {len(ctx.evidence.items)} evidence items"
            + (f" [{', '.join(ids)}]" if ids else ""),
            f"Checked every failure class AEGIS knows ({checked}) — none matched" + (f" [{', '.join(ids)}]" if ids else ""),
            # A ConfigMap or Secret edited since the workload last ran healthy is the first thing a person checks.
            *(f"{e.summary} — check this change first [{e.id}]" for e in ctx.evidence.items if e.kind.value == "change"),
        ],
        evidence_ids=list(dict.fromkeys([*ids, *(e.id for e in ctx.evidence.items if e.kind.value == "change")])),
        manual_steps=[
            "Read the evidence above, especially recent Warning events and the previous container logs.",
            "If the workload is healthy, there may be nothing to fix; otherwise escalate to the owning team.",
        ],
    )
