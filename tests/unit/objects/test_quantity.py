"""Kubernetes quantities parse in every unit Kubernetes accepts, and print as people write them."""

from __future__ import annotations

import pytest

from aegis.core.objects import quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("1.5", 1.5), ("1Gi", 2**30), ("1.5Gi", 1536 * quantity.MIB), ("129e6", 129e6), ("2G", 2e9),
     ("512M", 512_000_000), ("268435456", 256 * quantity.MIB), (512, 512.0), ("lots", None), (None, None)],
)  # fmt: skip
def test_parse(text: object, value: float | None) -> None:
    """Binary and decimal suffixes, exponents, millis and plain numbers give base units; junk gives None."""
    assert quantity.parse(text) == value


def test_mib_ceil_and_show() -> None:
    """Bytes round up to whole MiB; amounts print as cores/millicores and Mi/Gi."""
    assert quantity.mib_ceil(quantity.MIB + 1) == 2
    assert quantity.show("cpu", 0.25) == "250m" and quantity.show("cpu", 2) == "2"
    assert quantity.show("memory", 2**31) == "2Gi" and quantity.show("memory", 300 * quantity.MIB) == "300Mi"
