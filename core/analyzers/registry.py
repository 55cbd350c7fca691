"""The analyzers the engine runs, one per failure class. Add a module here to enable it."""

from __future__ import annotations

from collections.abc import Callable

from aegis.core.analyzers import (
    app_error_after_rollout,
    bad_command,
    dependency_unavailable,
    disk_full,
    dns_resolution_failure,
    evicted,
    image_pull_error,
    init_container_failure,
    job_failed,
    limit_range_exceeded,
    liveness_probe_failure,
    missing_config_reference,
    missing_env_var,
    network_policy_blocked,
    node_not_ready,
    oom_killed,
    quota_exceeded,
    rbac_forbidden,
    readiness_probe_failure,
    rollout_stuck,
    service_selector_mismatch,
    unschedulable_constraints,
    unschedulable_resources,
    volume_failure,
)
from aegis.core.analyzers.base import Context, Finding

ANALYZERS: list[Callable[[Context], Finding | None]] = [
    missing_env_var.analyze,
    missing_config_reference.analyze,
    bad_command.analyze,
    app_error_after_rollout.analyze,
    init_container_failure.analyze,
    oom_killed.analyze,
    liveness_probe_failure.analyze,
    readiness_probe_failure.analyze,
    image_pull_error.analyze,
    evicted.analyze,
    unschedulable_resources.analyze,
    unschedulable_constraints.analyze,
    volume_failure.analyze,
    rollout_stuck.analyze,
    service_selector_mismatch.analyze,
    # issue 14 (i14c)
    quota_exceeded.analyze,
    limit_range_exceeded.analyze,
    disk_full.analyze,
    job_failed.analyze,
    node_not_ready.analyze,
    # issue 14 (i14a): connectivity and permissions
    rbac_forbidden.analyze,
    dns_resolution_failure.analyze,
    network_policy_blocked.analyze,
    dependency_unavailable.analyze,
]
