"""The seam between AEGIS and a cluster: the few reads and writes the engine needs.

Objects go in and out as plain dicts shaped as `kubectl get -o json` prints them. Two backends
implement it: SnapshotGateway (a directory, read-only) and LiveGateway (aiohttp, our own credentials loader).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aegis.core.errors import ClusterError
from aegis.core.models import KubeIdentity, KubeObject

Propagation = Literal["Foreground", "Background", "Orphan"]


@dataclass(frozen=True)
class WatchEvent:
    """One line of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK, and the object."""

    type: str
    object: KubeObject


@dataclass(frozen=True)
class Listing:
    """A list answer with the collection's resourceVersion, the point a watch starts from."""

    items: list[KubeObject]
    resource_version: str


@dataclass(frozen=True)
class ApiEndpoint:
    """How to reach the API server over plain HTTP(S): for the shadow load probe through the service proxy."""

    base_url: str
    headers: dict[str, str] = field(repr=False)
    verify: ssl.SSLContext | bool = True


class WatchExpiredError(ClusterError):
    """The watch's resourceVersion is too old (410 Gone): list again and watch from the new version."""

    transient = True


class KubeGateway(Protocol):
    """Read (and, for live clusters, create, patch, delete and watch) Kubernetes objects."""

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

    async def create(self, kind: str, namespace: str | None, obj: KubeObject, *, dry_run: bool = False) -> KubeObject:
        """Create the object (server-side dry-run when asked); AlreadyExistsError if its name is taken."""
        ...

    async def delete(self, kind: str, namespace: str | None, name: str, *, propagation: Propagation = "Background") -> bool:
        """Delete the object with the given propagation policy; False when it was already gone."""
        ...

    async def evict(self, namespace: str, pod: str) -> bool:
        """Evict the pod through the Eviction API (disruption budgets apply); False when it was already gone.

        TooManyRequestsError when a PodDisruptionBudget refuses the eviction now.
        """
        ...

    async def list_versioned(self, kind: str, namespace: str | None, label_selector: str | None = None) -> Listing:
        """Like list_objects, with the collection's resourceVersion to start a watch from."""
        ...

    def watch(
        self,
        kind: str,
        namespace: str | None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: float = 60.0,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Changes after `resource_version`, until the server ends the stream (timeout_seconds).

        Use it with `contextlib.aclosing` so the connection closes when the caller stops early.
        WatchExpiredError when the version is too old: list again.
        """
        ...

    async def api_endpoint(self) -> ApiEndpoint | None:
        """Base URL, auth headers and TLS settings of the API server; None for snapshots."""
        ...

    def impersonating(self, identity: KubeIdentity) -> KubeGateway:
        """This gateway acting as `identity` (Kubernetes impersonation); a read-only source returns itself."""
        ...

    async def close(self) -> None: ...
