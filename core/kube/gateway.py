"""The seam between AEGIS and a cluster: the few reads and writes the engine needs.

Objects go in and out as plain dicts shaped as `kubectl get -o json` prints them. Two backends
implement it: SnapshotGateway (a directory, read-only) and LiveGateway (kubernetes-asyncio).
"""

from __future__ import annotations

from typing import Any, Protocol

from aegis.core.models import KubeObject


class KubeGateway(Protocol):
    """Read (and, for live clusters, patch) Kubernetes objects."""

    @property
    def description(self) -> str:
        """Where the objects come from, for people: 'snapshot DIR' or 'context CTX'."""
        ...

    @property
    def read_only(self) -> bool:
        """True when nothing can be changed through this gateway (snapshots)."""
        ...

    def collected(self, kind: str) -> bool:
        """Whether this source looked for `kind` at all, so that absence means 'does not exist'."""
        ...

    async def get(self, kind: str, namespace: str | None, name: str) -> KubeObject:
        """The object, or NotFoundError."""
        ...

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[KubeObject]:
        """All objects of a kind in a namespace (None: all namespaces / cluster scope)."""
        ...

    async def logs(self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int) -> str | None:
        """The container's log tail, or None when there is none to read."""
        ...

    async def patch_json(self, kind: str, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool) -> KubeObject:
        """Apply an RFC 6902 patch (server-side dry-run when asked); ConflictError on a failed test op."""
        ...

    async def close(self) -> None: ...
