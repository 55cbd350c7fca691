"""Investigator: collect evidence for a target through a gateway, then diagnose it.

The one entry point the CLI, the bot and the tests share. Logs `analysis.<phase>.<event>` with
durations and records the analysis duration metric.
"""

from __future__ import annotations

import time

from aegis.core import telemetry
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence.bundle import ObjectBundle
from aegis.core.evidence.kubernetes import Collector
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import AnalysisPolicy, Diagnosis, ObjectRef


class Investigator:
    def __init__(self, gateway: KubeGateway, *, policy: AnalysisPolicy | None = None, log_tail_lines: int = 200) -> None:
        self._gateway = gateway
        self._policy = policy or AnalysisPolicy()
        self._tail = log_tail_lines

    async def collect(self, target: ObjectRef) -> tuple[ObjectBundle, list[str]]:
        """The redacted bundle for a target and the gaps noticed while collecting it."""
        log = telemetry.get_logger(target=str(target), source=self._gateway.description)
        started = time.perf_counter()
        log.debug("analysis.collect.start")
        collector = Collector(self._gateway, log_tail_lines=self._tail)
        bundle = await collector.collect(target)
        log.debug("analysis.collect.complete", duration_ms=round((time.perf_counter() - started) * 1000, 1), **bundle.summary())
        return bundle, collector.notes

    async def investigate(self, target: ObjectRef) -> Diagnosis:
        started = time.perf_counter()
        bundle, notes = await self.collect(target)
        diagnosis = diagnose(bundle, self._policy, notes)
        elapsed = time.perf_counter() - started
        telemetry.ANALYSIS_DURATION.observe(elapsed)
        telemetry.get_logger(target=str(target)).info(
            "analysis.diagnose.complete",
            category=diagnosis.rca.category.value,
            confidence=diagnosis.rca.confidence,
            fix=diagnosis.fix is not None,
            duration_ms=round(elapsed * 1000, 1),
        )
        return diagnosis.model_copy(update={"duration_ms": elapsed * 1000})
