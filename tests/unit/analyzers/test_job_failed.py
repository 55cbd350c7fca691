"""job_failed: which limit ended the Job, and what its pods died of."""

from __future__ import annotations

import copy

from aegis.core.analyzers import job_failed
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.models import Category
from tests.unit.analyzers.contexts import context_of, snapshot_bundle


async def _bundle() -> ObjectBundle:
    return await snapshot_bundle("invoice-export-job", "Job", "billing", "invoice-export")


async def test_backoff_limit_names_exit_code_and_last_log_line() -> None:
    """BackoffLimitExceeded after 2 failures: exit code 1 and KeyError: 'pricing' are in the diagnosis; no patch."""
    finding = job_failed.analyze(context_of(await _bundle()))
    assert finding is not None and finding.fix is None
    assert "BackoffLimitExceeded" in finding.summary and "exit code 1" in finding.summary and "KeyError: 'pricing'" in finding.summary
    assert any("backoffLimit is 1" in step for step in finding.steps)
    assert all("[E" in step for step in finding.steps), finding.steps
    assert any("cannot be changed" in step for step in finding.manual_steps)


async def test_deadline_exceeded_says_how_long_it_ran() -> None:
    """DeadlineExceeded: the activeDeadlineSeconds and the time the Job ran are named."""
    bundle = await _bundle()
    job = bundle.jobs[-1]
    job["spec"]["activeDeadlineSeconds"] = 600
    job["status"]["startTime"] = "2026-12-04T18:00:00Z"
    for cond in job["status"]["conditions"]:
        cond.update(reason="DeadlineExceeded", message="Job was active longer than specified deadline", lastTransitionTime="2026-12-04T18:10:00Z")
    finding = job_failed.analyze(context_of(bundle))
    assert finding is not None and "DeadlineExceeded" in finding.summary
    assert any("activeDeadlineSeconds is 600" in step and "600 s" in step for step in finding.steps)


async def test_a_job_still_running_or_complete_is_not_failed() -> None:
    """No Failed condition (active, or Complete): job_failed stays silent."""
    bundle = await _bundle()
    bundle.jobs[-1]["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert job_failed.analyze(context_of(bundle)) is None


async def test_cronjob_that_recovered_is_not_failed() -> None:
    """A CronJob whose newest Job completed after an older one failed: not job_failed."""
    bundle = await _bundle()
    newer = copy.deepcopy(bundle.jobs[-1])
    newer["metadata"]["name"] = "invoice-export-29123456"
    newer["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    bundle.jobs.append(newer)
    assert job_failed.analyze(context_of(bundle)) is None


async def test_a_fix_for_a_job_pod_template_becomes_a_manual_step() -> None:
    """A Job's template is immutable: a class that would patch it (missing env) gives manual steps instead."""
    bundle = await _bundle()
    bundle.jobs[-1]["status"]["conditions"] = []
    bundle.secrets.append({"kind": "Secret", "metadata": {"name": "export-config", "namespace": "billing"}, "data": {"EXPORT_BUCKET": "[REDACTED]"}})
    bundle.logs = [
        ContainerLogs(pod=e.pod, container=e.container, previous=e.previous, text="FATAL: required environment variable EXPORT_BUCKET is not set\n")
        for e in bundle.logs
    ]
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR
    assert diagnosis.fix is None
    assert "job/invoice-export" in diagnosis.manual_steps[0] and "re-create the Job" in diagnosis.manual_steps[0]
