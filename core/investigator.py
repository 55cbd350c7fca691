"""Investigator: collect evidence for a target through a gateway, then diagnose it.

The one entry point the CLI, the bot and the tests share. Logs `analysis.<phase>.<event>` with
durations and records the analysis duration metric. When settings name a language model, the
deterministic diagnosis is handed to core.agents as a hypothesis to refine; the agents are
imported only then, so the plain path never loads LangChain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aegis.core import objects, telemetry
from aegis.core.analyzers.engine import diagnose
from aegis.core.config import Settings
from aegis.core.evidence import backends, owners
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.kubernetes import Collector
from aegis.core.evidence.scope import LinkBuilder, PodScope, TimeWindow
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import AnalysisPolicy, Diagnosis, FixProposal, ObjectRef


class Investigator:
    def __init__(
        self,
        gateway: KubeGateway,
        *,
        policy: AnalysisPolicy | None = None,
        log_tail_lines: int = 200,
        settings: Settings | None = None,
        llm: Any = None,
        links: LinkBuilder | None = None,
        sources: Sequence[backends.EvidenceSource] | None = None,
    ) -> None:
        self._gateway = gateway
        self._policy = policy or AnalysisPolicy()
        self._tail = log_tail_lines
        self._settings = settings
        # A LangChain chat model; built from settings on first use unless one is given (tests inject fakes).
        self._llm: Any = llm
        # Prometheus/Loki collectors: from settings unless given; none configured costs nothing.
        self._sources = list(sources) if sources is not None else (backends.from_settings(settings, links) if settings is not None else [])

    async def workload_of(self, target: ObjectRef) -> ObjectRef:
        """The workload owning a pod or Job (an alert names pods; an incident is about their workload)."""
        return await owners.workload_of(self._gateway, target)

    async def collect(self, target: ObjectRef) -> tuple[ObjectBundle, list[str]]:
        """The redacted bundle for a target and the gaps noticed while collecting it."""
        log = telemetry.get_logger(target=str(target), source=self._gateway.description)
        started = time.perf_counter()
        log.debug("analysis.collect.start")
        collector = Collector(self._gateway, log_tail_lines=self._tail)
        bundle = await collector.collect(target)
        log.debug("analysis.collect.complete", duration_ms=round((time.perf_counter() - started) * 1000, 1), **bundle.summary())
        return bundle, collector.notes

    async def investigate(self, target: ObjectRef, *, window: TimeWindow | None = None) -> Diagnosis:
        """Collect, diagnose, add what Prometheus and Loki saw over `window` (default: the last minutes), refine."""
        started = time.perf_counter()
        bundle, notes = await self.collect(target)
        # The analyzers are pure CPU: run them off the event loop so acks and other incidents keep moving.
        diagnosis = await asyncio.to_thread(diagnose, bundle, self._policy, notes)
        if self._sources:
            diagnosis = await self._observe(diagnosis, bundle, window)
        elapsed = time.perf_counter() - started
        telemetry.ANALYSIS_DURATION.observe(elapsed)
        telemetry.get_logger(target=str(target)).info(
            "analysis.diagnose.complete",
            category=diagnosis.rca.category.value,
            confidence=diagnosis.rca.confidence,
            fix=diagnosis.fix is not None,
            duration_ms=round(elapsed * 1000, 1),
        )
        diagnosis = diagnosis.model_copy(update={"duration_ms": elapsed * 1000})
        if self._settings is not None and self._settings.llm_model:
            diagnosis = await self._refine(diagnosis, bundle, self._settings)
        return diagnosis

    async def _observe(self, diagnosis: Diagnosis, bundle: ObjectBundle, window: TimeWindow | None) -> Diagnosis:
        """Metric and log evidence from the backends, numbered after the diagnosis' own and cited by it."""
        lookback = self._settings.incident_lookback_minutes if self._settings else 30
        timeout = self._settings.backend_timeout_seconds if self._settings else 5.0
        window = window or TimeWindow.around(datetime.now(UTC), lookback_minutes=lookback)
        results = await backends.collect(self._sources, PodScope.of(bundle), window, timeout=timeout)
        observations = [o for r in results for o in r.observations]
        extra = backends.number(observations, after=len(diagnosis.evidence), source=objects.ref(bundle.pod) if bundle.pod else bundle.target)
        rca = diagnosis.rca.model_copy(update={"evidence_ids": [*diagnosis.rca.evidence_ids, *(e.id for e in extra)]})
        notes = [*(n for r in results for n in r.notes), *diagnosis.notes]
        return diagnosis.model_copy(update={"evidence": [*diagnosis.evidence, *extra], "rca": rca, "notes": notes})

    async def _refine(self, diagnosis: Diagnosis, bundle: ObjectBundle, settings: Settings) -> Diagnosis:
        from aegis.core.agents import pipeline

        # The budget covers building the model too: the provider's SDK import alone can take seconds.
        deadline = time.monotonic() + settings.llm_budget_seconds
        self._llm = self._llm or pipeline.from_settings(settings)

        async def dry_run(fix: FixProposal) -> Any:
            return await self._gateway.patch_json(fix.target.kind, fix.target.namespace, fix.target.name, fix.patch_json(), dry_run=True)

        return await pipeline.refine(
            diagnosis, settings=settings, bundle=bundle, model=self._llm, dry_run=None if self._gateway.read_only else dry_run, deadline=deadline
        )
