"""`/aegis` text is parsed like the CLI, and bad input says how to write it."""

from __future__ import annotations

import pytest

from aegis.bot.listeners.slash import parse
from aegis.core.errors import UsageError
from aegis.core.models import ObjectRef


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("analyze pod/demo-api -n production", ObjectRef(kind="Pod", namespace="production", name="demo-api")),
        ("analyze deploy/checkout --namespace=shop", ObjectRef(kind="Deployment", namespace="shop", name="checkout")),
        ("analyze -n shop sts/db", ObjectRef(kind="StatefulSet", namespace="shop", name="db")),
        ("  analyze api-7f9c  ", ObjectRef(kind="Pod", namespace="default", name="api-7f9c")),
    ],
)
def test_analyze_targets(text: str, target: ObjectRef) -> None:
    """The TARGET grammar and -n work in any order."""
    assert parse(text).target == target


@pytest.mark.parametrize("text", ["", "help", "--help"])
def test_help(text: str) -> None:
    """An empty command or 'help' shows help."""
    assert parse(text).verb == "help"


def test_status() -> None:
    """'status' lists open incidents."""
    assert parse("status").verb == "status"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("analyze", "No target given"),
        ("analyze a b", "exactly one target"),
        ("analyze pod/x -n", "needs a namespace"),
        ("analyze rs/x", "not ReplicaSet"),
        ("frobnicate", "don't know `frobnicate`"),
        ("analyze pod/x --force", "option `--force`"),
        ('analyze "unclosed', "could not read"),
    ],
)
def test_bad_input_explains(text: str, fragment: str) -> None:
    """Each mistake gets a message naming it and showing the right form."""
    with pytest.raises(UsageError) as info:
        parse(text)
    assert fragment in str(info.value)
