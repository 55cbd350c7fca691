"""Label selector matching, as the API server does it, for backends that filter locally."""

from __future__ import annotations

from typing import Any


def parse(selector: str | None) -> list[tuple[str, str, str]]:
    """'a=b,c!=d,e' → [(key, op, value)] for the equality-based selectors we send."""
    terms: list[tuple[str, str, str]] = []
    for raw in (selector or "").split(","):
        part = raw.strip()
        if not part:
            continue
        if "!=" in part:
            key, value = part.split("!=", 1)
            terms.append((key.strip(), "!=", value.strip()))
        elif "=" in part:
            key, value = part.split("=", 1)
            terms.append((key.strip(), "=", value.strip().lstrip("=")))
        else:
            terms.append((part, "exists", ""))
    return terms


def matches(labels: dict[str, str], selector: str | None) -> bool:
    for key, op, value in parse(selector):
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
    return True


def matches_label_selector(labels: dict[str, str], selector: dict[str, Any] | None) -> bool:
    """Match a metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches all."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def to_string(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
