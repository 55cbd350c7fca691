"""Fakes for the LLM seam: a scripted, recording chat model and an echo model of the hypothesis.

`ScriptedChatModel` is a real LangChain chat model (so the pipeline runs unchanged) that answers
each stage from a script, can be slow or fail, and records every message it was sent: tests
assert on exactly what a provider would have seen. `echo_model(diagnosis)` answers every stage
with the deterministic hypothesis, for `bench/llm_eval.py --fake` and smoke tests. No network.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from aegis.core.models import Diagnosis

_TASK = re.compile(r"^## Task: (\w+)", re.MULTILINE)


def stage_of(messages: list[BaseMessage]) -> str:
    """The stage a prompt is for, from its '## Task: …' line."""
    for message in reversed(messages):
        found = _TASK.search(message.text)
        if found:
            return found.group(1)
    return "unknown"


class ScriptedChatModel(BaseChatModel):
    """Answers from `script[stage]` (text, an exception to raise, or a list of these used in turn)."""

    script: dict[str, Any] = Field(default_factory=dict)
    delay_seconds: float = 0.0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    calls: dict[str, int] = Field(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def sent_text(self) -> str:
        """Everything sent to the model so far, as one string."""
        return "\n".join(m.text for prompt in self.prompts for m in prompt)

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        self.prompts.append(list(messages))
        stage = stage_of(messages)
        turn = self.calls.get(stage, 0)
        self.calls[stage] = turn + 1
        entry = self.script.get(stage, "")
        if isinstance(entry, list):
            entry = entry[min(turn, len(entry) - 1)] if entry else ""
        if isinstance(entry, BaseException):
            raise entry
        text = entry if isinstance(entry, str) else json.dumps(entry)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> ChatResult:
        return self._answer(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any
    ) -> ChatResult:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return self._answer(messages)


def echo_answers(diagnosis: Diagnosis) -> dict[str, Any]:
    """Each stage's answer, restating the deterministic diagnosis (as JSON-ready dicts)."""
    rca = diagnosis.rca
    answers: dict[str, Any] = {
        "rca": {
            "verdict": "confirmed", "category": rca.category.value, "summary": rca.summary, "confidence": rca.confidence,
            "analysis_steps": rca.analysis_steps or ["Restated the analyzers' hypothesis"],
            "evidence_summary": rca.evidence_summary or [f"{e}: cited by the analyzers" for e in rca.evidence_ids],
            "evidence_ids": list(rca.evidence_ids),
        },
        "solution": {"propose_patch": False, "decision_rationale": "The analyzers proposed no patch."},
        "verifier": {"checks": ["all replicas Ready"], "settle_seconds": 30, "timeout_seconds": 180},
    }  # fmt: skip
    if diagnosis.fix:
        fix = diagnosis.fix
        answers["solution"] = {
            "propose_patch": True, "target": fix.target.model_dump(), "patch": fix.patch_json(), "summary": fix.summary,
            "decision_rationale": fix.decision_rationale, "risk": fix.risk.value, "risk_notes": fix.risk_notes,
            "alternatives_rejected": fix.alternatives_rejected,
        }  # fmt: skip
    if diagnosis.verification_plan:
        answers["verifier"] = diagnosis.verification_plan.model_dump(mode="json", exclude={"author"})
    return answers


def echo_model(diagnosis: Diagnosis, *, delay_seconds: float = 0.0) -> ScriptedChatModel:
    """A model that agrees with the analyzers on every stage."""
    return ScriptedChatModel(script={k: json.dumps(v) for k, v in echo_answers(diagnosis).items()}, delay_seconds=delay_seconds)
