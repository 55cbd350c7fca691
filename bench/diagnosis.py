"""Diagnosis time per example incident, from snapshot directory to Diagnosis (interpreter start excluded).

Prints p50/p95 per incident and overall, and the ratio to the goal (p50 <= 300 ms).
Run: make bench  (or .venv/bin/python bench/diagnosis.py [--rounds N])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from aegis.core import telemetry
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import ObjectRef

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "incidents"
GOAL_P50_MS = 300.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def time_one(snapshot: Path, target: ObjectRef) -> float:
    started = time.perf_counter()
    gateway = SnapshotGateway.open(snapshot)
    await Investigator(gateway).investigate(target)
    return (time.perf_counter() - started) * 1000


async def main(rounds: int) -> int:
    telemetry.configure_logging("console", "error")
    every: list[float] = []
    print(f"{'incident':42} {'p50 ms':>8} {'p95 ms':>8}")
    for incident in sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file()):
        target = ObjectRef(**json.loads((incident / "expected.json").read_text())["target"])
        await time_one(incident / "snapshot", target)  # warm caches (regexes, imports)
        samples = [await time_one(incident / "snapshot", target) for _ in range(rounds)]
        every.extend(samples)
        print(f"{incident.name:42} {percentile(samples, 0.5):8.1f} {percentile(samples, 0.95):8.1f}")
    p50, p95 = percentile(every, 0.5), percentile(every, 0.95)
    print(f"{'ALL':42} {p50:8.1f} {p95:8.1f}   mean {statistics.mean(every):.1f} ms over {len(every)} runs")
    print(f"goal p50 <= {GOAL_P50_MS:.0f} ms: p50 is {p50 / GOAL_P50_MS:.2f}x the goal ({'met' if p50 <= GOAL_P50_MS else 'MISSED'})")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    sys.exit(asyncio.run(main(parser.parse_args().rounds)))
