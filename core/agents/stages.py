"""The three agents as LangChain runnables: Prompt in, a parsed answer out.

RCA (→ RCAAnswer), solution (→ FixAnswer) and verifier (→ PlanAnswer) share one shape:
messages from the Prompt | the chat model (retried on provider errors) | parsing into the answer
schema. Where the model supports tool calling, `with_structured_output` asks the provider for the
schema itself; otherwise (local models, LangChain's fake chat models) the prompt's JSON Schema and
strict JSON parsing do the same job. Either way a bad answer raises AnswerError, never retried:
asking again does not make a manipulated or confused answer safe. LangChain is imported here,
inside functions, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aegis.core.agents.answers import SCHEMAS, Answer, AnswerError, Stage, parse, validate
from aegis.core.agents.prompting import Prompt

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable


def _retryable(exc: BaseException) -> bool:
    """Provider errors are retried; an invalid answer is not, and neither is a cancellation.

    tenacity hands every BaseException to this predicate: answering True for CancelledError turned
    the pipeline's timeout into one more attempt, so a provider that never answered held the
    process for as long as the client's own timeout allowed (minutes), attempt after attempt.
    """
    from pydantic import ValidationError  # a provider SDK that parses the answer itself (OpenAI's structured outputs) raises it

    return isinstance(exc, Exception) and not isinstance(exc, AnswerError | ValidationError)


def _messages(prompt: Prompt) -> list[BaseMessage]:
    from langchain_core.messages import HumanMessage, SystemMessage

    return [SystemMessage(content=prompt.system), HumanMessage(content=prompt.human)]


def supports_structured_output(model: BaseChatModel) -> bool:
    from langchain_core.language_models import BaseChatModel

    # BaseChatModel.with_structured_output needs bind_tools; providers override one or both.
    cls = type(model)
    return cls.bind_tools is not BaseChatModel.bind_tools or cls.with_structured_output is not BaseChatModel.with_structured_output


def build(model: BaseChatModel, stage: Stage, *, max_retries: int) -> Runnable[Prompt, Answer]:
    """The runnable for one agent stage."""
    from langchain_core.runnables import RunnableLambda

    schema = SCHEMAS[stage]
    to_messages = RunnableLambda(_messages, name=f"aegis-{stage}-prompt")
    attempts = max_retries + 1
    if supports_structured_output(model):
        structured = model.with_structured_output(schema, include_raw=True).with_retry(retry_if_exception_type=_retryable, stop_after_attempt=attempts)

        def from_structured(result: Any) -> Answer:
            if isinstance(result, dict):
                if result.get("parsing_error") is not None:
                    raise AnswerError("schema_mismatch", str(result["parsing_error"])[:200])
                parsed = result.get("parsed")
                if isinstance(parsed, schema):
                    return parsed
                if parsed is not None:
                    return validate(schema, parsed)
                raw = result.get("raw")
                return parse(schema, str(getattr(raw, "text", "") or ""))
            return validate(schema, result)

        return (to_messages | structured | RunnableLambda(from_structured, name=f"aegis-{stage}-answer")).with_config(run_name=f"aegis-{stage}")

    def from_text(message: BaseMessage) -> Answer:
        return parse(schema, message.text)

    chain = to_messages | model.with_retry(retry_if_exception_type=_retryable, stop_after_attempt=attempts) | RunnableLambda(from_text)
    return chain.with_config(run_name=f"aegis-{stage}")
