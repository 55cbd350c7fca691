"""Redaction: secret values never leave this process in evidence, output, logs or prompts.

Two layers. `mask(text)` removes what looks secret in free text (bearer tokens, passwords in
URLs, key=value credentials, private keys, well-known token shapes, and any value a Redactor was
told is secret). `redact_object(obj)` walks a Kubernetes object and replaces Secret data, env values
whose names look secret, and credentials inside strings. Marker text is fixed so tests can look for it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

MARKER = "[REDACTED]"

# Env var / key names whose values are secret by convention.
_SECRET_NAME = re.compile(
    r"(PASS(WORD|WD)?|PWD|TOKEN|SECRET|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|(^|_)KEY$|CREDENTIAL|"
    r"AUTH|COOKIE|SESSION|SIGNING|DSN|CONN(ECTION)?_?STRING|CERT)",
    re.IGNORECASE,
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys, whole block.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        MARKER,
    ),
    # Authorization headers and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MARKER}"),
    # user:password@host in URLs (keep the user, drop the password).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@"), rf"\1:{MARKER}@"),
    # key=value / key: value for secret-looking keys (quoted or bare values).
    (
        re.compile(
            r"(?i)\b([A-Za-z0-9_.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"private[_-]?key|credential|auth)[A-Za-z0-9_.-]*)(\"?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"
        ),
        rf"\1\2{MARKER}",
    ),
    # Well-known token shapes: JWTs, Slack tokens, AWS access key ids, GitHub tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MARKER),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), MARKER),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), MARKER),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), MARKER),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MARKER),
]


def _parts_of(value: str) -> list[str]:
    """Pieces of a secret value that apps print on their own: the password inside a URL."""
    parts = []
    for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@", value, re.IGNORECASE):
        parts.append(match.group(1))
    return parts


def is_secret_name(name: str) -> bool:
    """True when a variable or key name conventionally holds a secret."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    """Masks secret-looking text plus any literal values it has been told are secret."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        values = {part for s in known_secrets for part in (s, *_parts_of(s))}
        # Very short values (e.g. "1", "true") would mask ordinary words; ignore them.
        self._known = sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)

    def with_secrets(self, values: Iterable[str]) -> Redactor:
        return Redactor([*self._known, *values])

    def mask(self, text: str) -> str:
        for value in self._known:
            if value in text:
                text = text.replace(value, MARKER)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of a Kubernetes object with every secret value replaced by MARKER."""
        out = copy.deepcopy(obj)
        if out.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if isinstance(out.get(field), dict):
                    out[field] = {key: MARKER for key in out[field]}
        annotations = out.get("metadata", {}).get("annotations")
        if isinstance(annotations, dict):
            # last-applied-configuration repeats the whole object, Secret data included.
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        redacted: dict[str, Any] = self._walk(out)
        return redacted

    def _walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            if "name" in node and "value" in node and isinstance(node.get("name"), str):
                # An env var entry: mask by name, and mask credentials inside any value.
                node = dict(node)
                if is_secret_name(node["name"]) and node["value"] not in (None, ""):
                    node["value"] = MARKER
            return {key: self._walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._walk(item) for item in node]
        if isinstance(node, str):
            return self.mask(node)
        return node


_default = Redactor()


def mask(text: str) -> str:
    """Mask secret-looking text with the default (pattern-only) redactor."""
    return _default.mask(text)


def redact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Redact a Kubernetes object with the default (pattern-only) redactor."""
    return _default.redact_object(obj)
