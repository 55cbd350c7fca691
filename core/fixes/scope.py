"""Which fields a fix of each root-cause category may change: an allowlist of JSON-pointer prefixes.

A model-proposed patch is checked against the object as diagnosed: every leaf it adds, removes or
changes must lie under one of its category's prefixes, on the object kind that category fixes
(the owning workload; the Service for a selector mismatch). A category with no entry (`unknown`)
may change nothing. Prefixes are written against the pod template (`{pod}`: `/spec/template/spec`
in a workload, `/spec` in a bare Pod) and a container (`{c}`: `{pod}/containers/N` or
`{pod}/initContainers/N`). The lists mirror what the analyzers' own fixes touch, and no more;
for rollout faults a change that restores the previous revision's value passes too (`guards`).
"""

from __future__ import annotations

import re
from functools import cache

from aegis.core import objects
from aegis.core.models import Category
from aegis.core.objects import kinds

WORKLOAD_KINDS = frozenset(kinds.TARGET_KINDS)  # the workloads and bare Pods a fix may patch

_ROLLBACK = tuple(
    f"{{c}}/{field}"
    for field in (
        "image", "command", "args", "workingDir", "env", "envFrom", "ports", "resources", "volumeMounts",
        "livenessProbe", "readinessProbe", "startupProbe",
    )
)  # fmt: skip

ALLOWED: dict[Category, tuple[str, ...]] = {
    Category.MISSING_ENV_VAR: ("{c}/env", "{c}/envFrom"),
    Category.MISSING_CONFIG_REFERENCE: ("{c}/env", "{c}/envFrom", "{pod}/volumes"),
    Category.OOM_KILLED: ("{c}/resources/limits/memory", "{c}/resources/requests/memory"),
    Category.IMAGE_PULL_ERROR: ("{c}/image", "{pod}/imagePullSecrets"),
    Category.BAD_COMMAND: ("{c}/command", "{c}/args"),
    Category.APP_ERROR_AFTER_ROLLOUT: _ROLLBACK,
    Category.LIVENESS_PROBE_FAILURE: ("{c}/livenessProbe", "{c}/startupProbe"),
    Category.READINESS_PROBE_FAILURE: ("{c}/readinessProbe",),
    Category.UNSCHEDULABLE_RESOURCES: ("{c}/resources/requests", "{c}/resources/limits"),
    Category.UNSCHEDULABLE_CONSTRAINTS: ("{pod}/nodeSelector", "{pod}/tolerations", "{pod}/affinity"),
    Category.VOLUME_FAILURE: ("{pod}/volumes", "{c}/volumeMounts"),
    Category.INIT_CONTAINER_FAILURE: tuple(f"{{pod}}/initContainers/N/{f}" for f in ("image", "command", "args", "env", "envFrom")),
    Category.ROLLOUT_STUCK: (
        *_ROLLBACK,
        "{pod}/volumes",
        "{pod}/nodeSelector",
        "{pod}/tolerations",
        "{pod}/affinity",
        "/spec/template/metadata/labels",
        "/spec/template/metadata/annotations",
    ),
    Category.SERVICE_SELECTOR_MISMATCH: ("/spec/selector",),
    Category.EVICTED: ("{c}/resources/limits", "{c}/resources/requests"),
    Category.DISK_FULL: ("/spec/resources/requests/storage",),
    # issue 14 (i14a): the host a workload fails to resolve comes from its env or arguments.
    Category.DNS_RESOLUTION_FAILURE: ("{c}/env", "{c}/args", "{c}/command"),
}
# A dependency's fix is the upstream workload's own (its selector, env, image, …): whatever that class may change.
ALLOWED[Category.DEPENDENCY_UNAVAILABLE] = tuple(dict.fromkeys(p for prefixes in list(ALLOWED.values()) for p in prefixes))

# Faults that began with a rollout: a change restoring the previous revision's value is also allowed.
ROLLBACK_CATEGORIES = frozenset({Category.ROLLOUT_STUCK, Category.APP_ERROR_AFTER_ROLLOUT})

# The kind of object each category's fix patches (default: the owning workload).
TARGET_KINDS: dict[Category, frozenset[str]] = {
    Category.SERVICE_SELECTOR_MISMATCH: frozenset({"Service"}),
    Category.DISK_FULL: frozenset({"PersistentVolumeClaim"}),
    Category.DEPENDENCY_UNAVAILABLE: WORKLOAD_KINDS | {"Service"},
}


def target_kinds(category: Category) -> frozenset[str]:
    return TARGET_KINDS.get(category, WORKLOAD_KINDS)


def fixable(category: Category) -> bool:
    """Whether a model may propose any patch at all for this category.

    Not for dependency_unavailable: its allowlist is the union of every class's (the upstream's fix is
    whatever that class may change), too wide to bound a model's patch; the analyzers' own fix stands.
    """
    return bool(ALLOWED.get(category)) and category is not Category.DEPENDENCY_UNAVAILABLE


@cache
def _patterns(category: Category, kind: str) -> tuple[re.Pattern[str], ...]:
    pod = re.escape(objects.pod_template_path(kind))
    out = []
    for prefix in ALLOWED.get(category, ()):
        body = re.escape(prefix).replace(re.escape("{pod}"), pod).replace(re.escape("{c}"), pod + r"/(?:containers|initContainers)/\d+")
        body = body.replace("/N/", r"/\d+/")
        out.append(re.compile(f"^{body}(?:/|$)"))
    return tuple(out)


def allows(category: Category, kind: str, pointer: str) -> bool:
    """Whether a fix of `category` on an object of `kind` may change the value at `pointer`."""
    return any(p.match(pointer) for p in _patterns(category, kind))


def container_of(kind: str, pointer: str) -> str | None:
    """'…/containers/N' when the pointer lies inside a container of the pod template, else None."""
    match = re.match(re.escape(objects.pod_template_path(kind)) + r"/(?:containers|initContainers)/\d+(?=/|$)", pointer)
    return match.group(0) if match else None
