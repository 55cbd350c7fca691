"""The thread graph renders memory against the limit and restarts to a PNG with matplotlib's Agg backend."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from aegis.bot.render import graph

MIB = 1024 * 1024
T0 = datetime(2026, 11, 25, 15, 30, tzinfo=UTC).timestamp()


def test_renders_png_with_both_panels() -> None:
    """A PNG comes out for a pod's memory, limit and restart series."""
    series = {
        "memory": {"app": [(T0 + 60 * i, (100 + 20 * i) * MIB) for i in range(8)]},
        "limit": {"app": [(T0 + 60 * i, 256 * MIB) for i in range(8)]},
        "restarts": {"app": [(T0 + 60 * i, float(i // 2)) for i in range(8)]},
    }
    assert graph.has_data(series)
    png = graph.render_png(series, title="shop/checkout: memory and restarts", incident_at=datetime(2026, 11, 25, 15, 34, tzinfo=UTC))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_empty_series_have_no_data() -> None:
    """No series, no graph."""
    assert not graph.has_data({"memory": {}, "restarts": {"app": []}})


def test_snapshot_analysis_path_loads_neither_httpx_nor_matplotlib() -> None:
    """Without backends configured, the investigator and the bot's rendering import no httpx or matplotlib."""
    code = (
        "import sys; import aegis.core.investigator, aegis.bot.render.blocks, aegis.bot.observability, aegis.bot.cli;"
        "print(sorted(m for m in ('httpx', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert out == "[]"
