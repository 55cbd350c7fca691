"""job_failed: a Job gave up — its pods failed more often than backoffLimit allows, or it outran activeDeadlineSeconds.

Signal: the Job (the target, a Pod's owner, or a CronJob's newest Job) has condition Failed=True
with the Job controller's reason: `BackoffLimitExceeded` ("Job has reached the specified backoff
limit"), `DeadlineExceeded` ("Job was active longer than specified deadline"), or another reason it
names (a pod failure policy, failed indexes). The analysis says which limit ended it and what its
pods died of: exit codes and reasons, and the last lines of their logs.

No patch: a Job's pod template is immutable, and re-running work is a person's decision. The manual
steps say what to change (the cause the pods show, or the limit that was too tight) and how to run
it again.
"""

from __future__ import annotations

from datetime import datetime

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding
from aegis.core.models import Category, KubeObject

_LAST_LINES = 3


def analyze(ctx: Context) -> Finding | None:
    job = _failed_job(ctx)
    if job is None:
        return None
    name = objects.name(job)
    spec, status = job.get("spec") or {}, job.get("status") or {}
    failed = objects.condition(job, "Failed") or {}
    reason = str(failed.get("reason") or "Failed")
    job_key = f"status:job:{name}"
    pods = [p for p in ctx.bundle.pods if (objects.controller_of(p) or {}).get("name") == name]
    steps = [
        f"Job {name} failed with reason {reason}: '{failed.get('message', '')}' after {status.get('failed', 0)} failed pod(s) and "
        f"{status.get('succeeded', 0)} succeeded{ctx.cite(job_key, f'event:{reason}')}"
    ]
    cronjob = _cronjob(ctx)
    if cronjob is not None:
        steps.insert(0, f"CronJob {objects.name(cronjob)} last ran Job {name}{ctx.cite('status:workload', job_key)}")
    death, death_keys = _pod_failure(ctx, pods)
    if reason == "DeadlineExceeded":
        deadline = spec.get("activeDeadlineSeconds")
        ran = _seconds(status.get("startTime"), failed.get("lastTransitionTime"))
        steps.append(
            f"Its activeDeadlineSeconds is {deadline}; the Job ran {ran if ran is not None else '?'} s before the controller stopped it and "
            f"killed its active pods{ctx.cite(job_key)}"
        )
        limit_text = f"activeDeadlineSeconds {deadline}"
    elif reason == "PodFailurePolicy":
        # A FailJob rule of spec.podFailurePolicy ended it at the first matching failure, whatever the backoffLimit.
        limit_text = "a FailJob rule of its podFailurePolicy"
        steps.append(f"A podFailurePolicy rule failed the Job at the first pod failure it matched, without retrying{ctx.cite(job_key)}")
    elif reason in ("FailedIndexes", "MaxFailedIndexesExceeded"):
        limit_text = f"backoffLimitPerIndex {spec.get('backoffLimitPerIndex', '?')}" + (
            f", maxFailedIndexes {spec['maxFailedIndexes']}" if spec.get("maxFailedIndexes") is not None else ""
        )
        steps.append(f"Its {limit_text}: indexes failed more often than each may{ctx.cite(job_key)}")
    else:
        limit_text = f"backoffLimit {spec.get('backoffLimit', 6)}"
        steps.append(f"Its backoffLimit is {spec.get('backoffLimit', 6)}: every retry failed the same way{ctx.cite(job_key)}")
    if death:
        steps.append(death + ctx.cite(*death_keys))
    what = f"cronjob/{objects.name(cronjob)}" if cronjob is not None else f"job/{name}"
    summary = f"Job {name} failed ({reason}, {limit_text})" + (f": {_short(death)}." if death else ".")
    manual = _manual(ctx, job, reason, what, cronjob is not None, bool(death))
    return Finding(
        category=Category.JOB_FAILED,
        confidence=0.96,
        summary=summary,
        steps=steps,
        evidence_ids=ctx.evidence.ids("status:workload", job_key, f"event:{reason}", *death_keys),
        manual_steps=manual,
    )


def _failed_job(ctx: Context) -> KubeObject | None:
    """The Job that ended Failed: the target's, or a CronJob's newest (a later success means it recovered)."""
    jobs = ctx.bundle.jobs
    if not jobs:
        return None
    newest = jobs[-1]
    failed = objects.condition(newest, "Failed") or {}
    return newest if failed.get("status") == "True" else None


def _cronjob(ctx: Context) -> KubeObject | None:
    workload = ctx.workload
    return workload if workload is not None and workload.get("kind") == "CronJob" else None


def _pod_failure(ctx: Context, pods: list[KubeObject]) -> tuple[str, list[str]]:
    """How the Job's pods died: exit code and reason of the failed containers, and their last log lines."""
    for pod in pods:
        for state in _states(pod):
            term = state.last_terminated
            if not term or (term.get("exitCode") in (0, None) and term.get("reason") in ("Completed", None)):
                continue
            keys = [f"status:pod:{state.pod_name}", state.key]
            text = f"Pod {state.pod_name}'s container {state.name} terminated with exit code {term.get('exitCode')} ({term.get('reason', 'Error')})" + (
                f": {term.get('message')}" if term.get("message") else ""
            )
            log, log_key = signals.log_text(ctx, state)
            tail = [line.strip() for line in log.splitlines() if line.strip()][-_LAST_LINES:]
            if tail and log_key:
                text += "; its log ends: " + " | ".join(tail)
                keys.append(log_key)
            return text, keys
    first = pods[0] if pods else None
    if first is not None and (first.get("status") or {}).get("reason"):
        status, name = first.get("status") or {}, objects.name(first)
        return f"Pod {name} ended {status.get('phase')} ({status.get('reason')}): {status.get('message', '')}", [f"status:pod:{name}"]
    return "", []


def _states(pod: KubeObject) -> list[signals.ContainerState]:
    spec = objects.pod_spec(pod)
    out = []
    for init in (True, False):
        by_name = {s.get("name"): s for s in objects.container_statuses(pod, init=init)}
        for index, container in enumerate(objects.containers(spec, init=init)):
            out.append(signals.ContainerState(pod, str(container.get("name")), init, index, container, by_name.get(container.get("name")) or {}))
    return out


def _seconds(start: str | None, end: str | None) -> int | None:
    begun, ended = objects.parse_time(start), objects.parse_time(end)
    if not isinstance(begun, datetime) or not isinstance(ended, datetime):
        return None
    return int((ended - begun).total_seconds())


def _short(death: str) -> str:
    """The exit and the last log line: 'Pod x's container y terminated with exit code 1 (Error), last log line: KeyError: …'."""
    head, _, tail = death.partition("; its log ends: ")
    return f"{head}, last log line: {tail.rsplit(' | ', 1)[-1]}" if tail else head


def _manual(ctx: Context, job: KubeObject, reason: str, what: str, scheduled: bool, pods_failed: bool) -> list[str]:
    ns, name = ctx.bundle.namespace, objects.name(job)
    rerun = (
        f"Run it again after the change: kubectl -n {ns} create job {name}-retry --from={what}"
        if scheduled
        else f"Run it again: kubectl -n {ns} get job {name} -o yaml > job.yaml, apply the change, kubectl -n {ns} delete job {name}, kubectl apply -f job.yaml"
    )
    if reason == "DeadlineExceeded" and not pods_failed:
        return [
            f"The work took longer than activeDeadlineSeconds allows: raise spec.activeDeadlineSeconds of {what} or make the work faster.",
            rerun,
        ]
    steps = [f"Fix what the pods' logs and exit codes show in the pod template of {what} (image, command, env or resources)."]
    if reason == "BackoffLimitExceeded":
        steps.append("Raise backoffLimit only if the failures are transient (a dependency that was briefly down); a deterministic failure fails every retry.")
    steps.append(rerun)
    steps.append("AEGIS proposes no patch: a Job's pod template cannot be changed after it is created.")
    return steps
