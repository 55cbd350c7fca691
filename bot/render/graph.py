"""The thread's graph: a pod's memory (against its limit) and restarts around the incident, as a PNG.

matplotlib is imported here only, on first use, with the Agg backend (no display, no GUI
toolkit): the bot loads it only when Prometheus is configured and an incident gets a graph.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from aegis.core.evidence.prometheus import Series

MIB = 1024 * 1024


def has_data(series: dict[str, dict[str, Series]]) -> bool:
    return any(points for group in ("memory", "restarts") for points in series.get(group, {}).values())


def render_png(series: dict[str, dict[str, Series]], *, title: str, incident_at: datetime | None = None) -> bytes:
    """Two stacked panels sharing the time axis: memory working set (limit dashed) and restart count."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    memory_ax, restarts_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for container, points in sorted(series.get("memory", {}).items()):
        line = memory_ax.plot(_times(points), [v / MIB for _, v in points], label=f"{container} working set")[0]
        limit = series.get("limit", {}).get(container)
        if limit:
            memory_ax.plot(_times(limit), [v / MIB for _, v in limit], linestyle="--", color=line.get_color(), label=f"{container} limit")
    memory_ax.set_ylabel("memory (MiB)")
    for container, points in sorted(series.get("restarts", {}).items()):
        restarts_ax.step(_times(points), [v for _, v in points], where="post", label=container)
    restarts_ax.set_ylabel("restarts")
    for ax in (memory_ax, restarts_ax):
        if incident_at is not None:
            ax.axvline(incident_at.astimezone(UTC).replace(tzinfo=None), color="red", linewidth=1, alpha=0.6)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=7)
    memory_ax.set_title(title, fontsize=10)
    restarts_ax.set_xlabel("time (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _times(points: Series) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC).replace(tzinfo=None) for t, _ in points]
