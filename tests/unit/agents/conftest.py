"""Fixtures for the LLM agents: example incidents as (bundle, diagnosis), settings, scripted answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from aegis.core import config
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Diagnosis, ObjectRef
from tests.fakes.llm import ScriptedChatModel, echo_answers
from tests.incidents import EXAMPLES, load_all


@dataclass(frozen=True)
class Case:
    """An analyzed incident: what the analyzers saw and concluded."""

    bundle: ObjectBundle
    diagnosis: Diagnosis

    def answers(self) -> dict[str, Any]:
        """Echo answers (the hypothesis restated) to edit per test."""
        return echo_answers(self.diagnosis)

    def model(self, **overrides: Any) -> ScriptedChatModel:
        """A scripted model answering the echo, with some stages' answers replaced."""
        script = {k: v if isinstance(v, str | list | BaseException) else json.dumps(v) for k, v in {**self.answers(), **overrides}.items()}
        return ScriptedChatModel(script=script)


async def analyze(snapshot: Path, target: ObjectRef) -> Case:
    bundle, notes = await Investigator(SnapshotGateway.open(snapshot)).collect(target)
    return Case(bundle, diagnose(bundle, None, notes))


async def example(name: str) -> Case:
    incident = next(i for i in load_all(EXAMPLES) if i.name == name)
    return await analyze(incident.snapshot, incident.target)


@pytest.fixture
async def missing_env() -> Case:
    """crashloop-missing-env: missing_env_var at 0.95 with a guarded add-env fix on deployment/checkout."""
    return await example("crashloop-missing-env")


@pytest.fixture
def settings() -> config.Settings:
    return config.load(llm_timeout_seconds=5, llm_max_retries=0)


@pytest.fixture(autouse=True)
def _all_log_levels() -> Iterator[None]:
    """capture_logs sees info events even if an earlier test configured logging at warning."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(**before)
