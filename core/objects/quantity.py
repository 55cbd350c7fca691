"""Kubernetes resource quantities ("250m", "1.5Gi", "2e3", 512) as numbers, and back for people."""

from __future__ import annotations

import math
import re
from typing import Any

MIB = 1024 * 1024
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIXES = {
    "": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def parse(value: Any) -> float | None:
    """A quantity in base units (cores, bytes), or None when it does not parse."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIXES:
        return None
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


def mib_ceil(num_bytes: float) -> int:
    """Whole MiB, rounded up."""
    return math.ceil(num_bytes / MIB - 1e-9)


def show(resource: str, amount: float) -> str:
    """An amount as a person reads it: cpu in cores or millicores, memory in Mi/Gi."""
    if resource == "cpu":
        return f"{round(amount, 3):g}" if amount >= 1 else f"{round(amount * 1000)}m"
    if resource in ("memory", "ephemeral-storage"):
        gib = amount / 2**30
        return f"{gib:g}Gi" if gib >= 1 and (amount % 2**30 == 0) else f"{round(amount / 2**20)}Mi"
    return f"{amount:g}"
