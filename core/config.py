"""Settings: AEGIS_* environment variables, over an optional aegis.yaml.

One Settings model for the whole process. `load()` turns any invalid value into a ConfigError
whose single line names the setting (as the variable a person would set) and what is wrong.
The YAML file is `AEGIS_CONFIG` if set, else ./aegis.yaml when present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from aegis.core.errors import ConfigError
from aegis.core.models import AnalysisPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AEGIS_", extra="forbid", frozen=True)

    log_format: Literal["auto", "json", "console"] = Field(default="auto", description="auto: key=value on a terminal, JSON otherwise")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    kubeconfig: str | None = Field(default=None, description="Path to a kubeconfig; default: KUBECONFIG or ~/.kube/config")
    kube_context: str | None = None
    in_cluster: bool = Field(default=False, description="Use the pod's ServiceAccount instead of a kubeconfig")
    log_tail_lines: int = Field(default=200, ge=10, le=5000)
    memory_limit_max_mib: int = Field(default=8192, gt=0)
    memory_limit_factor: float = Field(default=2.0, gt=1.0, le=4.0)

    @property
    def analysis_policy(self) -> AnalysisPolicy:
        return AnalysisPolicy(memory_limit_max_mib=self.memory_limit_max_mib, memory_limit_factor=self.memory_limit_factor)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Values from aegis.yaml (lowest precedence)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if path is None:
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"AEGIS_CONFIG: cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"AEGIS_CONFIG: {path} must be a mapping of setting: value")
        return data


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
        shown = f"AEGIS_{loc.upper()}" if loc in Settings.model_fields else loc
        value = error.get("input")
        got = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
        raise ConfigError(f"{shown}: {error['msg']}{got}") from None
