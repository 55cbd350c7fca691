"""The Investigator hands its diagnosis to the agents only when a model is configured."""

from __future__ import annotations

from aegis.core import config
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Author
from tests.fakes.llm import ScriptedChatModel, echo_answers
from tests.incidents import EXAMPLES, load_all
from tests.unit.agents.conftest import Case

INCIDENT = next(i for i in load_all(EXAMPLES) if i.name == "crashloop-missing-env")


async def test_configured_model_refines_through_the_investigator(missing_env: Case) -> None:
    """With AEGIS_LLM_MODEL set, investigate() returns the model's validated answer and names the model."""
    import json

    model = ScriptedChatModel(script={k: json.dumps(v) for k, v in echo_answers(missing_env.diagnosis).items()})
    settings = config.load(llm_model="openai:gpt-test", llm_timeout_seconds=5, llm_max_retries=0)
    diagnosis = await Investigator(SnapshotGateway.open(INCIDENT.snapshot), settings=settings, llm=model).investigate(INCIDENT.target)
    assert diagnosis.llm_model == "openai:gpt-test"
    assert diagnosis.rca.author is Author.MODEL
    assert diagnosis.rca.category.value == "missing_env_var"


async def test_no_model_means_analyzers_only() -> None:
    """Without a model setting the diagnosis is the analyzers' own."""
    diagnosis = await Investigator(SnapshotGateway.open(INCIDENT.snapshot), settings=config.load()).investigate(INCIDENT.target)
    assert diagnosis.llm_model is None and diagnosis.rca.author is Author.ANALYZERS
