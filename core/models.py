"""Domain models shared by every layer: what a target is, what evidence is, what a diagnosis says.

These are the boundary types: collectors produce Evidence, analyzers produce a Diagnosis with an
RCAResult and an optional FixProposal, renderers and the JSON report consume them. Kubernetes
objects themselves stay plain dicts (`KubeObject`), shaped exactly as `kubectl get -o json`
prints them: we do not own that schema and only read a few fields of it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NewType

from pydantic import BaseModel, ConfigDict, Field, field_validator

KubeObject = dict[str, Any]
IncidentId = NewType("IncidentId", str)
EvidenceId = NewType("EvidenceId", str)


class Model(BaseModel):
    """Base for AEGIS models: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ObjectRef(Model):
    """A Kubernetes object by kind, namespace and name (namespace empty for cluster-scoped)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} -n {self.namespace}" if self.namespace else f"{self.kind}/{self.name}"


class EvidenceKind(StrEnum):
    STATUS = "status"
    EVENT = "event"
    LOG = "log"
    METRIC = "metric"
    CONFIG = "config"
    CHANGE = "change"


class Evidence(Model):
    """One observed fact. `excerpt` is always redacted before a model is built."""

    id: EvidenceId
    kind: EvidenceKind
    summary: str
    excerpt: str = ""
    source: ObjectRef | None = None
    link: str | None = None


class Category(StrEnum):
    """The fixed vocabulary of root-cause classes; the JSON contract uses these strings."""

    MISSING_ENV_VAR = "missing_env_var"
    MISSING_CONFIG_REFERENCE = "missing_config_reference"
    OOM_KILLED = "oom_killed"
    IMAGE_PULL_ERROR = "image_pull_error"
    BAD_COMMAND = "bad_command"
    APP_ERROR_AFTER_ROLLOUT = "app_error_after_rollout"
    LIVENESS_PROBE_FAILURE = "liveness_probe_failure"
    READINESS_PROBE_FAILURE = "readiness_probe_failure"
    UNSCHEDULABLE_RESOURCES = "unschedulable_resources"
    UNSCHEDULABLE_CONSTRAINTS = "unschedulable_constraints"
    VOLUME_FAILURE = "volume_failure"
    INIT_CONTAINER_FAILURE = "init_container_failure"
    ROLLOUT_STUCK = "rollout_stuck"
    SERVICE_SELECTOR_MISMATCH = "service_selector_mismatch"
    EVICTED = "evicted"
    # issue 14, i14c: quotas, full volumes, failed Jobs, lost nodes
    QUOTA_EXCEEDED = "quota_exceeded"
    DISK_FULL = "disk_full"
    JOB_FAILED = "job_failed"
    NODE_NOT_READY = "node_not_ready"
    # issue 14 (i14a): connectivity and permissions
    NETWORK_POLICY_BLOCKED = "network_policy_blocked"
    RBAC_FORBIDDEN = "rbac_forbidden"
    DNS_RESOLUTION_FAILURE = "dns_resolution_failure"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    UNKNOWN = "unknown"


class Author(StrEnum):
    """Who wrote a part of a diagnosis: the deterministic analyzers, or a language model (validated)."""

    ANALYZERS = "analyzers"
    MODEL = "model"


class RCAResult(Model):
    """The root cause, explained step by step; every claim cites evidence ids."""

    category: Category
    summary: str = Field(description="The root cause in one or two sentences.")
    confidence: float = Field(ge=0.0, le=1.0)
    analysis_steps: list[str] = Field(description="Numbered in order: 'check — finding [E1]'.")
    evidence_summary: list[str] = Field(description="Bullets, each citing evidence ids.")
    evidence_ids: list[EvidenceId] = Field(description="Every evidence id the steps rely on.")
    author: Author = Field(default=Author.ANALYZERS, description="Who wrote this root cause.")


class PatchOperation(Model):
    """One RFC 6902 operation. `value` is kept only for ops that take one."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")

    @field_validator("path")
    @classmethod
    def _pointer(cls, path: str) -> str:
        if path and not path.startswith("/"):
            raise ValueError(f"JSON pointer must start with '/': {path!r}")
        return path

    def as_json(self) -> dict[str, Any]:
        """The operation exactly as RFC 6902 writes it."""
        doc: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op in ("add", "replace", "test"):
            doc["value"] = self.value
        if self.op in ("move", "copy"):
            doc["from"] = self.from_
        return doc


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FixProposal(Model):
    """A concrete change to the owning workload, guarded so it applies only as diagnosed."""

    target: ObjectRef
    patch_type: Literal["json"] = "json"
    patch: list[PatchOperation]
    summary: str = Field(description="What the patch does, in one line.")
    decision_rationale: str
    risk: Risk
    risk_notes: str = ""
    alternatives_rejected: list[str] = Field(default_factory=list)
    diff: str = Field(default="", description="Unified diff of the workload before/after.")
    author: Author = Field(default=Author.ANALYZERS, description="Who wrote this proposal (the patch is validated either way).")

    def patch_json(self) -> list[dict[str, Any]]:
        return [op.as_json() for op in self.patch]


class LoadTestConfig(Model):
    """A bounded HTTP load probe against the shadow Service."""

    port: int = Field(ge=1, le=65535)
    path: str = "/"
    rate_per_second: float = Field(default=5.0, gt=0, le=50)
    duration_seconds: float = Field(default=10.0, gt=0, le=120)
    concurrency: int = Field(default=2, ge=1, le=10)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p95_ms: float = Field(default=500.0, gt=0)


class VerificationPlan(Model):
    """How a shadow run judges the fix."""

    checks: list[str]
    settle_seconds: float = Field(default=30.0, ge=0)
    timeout_seconds: float = Field(default=180.0, gt=0)
    load_test_config: LoadTestConfig | None = None
    author: Author = Field(default=Author.ANALYZERS, description="Who wrote this plan.")


class PhaseTiming(Model):
    """One phase of a shadow verification or an apply, as people see it in the thread."""

    name: str
    duration_ms: float
    ok: bool = True
    detail: str = ""


class HealthSample(Model):
    """The shadow's health at one moment of the watch."""

    at_seconds: float = Field(description="Seconds since the watch began.")
    ready: int
    desired: int
    restarts: int
    warnings: int
    score: float = Field(ge=0.0, le=1.0)


class ProbeResult(Model):
    """What the HTTP load probe measured. `unavailable`: no request reached the app; it counts neither way."""

    status: Literal["passed", "failed", "unavailable", "skipped"]
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    reason: str = ""


class VerificationResult(Model):
    """The verdict of one shadow run, with the evidence it rests on."""

    incident_id: IncidentId
    proposal_revision: int = 0
    target: ObjectRef
    namespace: str = Field(description="The shadow namespace (deleted afterwards).")
    passed: bool
    outcome: Literal["passed", "failed", "timeout", "error", "cancelled"]
    score: float = Field(ge=0.0, le=1.0)
    reason: str
    phases: list[PhaseTiming] = Field(default_factory=list)
    timeline: list[HealthSample] = Field(default_factory=list)
    restarts: int = 0
    warning_events: list[str] = Field(default_factory=list)
    probe: ProbeResult | None = None
    representative: bool = True
    representativeness_notes: list[str] = Field(default_factory=list, description="Why the shadow differs from production, when it does.")
    started_at: datetime
    duration_ms: float = 0.0


class AnalysisPolicy(Model):
    """Bounds the analyzers respect when they propose fixes (from config)."""

    memory_limit_max_mib: int = Field(default=8192, gt=0, description="Never propose a memory limit above this.")
    memory_limit_factor: float = Field(default=2.0, gt=1.0, le=4.0, description="OOM fix: multiply the limit by this.")


class Diagnosis(Model):
    """Everything the investigation concluded about one target."""

    target: ObjectRef
    workload: ObjectRef | None
    template_digest: str | None = Field(
        default=None, description="Digest of the workload's pod template when diagnosed; Verify and Apply refuse when the live one differs."
    )
    rca: RCAResult
    evidence: list[Evidence]
    fix: FixProposal | None
    manual_steps: list[str] = Field(default_factory=list, description="What a human must do when no safe patch exists.")
    verification_plan: VerificationPlan | None = None
    notes: list[str] = Field(default_factory=list, description="Gaps, e.g. a backend that failed.")
    analyzed_at: datetime
    duration_ms: float = 0.0
    llm_model: str | None = Field(default=None, description="The language model consulted ('provider:model'), if any.")


class KubeIdentity(Model):
    """Whom Apply and Roll back act as in Kubernetes (impersonation): the person who clicked, mapped."""

    user: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)

    def __str__(self) -> str:
        return self.user + (f" (groups {', '.join(self.groups)})" if self.groups else "")


class IncidentState(StrEnum):
    """The incident lifecycle (DESIGN.md §1); every transition is stored, logged and counted."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    DIAGNOSED = "diagnosed"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification_failed"
    APPLYING = "applying"
    APPLIED = "applied"
    APPLY_FAILED = "apply_failed"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


TERMINAL_STATES = frozenset({IncidentState.RESOLVED, IncidentState.REJECTED, IncidentState.ROLLED_BACK})


class IncidentSource(StrEnum):
    SLASH_COMMAND = "slash_command"
    ALERTMANAGER = "alertmanager"
    CLI = "cli"


class IncidentAlert(Model):
    """One Alertmanager alert that joined an incident: what the parent lists, and whether it still fires."""

    fingerprint: str
    alertname: str
    pod: str = ""
    firing: bool = True


class Silence(Model):
    """The Alertmanager silence a person set from the thread: the parent says "silenced until …" and offers Unsilence."""

    id: str = Field(min_length=1, description="Alertmanager's silenceID.")
    until: datetime = Field(description="When the silence ends (its endsAt).")
    by: str = Field(description="Slack user id of whoever silenced.")
    url: str | None = Field(default=None, description="The silence in Alertmanager's UI (externalURL/#/silences/<id>).")


class Incident(Model):
    """One incident: what it is about, where its Slack thread lives, and where it stands."""

    id: IncidentId
    source: IncidentSource
    state: IncidentState = IncidentState.OPEN
    title: str
    severity: str = "warning"
    target: ObjectRef | None = None
    requested_by: str | None = Field(default=None, description="Slack user id of whoever asked, for slash commands.")
    channel: str | None = None
    thread_ts: str | None = Field(default=None, description="ts of the parent message: the thread's id.")
    receiver: str | None = Field(default=None, description="Alertmanager receiver, with group_key the alert-group identity.")
    group_key: str | None = None
    alert_fingerprints: list[str] = Field(default_factory=list)
    alerts: list[IncidentAlert] = Field(default_factory=list, description="Every alert that joined, under any name, and whether it still fires.")
    labels: dict[str, str] = Field(default_factory=dict, description="Alertmanager common labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Alertmanager common annotations.")
    repeat_count: int = 0
    diagnosis: Diagnosis | None = None
    proposal_revision: int = Field(default=0, description="Bumped when a new fix proposal supersedes the old one.")
    diagnosis_ts: str | None = Field(default=None, description="ts of the thread reply holding the diagnosis and its buttons.")
    last_error: str | None = Field(default=None, description="Why the last analysis or action failed, shown on the parent.")
    worker: str | None = Field(default=None, description="The replica running the in-flight step (investigating, verifying, applying).")
    watch: str | None = Field(default=None, description="The watch after Apply: 'watching until …', 'held …', or the regression it saw.")
    silence: Silence | None = Field(default=None, description="The Alertmanager silence set from the thread, until it is lifted.")
    owner: str | None = Field(default=None, description="Slack user id of whoever clicked I'm on it.")
    alertmanager_url: str | None = Field(default=None, description="Alertmanager's externalURL from its notification (links to silences).")
    generator_url: str | None = Field(default=None, description="The first alert's generatorURL (the rule's query in Prometheus), redacted.")
    created_at: datetime
    updated_at: datetime


class Transition(Model):
    incident_id: IncidentId
    from_state: IncidentState
    to_state: IncidentState
    actor: str
    reason: str = ""
    at: datetime


class AuditRecord(Model):
    """Who did what to which incident, and how it ended: every decision leaves one."""

    incident_id: IncidentId
    actor: str = Field(description="Slack user id, 'aegis', or 'alertmanager'.")
    action: str = Field(description="e.g. analyze, reject, verify, apply, rollback, refuse.")
    outcome: str = Field(description="e.g. ok, refused, failed, noop.")
    detail: str = ""
    at: datetime
