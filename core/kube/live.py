"""LiveGateway: a real cluster through kubernetes-asyncio.

kubernetes-asyncio loads the credentials (kubeconfig with its exec plugins, or in-cluster config)
and signs requests; we call the REST paths ourselves and keep the JSON as the API server sends it,
so live objects and snapshot objects have the same shape. Its client costs ~0.4 s to import, so it
is imported here only, when a live gateway is opened. API errors become AegisErrors by meaning.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aegis.core.errors import (
    ClusterError,
    ClusterUnreachableError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    TooManyRequestsError,
    UsageError,
)
from aegis.core.kube import kinds
from aegis.core.models import KubeObject

_TIMEOUT_SECONDS = 20.0


class LiveGateway:
    """KubeGateway over a cluster's API server."""

    def __init__(self, api_client: Any, description: str) -> None:
        self._api = api_client
        self._description = description

    @classmethod
    async def connect(cls, *, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False) -> LiveGateway:
        """Load credentials the way kubectl does (or in-cluster) and return a gateway."""
        from kubernetes_asyncio import client, config
        from kubernetes_asyncio.config.config_exception import ConfigException

        configuration = client.Configuration()
        try:
            if in_cluster:
                load_incluster: Any = config.load_incluster_config  # untyped in the library
                load_incluster(client_configuration=configuration)
                where = "in-cluster"
            else:
                kubeconfig = _existing_kubeconfig(kubeconfig)
                await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
                where = f"context {context}" if context else "current kubeconfig context"
        except (ConfigException, FileNotFoundError) as exc:
            raise UsageError(f"cannot load Kubernetes credentials: {exc}") from exc
        return cls(client.ApiClient(configuration), where)

    @property
    def description(self) -> str:
        return self._description

    @property
    def read_only(self) -> bool:
        return False

    def collected(self, kind: str) -> bool:
        return True

    async def close(self) -> None:
        await self._api.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        resource: str,
        namespace: str | None,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        name: str = "",
    ) -> tuple[int, bytes]:
        headers = {"Accept": "application/json, */*", "Content-Type": content_type}
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=_TIMEOUT_SECONDS,
            )
        except (TimeoutError, OSError) as exc:
            raise ClusterUnreachableError(f"cannot reach the Kubernetes API server ({self._description}): {exc}") from exc
        except Exception as exc:  # aiohttp.ClientError and friends: not importable at module level
            if type(exc).__module__.startswith("aiohttp"):
                raise ClusterUnreachableError(f"cannot reach the Kubernetes API server ({self._description}): {exc}") from exc
            raise
        async with response:
            data = await response.read()
            status = response.status
        if 200 <= status < 300:
            return status, data
        raise _translate(status, data, verb=verb, resource=resource, namespace=namespace, name=name)

    async def get(self, kind: str, namespace: str | None, name: str) -> KubeObject:
        info = kinds.info(kind)
        try:
            _, data = await self._request(
                "GET",
                info.object_path(namespace, name),
                verb="get",
                resource=info.plural,
                namespace=namespace,
                name=name,
            )
        except _NotFoundError:
            raise NotFoundError(kind, name, namespace if info.namespaced else None) from None
        return _with_kind(json.loads(data), info)

    async def list_objects(self, kind: str, namespace: str | None, label_selector: str | None = None) -> list[KubeObject]:
        info = kinds.info(kind)
        query = [("labelSelector", label_selector)] if label_selector else []
        try:
            _, data = await self._request(
                "GET",
                info.collection_path(namespace),
                verb="list",
                resource=info.plural,
                namespace=namespace,
                query=query,
            )
        except _NotFoundError:
            return []
        items = json.loads(data).get("items") or []
        return [_with_kind(item, info) for item in items]

    async def logs(self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int) -> str | None:
        query = [("container", container), ("tailLines", str(tail_lines))]
        if previous:
            query.append(("previous", "true"))
        path = kinds.info("Pod").object_path(namespace, pod) + "/log"
        try:
            _, data = await self._request("GET", path, verb="get", resource="pods/log", namespace=namespace, query=query)
        except (_NotFoundError, _BadRequestError):
            # No previous container, container not started yet, or pod gone: there is no log.
            return None
        except ClusterError as exc:
            if isinstance(exc, ForbiddenError):
                raise
            return None
        return data.decode("utf-8", errors="replace")

    async def patch_json(self, kind: str, namespace: str, name: str, patch: list[dict[str, Any]], *, dry_run: bool) -> KubeObject:
        info = kinds.info(kind)
        query = [("dryRun", "All")] if dry_run else []
        try:
            _, data = await self._request(
                "PATCH",
                info.object_path(namespace, name),
                verb="patch",
                resource=info.plural,
                namespace=namespace,
                query=query,
                body=patch,
                content_type="application/json-patch+json",
                name=name,
            )
        except _NotFoundError:
            raise NotFoundError(kind, name, namespace) from None
        return _with_kind(json.loads(data), info)


def _existing_kubeconfig(explicit: str | None) -> str:
    """The kubeconfig kubectl would use, or a UsageError that says how to point AEGIS at one."""
    candidates = [explicit] if explicit else [*filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)), "~/.kube/config"]
    for candidate in candidates:
        path = os.path.expanduser(candidate)
        if os.path.isfile(path):
            return path
    raise UsageError(
        f"no kubeconfig found (looked at {', '.join(candidates)}): pass --kubeconfig, set KUBECONFIG or AEGIS_KUBECONFIG, "
        "set AEGIS_IN_CLUSTER=true inside a pod, or use --snapshot DIR to analyze offline"
    )


class _NotFoundError(ClusterError):
    """Internal: a 404, turned into NotFoundError (or an empty answer) by the caller."""


class _BadRequestError(ClusterError):
    """Internal: a 400, e.g. asking for the previous log of a container that never restarted."""


def _with_kind(obj: KubeObject, info: kinds.KindInfo) -> KubeObject:
    # List items come without kind/apiVersion; set them so every object is self-describing.
    obj.setdefault("kind", info.kind)
    obj.setdefault("apiVersion", info.api_version)
    return obj


def _translate(status: int, data: bytes, *, verb: str, resource: str, namespace: str | None, name: str) -> Exception:
    try:
        message = str(json.loads(data).get("message", ""))
    except ValueError:
        message = data[:200].decode("utf-8", errors="replace")
    if status == 404:
        return _NotFoundError(message)
    if status == 400:
        return _BadRequestError(message)
    if status == 401:
        return ClusterError(f"the API server rejected AEGIS's credentials (401): {message}")
    if status == 403:
        return ForbiddenError(verb, resource, namespace, message)
    if status == 409 or (status == 422 and _is_failed_test_op(message)):
        return ConflictError(f"{resource}/{name} changed since it was diagnosed; nothing was changed ({message})")
    if status == 422:
        return UsageError(f"the API server rejected the change to {resource}/{name}: {message}")
    if status == 429:
        return TooManyRequestsError(f"the API server asked AEGIS to slow down: {message}")
    if status >= 500:
        return ClusterUnreachableError(f"the API server failed ({status}): {message}")
    return ClusterError(f"unexpected answer {status} from the API server: {message}")


def _is_failed_test_op(message: str) -> bool:
    # kube-apiserver answers 422 with evanphx/json-patch's "testing value /x failed: test failed".
    lowered = message.lower()
    return "test failed" in lowered or "testing value" in lowered
