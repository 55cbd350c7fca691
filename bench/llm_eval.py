"""Score the LLM path over every example incident: category accuracy, fix acceptance, latency.

For each incident under examples/incidents/ the analyzers diagnose the snapshot, then
`aegis.core.agents.pipeline.refine` runs the configured model (AEGIS_LLM_MODEL, or --model) over it.
Printed per incident and overall:
- category: the refined root cause equals expected.json's category;
- fix acceptance: the model proposed a patch and it passed validation (author=model), out of the
  incidents where the model proposed one; drops are listed with their reason;
- latency: wall time of refine() per incident, p50/p95.
`--fake` uses an echo model that restates the analyzers' hypothesis (no network): a baseline and a
check that every analyzer fix passes the guards.
Run: .venv/bin/python bench/llm_eval.py --fake   |   AEGIS_LLM_MODEL=openai:gpt-4.1-mini .venv/bin/python bench/llm_eval.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from aegis.core import config, telemetry
from aegis.core.agents import pipeline
from aegis.core.analyzers.engine import diagnose
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Author, ObjectRef
from tests.fakes.llm import echo_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "incidents"


@dataclass(frozen=True)
class Outcome:
    incident: str
    expected: str
    got: str
    proposed: bool
    accepted: bool
    rejections: list[str]
    seconds: float
    note: str


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def evaluate(incident: Path, settings: config.Settings, fake: bool) -> Outcome:
    expected = json.loads((incident / "expected.json").read_text())
    target = ObjectRef(**expected["target"])
    bundle, notes = await Investigator(SnapshotGateway.open(incident / "snapshot")).collect(target)
    hypothesis = diagnose(bundle, settings.analysis_policy, notes)
    model = echo_model(hypothesis) if fake else None
    with capture_logs() as logs:
        started = time.perf_counter()
        refined = await pipeline.refine(hypothesis, settings=settings, bundle=bundle, model=model)
        seconds = time.perf_counter() - started
    rejections = [f"{e['stage']}:{e['reason']}" for e in logs if e["event"] == "llm.validate.rejected"]
    proposed = any(e["event"] == "llm.request.complete" and e["stage"] == "solution" for e in logs) and not any(
        e["event"] == "llm.validate.no_patch" for e in logs
    )
    accepted = refined.fix is not None and refined.fix.author is Author.MODEL
    fallback = next((n for n in refined.notes if "unavailable" in n or "not consulted" in n), "")
    return Outcome(incident.name, expected["category"], refined.rca.category.value, proposed, accepted, rejections, seconds, fallback)


async def main(args: argparse.Namespace) -> int:
    telemetry.configure_logging("console", "info")  # capture_logs below sees info events; nothing else logs at info
    overrides: dict[str, Any] = {"llm_model": args.model} if args.model else {}
    settings = config.load(**overrides)
    if not args.fake and not settings.llm_model:
        print("no model configured: set AEGIS_LLM_MODEL (provider:model), pass --model, or use --fake", file=sys.stderr)
        return 2
    incidents = sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file() and (not args.only or p.name in args.only))
    outcomes = [await evaluate(p, settings, args.fake) for p in incidents]
    print(f"{'incident':36} {'expected':26} {'refined':26} {'fix':9} {'s':>6}  dropped")
    for o in outcomes:
        fix = "accepted" if o.accepted else ("rejected" if o.proposed else "-")
        print(f"{o.incident:36} {o.expected:26} {o.got:26} {fix:9} {o.seconds:6.2f}  {', '.join(o.rejections) or o.note}")
    right = sum(o.expected == o.got for o in outcomes)
    proposed = [o for o in outcomes if o.proposed]
    accepted = sum(o.accepted for o in proposed)
    seconds = [o.seconds for o in outcomes]
    reasons = Counter(r for o in outcomes for r in o.rejections)
    print()
    print(f"model: {'echo (--fake)' if args.fake else settings.llm_model}; incidents: {len(outcomes)}")
    print(f"category accuracy: {right}/{len(outcomes)} = {right / max(1, len(outcomes)):.0%}")
    print(f"fix acceptance: {accepted}/{len(proposed)} proposed patches passed validation = {accepted / max(1, len(proposed)):.0%}")
    print(f"latency per incident: p50 {percentile(seconds, 0.5) * 1000:.0f} ms, p95 {percentile(seconds, 0.95) * 1000:.0f} ms")
    if reasons:
        print("drops by reason: " + ", ".join(f"{r} x{n}" for r, n in reasons.most_common()))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fake", action="store_true", help="echo model restating the analyzers' hypothesis (no network)")
    parser.add_argument("--model", default=None, help="provider:model, overrides AEGIS_LLM_MODEL")
    parser.add_argument("--only", nargs="*", default=None, help="incident names to run")
    sys.exit(asyncio.run(main(parser.parse_args())))
