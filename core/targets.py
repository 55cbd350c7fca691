"""The TARGET grammar shared by the CLI and the slash command, as kubectl writes it."""

from __future__ import annotations

import re

from aegis.core.errors import UsageError
from aegis.core.models import ObjectRef
from aegis.core.objects import kinds

# RFC 1123 subdomain: what Kubernetes accepts as an object name.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

USAGE = kinds.USAGE


def parse_target(text: str, namespace: str | None) -> ObjectRef:
    """'deploy/api' + namespace → ObjectRef(kind='Deployment', ...); UsageError saying how to write it."""
    text = text.strip()
    if not text:
        raise UsageError(f"no target given: {USAGE}")
    word, sep, name = text.partition("/")
    if not sep:
        word, name = "pod", text
    kind = kinds.resolve_alias(word)
    if kind not in kinds.TARGET_KINDS:
        raise UsageError(f"AEGIS analyzes pods, workloads, Jobs, Services and PVCs, not {kind}: {USAGE}")
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a valid Kubernetes name (lowercase letters, digits, '-' and '.')")
    ns = (namespace or "default").strip()
    if not _NAME.match(ns) or len(ns) > 63:
        raise UsageError(f"{ns!r} is not a valid namespace name")
    return ObjectRef(kind=kind, namespace=ns, name=name)
