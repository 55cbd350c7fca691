"""refine(): validated model answers flow into the Diagnosis and the JSON report; anything else falls back."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from aegis.core import config
from aegis.core.agents import pipeline
from aegis.core.models import Author, Category, EvidenceId
from aegis.core.report import AnalysisReport, to_json
from tests.fakes.llm import ScriptedChatModel

from .conftest import Case

GOOD_RCA = {
    "verdict": "confirmed",
    "category": "missing_env_var",
    "summary": "Revision 4 dropped DATABASE_URL from container checkout, so it exits at start-up [E7, E8].",
    "confidence": 0.97,
    "analysis_steps": [
        "Checked the container state — CrashLoopBackOff, exit 1, 6 restarts [E3, E4]",
        "Read the previous log — fatal: DATABASE_URL is not set [E7]",
        "Compared revisions 3 and 4 — the env entry DATABASE_URL was removed [E8]",
    ],
    "evidence_summary": ["E3: container crash-looping with exit 1", "E7: log names the missing variable", "E8: rollout removed it"],
    "evidence_ids": ["E3", "E4", "E7", "E8"],
}


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


async def test_no_model_configured_returns_the_diagnosis_unchanged(missing_env: Case, settings: config.Settings) -> None:
    """With AEGIS_LLM_MODEL unset, refine() is the identity and contacts nothing."""
    assert await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle) is missing_env.diagnosis


def test_importing_the_pipeline_does_not_import_langchain() -> None:
    """The entry-point module is cheap to import: LangChain loads only when a model is used."""
    code = "import sys, aegis.core.agents.pipeline; print(any(m.split('.')[0] in ('langchain', 'langchain_core') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


async def test_well_formed_answers_flow_into_diagnosis_and_json_report(missing_env: Case, settings: config.Settings) -> None:
    """LangChain's FakeListChatModel answering all three stages: each part is the model's, marked so, and in the report."""
    answers = missing_env.answers()
    answers["solution"]["decision_rationale"] = "Reference Secret checkout-db instead of copying the value [E7, E8]."
    answers["verifier"]["checks"] = ["all replicas Ready", "no log line 'DATABASE_URL is not set' for 60 s"]
    model = FakeListChatModel(responses=[json.dumps(GOOD_RCA), json.dumps(answers["solution"]), json.dumps(answers["verifier"])])
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)

    assert refined.rca.author is Author.MODEL and refined.rca.summary == GOOD_RCA["summary"]
    assert refined.rca.evidence_ids == [EvidenceId(e) for e in GOOD_RCA["evidence_ids"]]
    assert refined.fix is not None and refined.fix.author is Author.MODEL
    assert refined.fix.decision_rationale.startswith("Reference Secret checkout-db")
    assert refined.fix.patch == missing_env.diagnosis.fix.patch if missing_env.diagnosis.fix else False
    assert "+        - name: DATABASE_URL" in refined.fix.diff
    assert refined.verification_plan is not None and refined.verification_plan.author is Author.MODEL
    assert refined.llm_model == "fake-list-chat-model:injected"
    assert any("validated by AEGIS: root cause, fix, verification plan" in n for n in refined.notes)

    report = json.loads(to_json(refined))
    assert report["diagnosis"]["author"] == "model" and report["fix"]["author"] == "model"
    assert report["llm_model"] == "fake-list-chat-model:injected"
    assert report["diagnosis"]["summary"] == GOOD_RCA["summary"]
    AnalysisReport.model_validate(report)


async def test_generic_fake_model_with_code_fenced_answers(missing_env: Case, settings: config.Settings) -> None:
    """GenericFakeChatModel answering in ```json fences still parses: the fence is tolerated, the JSON is strict."""
    answers = missing_env.answers()
    fenced = [AIMessage(content=f"```json\n{json.dumps(a)}\n```") for a in (GOOD_RCA, answers["solution"], answers["verifier"])]
    model = GenericFakeChatModel(messages=iter(fenced))
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert refined.rca.author is Author.MODEL and refined.fix is not None and refined.fix.author is Author.MODEL


@pytest.mark.parametrize(
    ("rca_text", "reason"),
    [
        ('{"verdict": "confirmed", "category": "missing_env_var", "summary": "cut off', "malformed_json"),
        ("I think it is the database. Definitely the database.", "malformed_json"),
        (json.dumps({**GOOD_RCA, "confidence": "very high"}), "schema_mismatch"),
        (json.dumps({**GOOD_RCA, "category": "cosmic_rays"}), "schema_mismatch"),
        (json.dumps({**GOOD_RCA, "analysis_steps": "one long string"}), "schema_mismatch"),
        (json.dumps({k: v for k, v in GOOD_RCA.items() if k != "evidence_ids"}), "schema_mismatch"),
        (json.dumps({**GOOD_RCA, "evidence_ids": ["E3", "E99"]}), "unknown_evidence_id"),
        (json.dumps({**GOOD_RCA, "analysis_steps": ["The node ran out of disk [E42]"]}), "unknown_evidence_id"),
        (json.dumps({**GOOD_RCA, "evidence_summary": ["the log is bad"]}), "uncited_evidence_bullet"),
        (json.dumps({**GOOD_RCA, "verdict": "refuted", "category": "oom_killed"}), "category_conflict"),
    ],
)
async def test_invalid_rca_answers_fall_back_to_the_analyzers(missing_env: Case, settings: config.Settings, rca_text: str, reason: str) -> None:
    """Malformed JSON, wrong types, hallucinated evidence ids and an overruled confident hypothesis: the analyzers' RCA stands."""
    model = missing_env.model(rca=rca_text)
    with capture_logs() as logs:
        refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert refined.rca == missing_env.diagnosis.rca
    assert [e["reason"] for e in _events(logs, "llm.validate.rejected")] == [reason]
    assert any(n.startswith(f"LLM rca answer dropped ({reason}") for n in refined.notes)
    # The later stages still ran on the analyzers' hypothesis.
    assert refined.fix is not None and refined.fix.author is Author.MODEL


async def test_model_may_refute_an_unknown_hypothesis(missing_env: Case, settings: config.Settings) -> None:
    """When the analyzers found nothing (unknown), a cited, valid model category replaces it and is noted."""
    unknown = missing_env.diagnosis.model_copy(update={
        "rca": missing_env.diagnosis.rca.model_copy(update={"category": Category.UNKNOWN, "confidence": 0.2}),
        "fix": None, "verification_plan": None,
    })  # fmt: skip
    answers = missing_env.answers()
    model = ScriptedChatModel(script={"rca": json.dumps({**GOOD_RCA, "verdict": "refuted"}), "solution": json.dumps(answers["solution"]),
                                      "verifier": json.dumps(answers["verifier"])})  # fmt: skip
    refined = await pipeline.refine(unknown, settings=settings, bundle=missing_env.bundle, model=model)
    assert refined.rca.category is Category.MISSING_ENV_VAR and refined.rca.author is Author.MODEL
    assert refined.fix is not None and refined.fix.author is Author.MODEL
    assert any("refuted the analyzers' hypothesis (unknown)" in n for n in refined.notes)


async def test_model_answers_for_wrong_stage_shape_are_dropped_per_stage(missing_env: Case, settings: config.Settings) -> None:
    """A solution answer with the wrong types drops only the fix part: the RCA the model wrote stays."""
    model = missing_env.model(rca=json.dumps(GOOD_RCA), solution=json.dumps({"propose_patch": "yes", "patch": "replace everything"}))
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert refined.rca.author is Author.MODEL
    assert refined.fix == missing_env.diagnosis.fix


async def test_timeout_falls_back_with_one_line_note_and_metric(missing_env: Case) -> None:
    """A model slower than AEGIS_LLM_TIMEOUT_SECONDS: the analyzers' diagnosis stands, one note, a failed event, a timeout sample."""
    settings = config.load(llm_timeout_seconds=0.05, llm_max_retries=0)
    labels = {"provider": "scripted-fake", "outcome": "timeout"}
    before = REGISTRY.get_sample_value("aegis_llm_request_duration_seconds_count", labels) or 0.0
    model = missing_env.model()
    model.delay_seconds = 2.0
    with capture_logs() as logs:
        refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert refined.model_dump(exclude={"notes", "llm_model"}) == missing_env.diagnosis.model_dump(exclude={"notes", "llm_model"})
    new_notes = refined.notes[len(missing_env.diagnosis.notes) :]
    assert len(new_notes) == 1 and "timed out after 0.05s" in new_notes[0] and "\n" not in new_notes[0]
    assert [e["outcome"] for e in _events(logs, "llm.request.failed")] == ["timeout"]
    assert len(_events(logs, "llm.request.start")) == 1, "no further stage is tried after a timeout"
    assert REGISTRY.get_sample_value("aegis_llm_request_duration_seconds_count", labels) == before + 1


async def test_provider_errors_are_retried_then_fall_back(missing_env: Case) -> None:
    """A provider error is retried AEGIS_LLM_MAX_RETRIES times, then the analyzers' diagnosis stands with a note."""
    settings = config.load(llm_timeout_seconds=10, llm_max_retries=1)
    model = missing_env.model(rca=ConnectionError("connection reset by peer"))
    with capture_logs() as logs:
        refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert model.calls["rca"] == 2
    assert refined.rca == missing_env.diagnosis.rca and refined.fix == missing_env.diagnosis.fix
    assert any("provider error ConnectionError" in n for n in refined.notes)
    assert _events(logs, "llm.request.failed")[0]["outcome"] == "error"


async def test_invalid_answers_are_not_retried(missing_env: Case) -> None:
    """Asking again does not make a bad answer safe: one request per stage, even with retries configured."""
    settings = config.load(llm_timeout_seconds=10, llm_max_retries=3)
    model = missing_env.model(rca="not json")
    await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert model.calls == {"rca": 1, "solution": 1, "verifier": 1}


async def test_request_events_and_metrics_for_each_stage(missing_env: Case, settings: config.Settings) -> None:
    """llm.request.start and .complete are logged per stage, and each request is observed in the histogram."""
    labels = {"provider": "scripted-fake", "outcome": "ok"}
    before = REGISTRY.get_sample_value("aegis_llm_request_duration_seconds_count", labels) or 0.0
    with capture_logs() as logs:
        await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=missing_env.model())
    assert [e["stage"] for e in _events(logs, "llm.request.start")] == ["rca", "solution", "verifier"]
    assert [e["stage"] for e in _events(logs, "llm.request.complete")] == ["rca", "solution", "verifier"]
    assert REGISTRY.get_sample_value("aegis_llm_request_duration_seconds_count", labels) == before + 3


async def test_without_a_bundle_only_the_root_cause_is_refined(missing_env: Case, settings: config.Settings) -> None:
    """No object to check a patch against: the solution stage is skipped and the analyzers' fix stands."""
    model = missing_env.model(rca=json.dumps(GOOD_RCA))
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, model=model)
    assert refined.rca.author is Author.MODEL
    assert "solution" not in model.calls
    assert refined.fix == missing_env.diagnosis.fix


async def test_over_budget_prompt_is_not_sent(missing_env: Case) -> None:
    """When even a trimmed prompt exceeds AEGIS_LLM_MAX_INPUT_TOKENS, nothing is sent and a note says why."""
    settings = config.load(llm_max_input_tokens=1000)
    model = missing_env.model()
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=model)
    assert model.prompts == []
    assert refined.rca == missing_env.diagnosis.rca
    assert any("AEGIS_LLM_MAX_INPUT_TOKENS=1000" in n for n in refined.notes)


def test_from_settings_builds_nothing_without_a_model() -> None:
    """from_settings is None when AEGIS_LLM_MODEL is unset."""
    assert pipeline.from_settings(config.load()) is None


def test_missing_provider_package_is_a_config_error() -> None:
    """A provider whose LangChain integration is not installed stops with one line naming AEGIS_LLM_MODEL."""
    from aegis.core.errors import ConfigError

    with pytest.raises(ConfigError, match="AEGIS_LLM_MODEL"):
        pipeline.from_settings(config.load(llm_model="ollama:llama3.1"))


async def test_server_side_dry_run_refusal_drops_the_model_fix(missing_env: Case, settings: config.Settings) -> None:
    """On a live cluster the model's patch must also pass a server-side dry-run; a refusal leaves the analyzers' fix."""
    from aegis.core.errors import ConflictError
    from aegis.core.models import FixProposal

    seen: list[FixProposal] = []

    async def refuse(fix: FixProposal) -> None:
        seen.append(fix)
        raise ConflictError("the object has been modified; test operation failed")

    async def accept(fix: FixProposal) -> None:
        seen.append(fix)

    refused = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=missing_env.model(), dry_run=refuse)
    assert seen[0].author is Author.MODEL
    assert refused.fix == missing_env.diagnosis.fix and any("dry_run_failed" in n for n in refused.notes)
    accepted = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=missing_env.model(), dry_run=accept)
    assert accepted.fix is not None and accepted.fix.author is Author.MODEL and len(seen) == 2


class _ToolCallingFake(GenericFakeChatModel):
    """A fake that 'supports tools', so the pipeline takes the with_structured_output path."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def test_structured_output_path_for_tool_calling_models(missing_env: Case, settings: config.Settings) -> None:
    """Models with tool calling answer through with_structured_output; the same validation applies (a bad id still falls back)."""
    from aegis.core.agents import stages

    answers = missing_env.answers()

    def call(name: str, args: dict[str, Any]) -> AIMessage:
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{name}", "type": "tool_call"}])

    good = _ToolCallingFake(messages=iter([call("RCAAnswer", GOOD_RCA), call("FixAnswer", answers["solution"]), call("PlanAnswer", answers["verifier"])]))
    assert stages.supports_structured_output(good)
    refined = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=good)
    assert refined.rca.author is Author.MODEL and refined.fix is not None and refined.fix.author is Author.MODEL

    bad = _ToolCallingFake(messages=iter([call("RCAAnswer", {**GOOD_RCA, "evidence_ids": ["E77"]}), call("FixAnswer", {"propose_patch": "maybe"}),
                                          call("PlanAnswer", answers["verifier"])]))  # fmt: skip
    with capture_logs() as logs:
        fallback = await pipeline.refine(missing_env.diagnosis, settings=settings, bundle=missing_env.bundle, model=bad)
    assert fallback.rca == missing_env.diagnosis.rca and fallback.fix == missing_env.diagnosis.fix
    assert [e["reason"] for e in _events(logs, "llm.validate.rejected")] == ["unknown_evidence_id", "schema_mismatch"]
