"""The LLM path's entry points: `from_settings(settings)` and `refine(diagnosis, ...)`.

`refine` takes the deterministic diagnosis as a hypothesis and runs three agents over it: RCA
(confirm or refute, step by step, citing evidence), solution (a guarded patch with its rationale)
and verifier (the shadow-run plan). Each answer is validated (`guards`); a part that fails is
dropped with a logged reason and the analyzers' part stands. A timeout, a provider error or an
over-budget prompt ends the LLM path there, keeping what was validated so far, and leaves one line
in `Diagnosis.notes`. The analyzers' diagnosis is the floor: `refine` never raises for a model's
sake and never returns less than it was given.

Importing this module does not import LangChain; `from_settings` and the stages do, when called.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from aegis.core import telemetry
from aegis.core.agents import guards, prompting, scope
from aegis.core.agents.answers import AnswerError, FixAnswer, PlanAnswer, RCAAnswer, Stage
from aegis.core.errors import ConfigError
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes.verification import plan_for
from aegis.core.models import Author, Category, Diagnosis, FixProposal, KubeObject, RCAResult, VerificationPlan

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from aegis.core.config import Settings


def from_settings(settings: Settings) -> BaseChatModel | None:
    """The configured chat model (`AEGIS_LLM_MODEL`, 'provider:model'), or None when none is configured.

    The provider's client is built with a request timeout no longer than one request may take
    (AEGIS_LLM_TIMEOUT_SECONDS, capped by AEGIS_LLM_BUDGET_SECONDS) and without retries of its own:
    the stages retry (AEGIS_LLM_MAX_RETRIES) inside the budget, and the client's hidden retries and
    ten-minute default timeout would only hide time from it. The budget itself is enforced by
    `refine`, whatever the client does.
    """
    if not settings.llm_model:
        return None
    provider, _, name = settings.llm_model.partition(":")
    from langchain.chat_models import init_chat_model

    try:
        model = init_chat_model(name, model_provider=provider)
        limits = _client_limits(type(model), min(settings.llm_timeout_seconds, settings.llm_budget_seconds))
        return init_chat_model(name, model_provider=provider, **limits) if limits else model
    except ImportError as exc:
        raise ConfigError(f"AEGIS_LLM_MODEL: provider {provider!r} needs its LangChain integration installed ({' '.join(str(exc).split())})") from exc
    except Exception as exc:  # a provider's own configuration errors (a missing API key, an unknown option)
        raise ConfigError(f"AEGIS_LLM_MODEL: {provider!r} cannot be set up: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc


def _client_limits(model_class: type[Any], timeout: float) -> dict[str, Any]:
    """The constructor arguments that bound this provider class's requests, where it has them."""
    fields = getattr(model_class, "model_fields", {})
    names = set(fields) | {info.alias for info in fields.values() if getattr(info, "alias", None)}
    limits: dict[str, Any] = {}
    if "timeout" in names:  # ChatOpenAI (request_timeout), ChatAnthropic (default_request_timeout), most others
        limits["timeout"] = timeout
    elif "request_timeout" in names:
        limits["request_timeout"] = timeout
    elif "client_kwargs" in names:  # ChatOllama hands these to its httpx client
        limits["client_kwargs"] = {"timeout": timeout}
    if "max_retries" in names:
        limits["max_retries"] = 0
    return limits


class _Unavailable(Exception):  # noqa: N818 - ends the LLM path; not raised past refine()
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Session:
    """One refine() call: the model, its limits, the log, and the notes to leave."""

    def __init__(self, model: BaseChatModel, settings: Settings, name: str, log: Any, dry_run: DryRun | None, deadline: float) -> None:
        self.model = model
        # One budget for every stage and retry of this diagnosis (AEGIS_LLM_BUDGET_SECONDS).
        self.budget = settings.llm_budget_seconds
        self.deadline = deadline
        self.dry_run = dry_run
        self.settings = settings
        self.name = name
        self.provider = name.split(":", 1)[0]
        self.log = log
        self.notes: list[str] = []

    async def ask(self, stage: Stage, prompt: prompting.Prompt) -> Any:
        """One stage's parsed answer; raises guards.Rejected (invalid answer) or _Unavailable."""
        from aegis.core.agents import stages

        timeout, by_budget = self.time_left(self.settings.llm_timeout_seconds)
        runnable = stages.build(self.model, stage, max_retries=self.settings.llm_max_retries)
        self.log.info("llm.request.start", stage=stage, provider=self.provider, estimated_tokens=prompt.estimated_tokens, timeout_s=round(timeout, 2))
        started = time.perf_counter()
        outcome = "ok"
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation that races the answer.
            async with asyncio.timeout(timeout):
                answer = await runnable.ainvoke(prompt)
        except AnswerError as exc:
            outcome = "invalid"
            raise guards.Rejected(exc.reason, exc.detail) from exc
        except ValidationError as exc:  # the provider's SDK checked the answer against the schema itself (OpenAI structured outputs)
            outcome = "invalid"
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
            raise guards.Rejected("schema_mismatch", f"{'.'.join(str(p) for p in first['loc']) or 'answer'}: {first['msg']}") from exc
        except TimeoutError as exc:
            outcome = "timeout"
            if by_budget:
                raise _Unavailable(f"timed out: the {self.budget:g}s budget for the model (AEGIS_LLM_BUDGET_SECONDS) ran out during {stage}") from exc
            raise _Unavailable(f"timed out after {timeout:g}s") from exc
        except Exception as exc:  # a provider's errors are its own classes; any of them means "no answer"
            outcome = "error"
            raise _Unavailable(f"provider error {type(exc).__name__}") from exc
        finally:
            elapsed = time.perf_counter() - started
            telemetry.LLM_REQUEST_DURATION.labels(provider=self.provider, outcome=outcome).observe(elapsed)
            event = "llm.request.complete" if outcome == "ok" else "llm.request.failed"
            (self.log.info if outcome == "ok" else self.log.warning)(
                event, stage=stage, provider=self.provider, outcome=outcome, duration_ms=round(elapsed * 1000, 1)
            )
        return answer

    def time_left(self, per_call: float) -> tuple[float, bool]:
        """Seconds the next call may take, and whether the budget (not the per-call limit) sets it."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Unavailable(f"timed out: the {self.budget:g}s budget for the model (AEGIS_LLM_BUDGET_SECONDS) is spent")
        return min(per_call, remaining), remaining < per_call

    def rejected(self, stage: Stage, exc: guards.Rejected, kept: str) -> None:
        self.log.warning("llm.validate.rejected", stage=stage, reason=exc.reason, detail=exc.detail[:300])
        self.notes.append(f"LLM {stage} answer dropped ({exc.reason}: {exc.detail[:160]}); {kept}.")


# A server-side dry-run of a proposal on the live cluster; raises when the API server refuses it.
DryRun = Callable[[FixProposal], Awaitable[object]]


async def refine(
    diagnosis: Diagnosis,
    *,
    settings: Settings,
    bundle: ObjectBundle | None = None,
    model: BaseChatModel | None = None,
    dry_run: DryRun | None = None,
    deadline: float | None = None,
) -> Diagnosis:
    """The diagnosis with the parts a model wrote and AEGIS validated; the input unchanged when no model is configured.

    `bundle` is what the analyzers saw (the Investigator's `collect`): the solution agent needs the
    diagnosed object to write a patch, and the guards apply the patch to it. Without a bundle only
    the root cause is refined. `model` overrides `from_settings(settings)` (tests inject fakes).
    `dry_run`, on a live cluster, is one more guard: a model's patch the API server refuses in a
    server-side dry-run is dropped like any other invalid answer. `deadline` (time.monotonic()) is
    when the LLM path must have ended, AEGIS_LLM_BUDGET_SECONDS after it began; by default the budget
    starts now, before the model is built (importing a provider's SDK takes seconds of it).
    """
    if deadline is None:
        deadline = time.monotonic() + settings.llm_budget_seconds
    if model is None:
        model = from_settings(settings)
        if model is None:
            return diagnosis
    name = settings.llm_model or f"{getattr(model, '_llm_type', 'model')}:injected"
    log = telemetry.get_logger(target=str(diagnosis.target), llm_model=name)
    session = _Session(model, settings, name, log, dry_run, deadline)
    rca, fix, plan = diagnosis.rca, diagnosis.fix, diagnosis.verification_plan
    try:
        rca = await _rca(session, diagnosis)
        if rca.category is not diagnosis.rca.category:
            session.notes.append(f"LLM refuted the analyzers' hypothesis ({diagnosis.rca.category.value}); root cause is {rca.category.value}.")
            if fix is not None:
                session.notes.append("The analyzers' fix was dropped: it addresses the refuted cause.")
            fix = None
            plan = None
        fix = await _solution(session, diagnosis, rca, fix, bundle)
        if fix is None:
            plan = None
        elif plan is None and bundle is not None:
            plan = plan_for(bundle, rca.category)
        if fix is not None:
            plan = await _verifier(session, fix, plan, bundle)
    except _Unavailable as exc:
        log.warning("llm.refine.fallback", reason=exc.why)
        session.notes.append(f"LLM {name} unavailable ({exc.why}); parts not yet validated are the analyzers'.")
    except prompting.BudgetExceeded as exc:
        log.warning("llm.refine.fallback", reason=str(exc))
        session.notes.append(f"LLM {name} not consulted further: {exc}.")
    parts = [part for part, obj in (("root cause", rca), ("fix", fix), ("verification plan", plan)) if getattr(obj, "author", None) is Author.MODEL]
    if parts:
        session.notes.append(f"Written by LLM {name}, validated by AEGIS: {', '.join(parts)}.")
    return diagnosis.model_copy(update={
        "rca": rca, "fix": fix, "verification_plan": plan, "notes": [*diagnosis.notes, *session.notes], "llm_model": name,
    })  # fmt: skip


async def _rca(session: _Session, diagnosis: Diagnosis) -> RCAResult:
    prompt = prompting.rca_prompt(diagnosis, max_tokens=session.settings.llm_max_input_tokens)
    try:
        answer = await session.ask("rca", prompt)
        assert isinstance(answer, RCAAnswer)
        return guards.check_rca(answer, diagnosis)
    except guards.Rejected as exc:
        session.rejected("rca", exc, "the analyzers' root cause stands")
        return diagnosis.rca


async def _solution(session: _Session, diagnosis: Diagnosis, rca: RCAResult, fix: FixProposal | None, bundle: ObjectBundle | None) -> FixProposal | None:
    target = _fix_target(bundle, diagnosis, rca.category)
    if target is None or not scope.fixable(rca.category):
        return fix
    prompt = prompting.solution_prompt(diagnosis, rca, target, max_tokens=session.settings.llm_max_input_tokens)
    kept = "the analyzers' fix stands" if fix else "no fix is proposed"
    try:
        answer = await session.ask("solution", prompt)
        assert isinstance(answer, FixAnswer)
        previous = template_pair(bundle)[1] if bundle is not None else None
        proposal = guards.check_fix(answer, category=rca.category, target=target, policy=session.settings.analysis_policy, previous_template=previous)
        await _dry_run(session, proposal)
        return proposal
    except guards.Rejected as exc:
        if exc.reason == "no_patch":
            session.log.info("llm.validate.no_patch", stage="solution")
            if fix is not None:
                session.notes.append(f"LLM advised against patching; {kept}.")
            return fix
        session.rejected("solution", exc, kept)
        return fix


async def _dry_run(session: _Session, proposal: FixProposal) -> None:
    """Raises Rejected when the live API server refuses the patch (its test guards included)."""
    if session.dry_run is None:
        return
    timeout, _ = session.time_left(session.settings.llm_timeout_seconds)
    try:
        async with asyncio.timeout(timeout):
            await session.dry_run(proposal)
    except Exception as exc:  # the gateway's errors (conflict, forbidden, invalid) all mean "not this patch"
        raise guards.Rejected("dry_run_failed", f"server-side dry-run refused the patch: {type(exc).__name__}: {str(exc)[:160]}") from exc


async def _verifier(session: _Session, fix: FixProposal, plan: VerificationPlan | None, bundle: ObjectBundle | None) -> VerificationPlan | None:
    workload = bundle.workload if bundle else None
    prompt = prompting.verifier_prompt(fix, plan, workload, max_tokens=session.settings.llm_max_input_tokens)
    try:
        answer = await session.ask("verifier", prompt)
        assert isinstance(answer, PlanAnswer)
        return guards.check_plan(answer, workload=workload, fallback=plan)
    except guards.Rejected as exc:
        session.rejected("verifier", exc, "the analyzers' plan stands" if plan else "no plan")
        return plan


def _fix_target(bundle: ObjectBundle | None, diagnosis: Diagnosis, category: Category) -> KubeObject | None:
    """The object as diagnosed that a fix of this category patches (the workload; a Service for selectors)."""
    if bundle is None:
        return None
    if category is Category.SERVICE_SELECTOR_MISMATCH:
        for ref in (diagnosis.fix.target if diagnosis.fix else None, diagnosis.target):
            if ref is not None and ref.kind == "Service":
                return bundle.find("Service", ref.name)
        return None
    return bundle.workload
