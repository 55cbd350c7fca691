"""AEGIS core: everything that is not Slack and can run from a CLI or a test."""

from aegis.core._quiet_imports import preload_structlog, skip_pydantic_plugin_discovery

skip_pydantic_plugin_discovery()  # before any module builds a pydantic model
preload_structlog()  # before any module imports structlog: see _quiet_imports
