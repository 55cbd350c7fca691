"""The error hierarchy: one class per thing the caller can do next.

Every error a person may see derives from AegisError and carries a message that says what
happened and what to do. `exit_code` is what the CLI returns for it (2 usage/input, 3 cluster).
Transient errors may be retried by the caller; permanent ones may not.
"""

from __future__ import annotations


class AegisError(Exception):
    """Base of every error AEGIS raises on purpose."""

    exit_code = 1
    transient = False


class UsageError(AegisError):
    """The person asked for something malformed: a bad target, an unknown kind, a bad flag."""

    exit_code = 2


class ConfigError(UsageError):
    """A setting is invalid; the message names the setting and what is wrong."""


class SnapshotError(UsageError):
    """A snapshot directory cannot be read; the message names the file (and line)."""


class NotFoundError(UsageError):
    """The object the person named does not exist (in the cluster or the snapshot)."""

    def __init__(self, kind: str, name: str, namespace: str | None) -> None:
        where = f" in namespace {namespace}" if namespace else ""
        super().__init__(f"{kind} {name!r} not found{where}")
        self.kind = kind
        self.name = name
        self.namespace = namespace


class ClusterError(AegisError):
    """The cluster could not answer as asked."""

    exit_code = 3


class ClusterUnreachableError(ClusterError):
    """The API server cannot be reached (connection refused, DNS, TLS, timeout)."""

    transient = True


class ForbiddenError(ClusterError):
    """RBAC refused a request; the message names the verb and resource that are missing."""

    def __init__(self, verb: str, resource: str, namespace: str | None, detail: str = "", *, person: str | None = None) -> None:
        """`person`: the Kubernetes user AEGIS impersonated (the request was theirs, so their RBAC refused it)."""
        where = f" in namespace {namespace}" if namespace else " at cluster scope"
        if person is None:
            sentence = (
                f"forbidden: AEGIS may not {verb} {resource}{where}; grant '{verb}' on '{resource}' to its ServiceAccount (see deploy/rbac/clusterrole.yaml)"
            )
        else:
            sentence = (
                f"forbidden: Kubernetes user {person} may not {verb} {resource}{where} (AEGIS acted as {person}, so their RBAC decided); "
                f"ask a cluster admin to grant {person} '{verb}' on '{resource}'{where}, or ask someone who has it"
            )
        super().__init__(sentence + (f" ({detail})" if detail else ""))
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.person = person


class ConflictError(ClusterError):
    """The object changed since it was read (resourceVersion or JSON-patch test guard)."""


class AlreadyExistsError(ClusterError):
    """create() met an object of the same kind and name."""


class TooManyRequestsError(ClusterError):
    """The API server asked us to slow down."""

    transient = True
