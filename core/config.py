"""Settings: AEGIS_* environment variables, over an optional aegis.yaml.

One Settings model for the whole process. `load()` turns any invalid value into a ConfigError
whose single line names the setting (as the variable a person would set) and what is wrong.
The YAML file is `AEGIS_CONFIG` if set, else ./aegis.yaml when present.

Sources, highest first: keyword arguments, the environment (AEGIS_<FIELD>, or the names a field
lists in its validation alias, e.g. SLACK_BOT_TOKEN; case-insensitive), aegis.yaml. A plain
pydantic model reads them itself (`_sources`): pydantic-settings did the same for ~0.1 s of every
start-up, a fifth of what `aegis analyze --snapshot` may take.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator

from aegis.core.errors import ConfigError
from aegis.core.models import AnalysisPolicy

ENV_PREFIX = "AEGIS_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    log_format: Literal["auto", "json", "console"] = Field(default="auto", description="auto: key=value on a terminal, JSON otherwise")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    kubeconfig: str | None = Field(default=None, description="Path to a kubeconfig; default: KUBECONFIG or ~/.kube/config")
    kube_context: str | None = None
    in_cluster: bool = Field(default=False, description="Use the pod's ServiceAccount instead of a kubeconfig")
    log_tail_lines: int = Field(default=200, ge=10, le=5000)
    memory_limit_max_mib: int = Field(default=8192, gt=0)
    memory_limit_factor: float = Field(default=2.0, gt=1.0, le=4.0)
    store_url: str = Field(default="aegis.db", description="Incident store: a SQLite file path, or a postgresql:// URL for several replicas")
    llm_model: str | None = Field(
        default=None,
        description="Optional language model as 'provider:model' (openai:gpt-4.1-mini, anthropic:…, ollama:…); unset: analyzers only",
    )
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Per LLM request; on timeout the analyzers' diagnosis stands")
    llm_budget_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="All LLM stages and retries of one diagnosis together; when it runs out the analyzers' diagnosis stands"
    )
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="Retries of a failed LLM request (provider errors only)")
    llm_max_input_tokens: int = Field(default=12000, ge=1000, le=1_000_000, description="Input budget per LLM request (estimated)")

    # Slack: the variable names Slack users already know, with AEGIS_-prefixed spellings accepted too.
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "AEGIS_SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "AEGIS_SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "AEGIS_SLACK_APP_TOKEN", "slack_app_token"))
    slack_channel: str | None = Field(default=None, description="Channel id where alert threads go")
    slack_api_url: str = Field(default="https://slack.com/api/", description="Web API base URL (GovSlack, proxies, tests)")
    alertmanager_token: SecretStr | None = Field(default=None, description="Bearer token (or basic-auth password) Alertmanager must send to the webhook")
    approvers: list[str] = Field(default_factory=list, description="Slack user ids who may act on incidents")
    approver_groups: list[str] = Field(default_factory=list, description="Slack user group ids whose members may act")
    # Silence from the thread (Alertmanager's v2 API); unset: the parent offers no Silence buttons.
    alertmanager_url: str | None = Field(default=None, description="Alertmanager's base URL for its v2 API (silences), e.g. http://alertmanager:9093")
    alertmanager_bearer_token: SecretStr | None = Field(default=None, description="Bearer token AEGIS sends to Alertmanager's API (or use username/password)")
    alertmanager_username: str | None = Field(default=None, description="Basic-auth user AEGIS sends to Alertmanager's API")
    alertmanager_password: SecretStr | None = Field(
        default=None, validate_default=True, description="Basic-auth password AEGIS sends to Alertmanager's API, with AEGIS_ALERTMANAGER_USERNAME"
    )
    silencers: list[str] = Field(default_factory=list, description="Slack user ids who may silence alerts from a thread, besides the approvers")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)

    # Observability backends (optional; each unset backend is simply not asked).
    prometheus_url: str | None = Field(default=None, description="Prometheus (or a compatible API) for metric evidence and the thread's graph")
    prometheus_tenant: str | None = Field(default=None, description="X-Scope-OrgID sent to Prometheus-compatible multi-tenant APIs (Mimir, Cortex)")
    loki_url: str | None = Field(default=None, description="Loki for error-log evidence around the incident")
    loki_tenant: str | None = Field(default=None, description="X-Scope-OrgID sent to Loki when it runs with auth_enabled")
    backend_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Budget for all Prometheus and Loki queries of one investigation")
    incident_lookback_minutes: int = Field(default=30, ge=1, le=1440, description="How far before the incident metrics, logs and links reach")
    grafana_url: str | None = Field(default=None, description="Grafana base URL for the links in each thread's context line")
    grafana_dashboard_uid: str = Field(default="aegis-overview", description="uid of the provisioned AEGIS dashboard")
    grafana_org_id: int = Field(default=1, ge=1)
    grafana_loki_uid: str = Field(default="loki", description="uid of the Loki datasource in Grafana (for Explore links)")
    grafana_prometheus_uid: str = Field(default="prometheus", description="uid of the Prometheus datasource in Grafana (for Explore links)")

    # Shadow verification and apply/roll back (DESIGN.md §4).
    shadow_max_concurrent: int = Field(default=2, ge=1, le=20, description="Shadow environments this process runs at once; more are refused")
    shadow_ttl_seconds: float = Field(default=1800.0, ge=5, description="Expiry stamped on a shadow namespace; the janitor deletes it after that")
    shadow_timeout_seconds: float | None = Field(default=None, gt=0, description="Caps the verification plan's timeout (unset: the plan's)")
    shadow_settle_seconds: float | None = Field(default=None, ge=0, description="Overrides the plan's settle window (unset: the plan's)")
    shadow_copy_secrets: bool = Field(default=False, description="Copy referenced Secrets into shadows; off: placeholders with the same keys")
    shadow_egress_allow_cidrs: list[str] = Field(default_factory=list, description="CIDRs a shadow may reach besides DNS")
    shadow_load_probe: bool = Field(default=True, description="Run the plan's HTTP load probe through the API server's service proxy")
    shadow_janitor_interval_seconds: float = Field(default=60.0, ge=1, description="How often `aegis serve` deletes expired shadows")
    shadow_cleanup_wait_seconds: float = Field(default=30.0, ge=0, description="How long cleanup waits for a shadow namespace to be gone")
    require_shadow_pass: bool = Field(default=True, description="Apply only after a shadow verification of the same proposal passed")
    four_eyes: bool = Field(default=False, description="Whoever asked for the analysis or clicked Verify in shadow may not apply its fix")
    protected_namespaces: list[str] = Field(default_factory=list, description="Namespaces AEGIS never patches (kube-system always)")
    rollout_timeout_seconds: float = Field(default=600.0, gt=0, description="How long Apply and Roll back watch the rollout")

    # Trust to act (DESIGN.md §4): what AEGIS may do, per namespace, and for how long a proposal holds.
    mode: Literal["read-only", "suggest", "verify", "apply"] = Field(
        default="apply", description="read-only: diagnose only; suggest: show the fix; verify: Verify in shadow; apply: Verify and Apply"
    )
    namespace_modes: list[tuple[str, str]] = Field(
        default_factory=list, description="Per-namespace modes as glob=mode pairs, first match wins: prod-*=suggest,staging-*=apply"
    )
    channel_namespaces: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Channel id -> namespace globs it may analyze: C0123=shop-*|payments,C0456=*; unset: all but kube-system and protected",
    )
    proposal_ttl_seconds: float = Field(default=3600.0, gt=0, description="A click on a proposal older than this is refused with Re-analyze")
    identity_map: str | None = Field(
        default=None, description="YAML file mapping Slack users, emails and user groups to Kubernetes users and groups; Apply acts as them"
    )
    shadow_as_user: bool = Field(default=False, description="The shadow verification's writes also act as the person who clicked Verify")
    apply_watch_seconds: float = Field(default=300.0, ge=0, description="After Apply, how long AEGIS checks that the fix holds (0: no watch)")
    auto_rollback: bool = Field(default=False, description="Roll back by itself when the fix regresses during the watch (on the approver's behalf)")

    # Several replicas (DESIGN.md §4): who this replica is, and the Lease the leader holds.
    replica_id: str | None = Field(default=None, description="This replica's name, kept across restarts (default: the pod's hostname)")
    leader_lease_namespace: str = Field(default="aegis-system", description="Namespace of the leader-election Lease (AEGIS's own)")
    leader_lease_name: str = Field(default="aegis-leader", description="Name of the leader-election Lease")
    leader_lease_seconds: float = Field(default=15.0, ge=2, le=300, description="Lease duration; a dead leader is replaced after it")
    replica_heartbeat_seconds: float = Field(default=5.0, ge=0.5, le=60, description="How often a replica records it is alive in the store")

    # `aegis mcp` (bot/mcp): the MCP server for AI assistants.
    mcp_token: SecretStr | None = Field(default=None, description="Bearer token every MCP client must send to `aegis mcp --http`; required there")
    mcp_snapshot_dir: str = Field(default="aegis-snapshots", description="Where the MCP `snapshot` tool writes bundles (clients never choose the path)")
    slack_workspace_url: str | None = Field(default=None, description="https://WORKSPACE.slack.com, for incident thread links outside Slack (MCP)")

    @field_validator("shadow_egress_allow_cidrs", "protected_namespaces", mode="before")
    @classmethod
    def _comma_list_fix(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("channel_namespaces", mode="before")
    @classmethod
    def _channel_namespaces(cls, value: Any) -> Any:
        # C0123=shop-*|payments,C0456=* (a YAML mapping of lists works too).
        if isinstance(value, str):
            parsed: dict[str, list[str]] = {}
            for item in (v.strip() for v in value.split(",")):
                if not item:
                    continue
                channel, sep, globs = item.partition("=")
                if not sep or not channel.strip() or not globs.strip():
                    raise ValueError(f"each entry must be CHANNEL=GLOB|GLOB (got {item!r})")
                parsed[channel.strip()] = [g.strip() for g in globs.split("|") if g.strip()]
            return parsed
        return value

    @field_validator("namespace_modes", mode="before")
    @classmethod
    def _namespace_modes(cls, value: Any) -> Any:
        # prod-*=suggest,staging-*=apply (a YAML mapping works too); every mode must be one AEGIS_MODE takes.
        pairs = list(value.items()) if isinstance(value, dict) else value
        if isinstance(value, str):
            pairs = [item.split("=", 1) if "=" in item else (item, "") for item in (v.strip() for v in value.split(",")) if item]
        modes = ("read-only", "suggest", "verify", "apply")
        for glob, mode in pairs:
            if not str(glob).strip() or str(mode).strip() not in modes:
                raise ValueError(f"each entry must be GLOB=MODE with MODE one of {', '.join(modes)} (got {glob}={mode})")
        return [(str(glob).strip(), str(mode).strip()) for glob, mode in pairs]

    @field_validator("shadow_as_user")
    @classmethod
    def _shadow_as_user_needs_a_map(cls, value: bool, info: ValidationInfo) -> bool:
        # Acting as the person needs to know who they are in Kubernetes.
        if value and not info.data.get("identity_map"):
            raise ValueError("needs AEGIS_IDENTITY_MAP (whom to act as)")
        return value

    @field_validator("approvers", "approver_groups", "silencers", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # AEGIS_APPROVERS=U1,U2 in the environment; a YAML list works as is.
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("prometheus_url", "loki_url", "grafana_url", "slack_workspace_url", "alertmanager_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("alertmanager_password")
    @classmethod
    def _one_alertmanager_credential(cls, password: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Checked on the password (validated last of the three), so the error names a variable to set.
        username, token = info.data.get("alertmanager_username"), info.data.get("alertmanager_bearer_token")
        if username and password is None:
            raise ValueError("AEGIS_ALERTMANAGER_USERNAME is set: set the password for it too")
        if password is not None and not username:
            raise ValueError("set AEGIS_ALERTMANAGER_USERNAME too (basic auth needs both)")
        if password is not None and token is not None:
            raise ValueError("set either AEGIS_ALERTMANAGER_BEARER_TOKEN or AEGIS_ALERTMANAGER_USERNAME/_PASSWORD, not both")
        return password

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("llm_model")
    @classmethod
    def _provider_and_model(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z][a-z0-9_-]*:\S+", value):
            raise ValueError("must be 'provider:model', e.g. openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5 or ollama:llama3.1")
        return value

    @property
    def analysis_policy(self) -> AnalysisPolicy:
        return AnalysisPolicy(memory_limit_max_mib=self.memory_limit_max_mib, memory_limit_factor=self.memory_limit_factor)

    @model_validator(mode="before")
    @classmethod
    def _sources(cls, data: Any) -> Any:
        """Keyword arguments over the environment over aegis.yaml, keyed by field name."""
        if not isinstance(data, dict):
            return data
        merged = {_field_of(key): value for key, value in _yaml_values().items()}
        merged.update(_env_values())
        merged.update({_field_of(key): value for key, value in data.items()})
        return merged


def _env_names(field: str) -> list[str]:
    """The environment variables a field is read from (lower case: the lookup ignores case, as kubectl's users expect of env vars)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).lower() for choice in alias.choices]
    return [f"{ENV_PREFIX}{field}".lower()]


def _env_values() -> dict[str, str]:
    environ = {key.lower(): value for key, value in os.environ.items()}
    values: dict[str, str] = {}
    for field in Settings.model_fields:
        for name in _env_names(field):
            if name in environ:
                values[field] = environ[name]
                break
    return values


def _field_of(key: str) -> str:
    """The field a key names: its own name, or one of its aliases (SLACK_BOT_TOKEN); unknown keys stay as they are (and are refused)."""
    if key in Settings.model_fields:
        return key
    for field, info in Settings.model_fields.items():
        if isinstance(info.validation_alias, AliasChoices) and key in info.validation_alias.choices:
            return field
    return key


def _yaml_values() -> dict[str, Any]:
    """Values from aegis.yaml (lowest precedence); none when there is no file."""
    path = config_path()
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"AEGIS_CONFIG: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"AEGIS_CONFIG: {path} must be a mapping of setting: value")
    return {str(key): value for key, value in data.items()}


def config_path() -> Path | None:
    explicit = os.environ.get("AEGIS_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"AEGIS_CONFIG: {path} does not exist")
        return path
    default = Path("aegis.yaml")
    return default if default.is_file() else None


def load(**overrides: Any) -> Settings:
    """Settings from the environment and aegis.yaml; ConfigError (one line) when a value is invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = str(error["loc"][0]) if error["loc"] else "?"
        shown = _variable_name(loc)
        value = "***" if any(word in loc.lower() for word in ("token", "secret", "password")) else error.get("input")
        message = str(error["msg"]).removeprefix("Value error, ")
        # A validator that names the bad entry itself says "(got …)" already: the line says it once.
        got = f" (got {value!r})" if value is not None and not isinstance(value, dict) and "(got " not in message else ""
        raise ConfigError(f"{shown}: {message}{got}") from None


def _variable_name(field: str) -> str:
    """The environment variable a person sets for a field (SLACK_* keep Slack's own names)."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"AEGIS_{field.upper()}"
