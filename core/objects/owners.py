"""Which workload a pod belongs to, read from its name when the API cannot say (the pod is gone, or the API is down).

Controllers name their pods predictably: a Deployment's ReplicaSet `<deploy>-<pod-template-hash>`
makes `<replicaset>-<5 chars>`; a StatefulSet makes `<sts>-<ordinal>`; a DaemonSet and a Job make
`<owner>-<5 chars>`. The guess is only a candidate: the caller checks it against the API when it can.
"""

from __future__ import annotations

import re

# The random suffix (utilrand.String(5)) and pod-template-hash use this alphabet: no vowels, no 0/1/3.
_SUFFIX = r"[bcdfghjklmnpqrstvwxz2456789]{5}"
_HASH = r"[bcdfghjklmnpqrstvwxz2456789]{6,10}"
_DEPLOYMENT_POD = re.compile(rf"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-{_HASH}-{_SUFFIX}$")
_REPLICASET_POD = re.compile(rf"^(?P<owner>[a-z0-9][a-z0-9.-]*?-{_HASH})-{_SUFFIX}$")
_SUFFIXED_POD = re.compile(rf"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-{_SUFFIX}$")
_ORDINAL_POD = re.compile(r"^(?P<owner>[a-z0-9][a-z0-9.-]*?)-(?:0|[1-9][0-9]*)$")


def replicaset_of_pod_name(pod: str) -> str | None:
    """The ReplicaSet a Deployment's pod name comes from, if it is shaped like one."""
    found = _REPLICASET_POD.match(pod)
    return found["owner"] if found else None


def owner_candidates(pod: str) -> list[tuple[str, str]]:
    """(kind, name) of the workloads whose pod could carry this name, most specific first."""
    found: list[tuple[str, str]] = []
    if match := _DEPLOYMENT_POD.match(pod):
        found.append(("Deployment", match["owner"]))
    if match := _ORDINAL_POD.match(pod):
        found.append(("StatefulSet", match["owner"]))
    if match := _SUFFIXED_POD.match(pod):
        found += [("DaemonSet", match["owner"]), ("Job", match["owner"])]
    return found
