"""Read-only accessors over Kubernetes objects as plain dicts.

Pure functions, no I/O: where a pod template lives in each workload kind, which containers a pod
has, what ConfigMaps and Secrets it references, how a pod's status reads. Analyzers and collectors
use these instead of digging through nested dicts themselves.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aegis.core.models import KubeObject, ObjectRef


def meta(obj: KubeObject) -> dict[str, Any]:
    result: dict[str, Any] = obj.get("metadata") or {}
    return result


def name(obj: KubeObject) -> str:
    return str(meta(obj).get("name", ""))


def namespace(obj: KubeObject) -> str:
    return str(meta(obj).get("namespace", ""))


def labels(obj: KubeObject) -> dict[str, str]:
    result: dict[str, str] = meta(obj).get("labels") or {}
    return result


def annotations(obj: KubeObject) -> dict[str, str]:
    result: dict[str, str] = meta(obj).get("annotations") or {}
    return result


def ref(obj: KubeObject) -> ObjectRef:
    return ObjectRef(kind=str(obj.get("kind", "")), namespace=namespace(obj), name=name(obj))


def controller_of(obj: KubeObject) -> dict[str, Any] | None:
    """The ownerReference with controller=true, if any."""
    for owner in meta(obj).get("ownerReferences") or []:
        if owner.get("controller"):
            result: dict[str, Any] = owner
            return result
    return None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def pod_template_path(kind: str) -> str:
    """JSON pointer to the pod spec inside an object of this kind."""
    return "/spec" if kind == "Pod" else "/spec/template/spec"


def pod_spec(obj: KubeObject) -> dict[str, Any]:
    """The pod spec of a Pod, or of a workload's/ReplicaSet's pod template."""
    if obj.get("kind") == "Pod":
        spec: dict[str, Any] = obj.get("spec") or {}
        return spec
    template: dict[str, Any] = (obj.get("spec") or {}).get("template") or {}
    return template.get("spec") or {}


def pod_template(obj: KubeObject) -> dict[str, Any] | None:
    """The pod template a workload stamps its pods from (a bare Pod: its spec); None when it has none."""
    kind = obj.get("kind")
    spec: dict[str, Any] = obj.get("spec") or {}
    if kind == "Pod":
        return {"spec": spec}
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def template_digest(obj: KubeObject) -> str | None:
    """A digest of the pod template as read (canonical JSON, sha256), or None when the object has none.

    Equal digests mean the same template: scaling, status and metadata outside the template leave it alone."""
    template = pod_template(obj)
    if template is None:
        return None
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def template_annotations(obj: KubeObject) -> dict[str, str]:
    if obj.get("kind") == "Pod":
        return annotations(obj)
    template: dict[str, Any] = (obj.get("spec") or {}).get("template") or {}
    result: dict[str, str] = (template.get("metadata") or {}).get("annotations") or {}
    return result


def containers(spec: dict[str, Any], *, init: bool = False) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = spec.get("initContainers" if init else "containers") or []
    return result


def container_index(spec: dict[str, Any], container: str, *, init: bool = False) -> int | None:
    for index, item in enumerate(containers(spec, init=init)):
        if item.get("name") == container:
            return index
    return None


def find_container(spec: dict[str, Any], container: str) -> tuple[dict[str, Any], bool, int] | None:
    """(container, is_init, index) by name, looking at app containers then init containers."""
    for init in (False, True):
        index = container_index(spec, container, init=init)
        if index is not None:
            return containers(spec, init=init)[index], init, index
    return None


def container_statuses(pod: KubeObject, *, init: bool = False) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    result: list[dict[str, Any]] = status.get("initContainerStatuses" if init else "containerStatuses") or []
    return result


def condition(obj: KubeObject, kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            result: dict[str, Any] = cond
            return result
    return None


@dataclass(frozen=True)
class ConfigRef:
    """One reference from a pod spec to a ConfigMap or Secret (optionally one key of it)."""

    kind: str  # "ConfigMap" | "Secret"
    name: str
    key: str | None
    optional: bool
    container: str | None  # None for volumes
    via: str  # "env NAME", "envFrom", "volume NAME"


def config_refs(spec: dict[str, Any]) -> list[ConfigRef]:
    """Every ConfigMap/Secret the pod spec references, with the key when one is named."""
    refs: list[ConfigRef] = []
    for init in (True, False):
        for container in containers(spec, init=init):
            cname = container.get("name")
            for env in container.get("env") or []:
                source = env.get("valueFrom") or {}
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    key_ref = source.get(field)
                    if key_ref:
                        refs.append(
                            ConfigRef(kind, key_ref.get("name", ""), key_ref.get("key"), bool(key_ref.get("optional")), cname, f"env {env.get('name')}")
                        )
            for env_from in container.get("envFrom") or []:
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    from_ref = env_from.get(field)
                    if from_ref:
                        refs.append(ConfigRef(kind, from_ref.get("name", ""), None, bool(from_ref.get("optional")), cname, "envFrom"))
    for volume in spec.get("volumes") or []:
        vname = volume.get("name")
        if volume.get("configMap"):
            cm = volume["configMap"]
            refs.append(ConfigRef("ConfigMap", cm.get("name", ""), None, bool(cm.get("optional")), None, f"volume {vname}"))
        if volume.get("secret"):
            sec = volume["secret"]
            refs.append(ConfigRef("Secret", sec.get("secretName", ""), None, bool(sec.get("optional")), None, f"volume {vname}"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if source.get(field):
                    item = source[field]
                    refs.append(ConfigRef(kind, item.get("name", ""), None, bool(item.get("optional")), None, f"volume {vname}"))
    return refs


def pvc_names(spec: dict[str, Any]) -> list[str]:
    return [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes") or [] if v.get("persistentVolumeClaim", {}).get("claimName")]


def data_keys(obj: KubeObject) -> set[str]:
    """Keys of a ConfigMap or Secret (data, binaryData, stringData)."""
    keys: set[str] = set()
    for field in ("data", "binaryData", "stringData"):
        keys.update((obj.get(field) or {}).keys())
    return keys


def revision(obj: KubeObject) -> int:
    """A ReplicaSet's deployment revision, or a ControllerRevision's revision."""
    value = annotations(obj).get("deployment.kubernetes.io/revision") or obj.get("revision") or 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def now() -> datetime:
    return datetime.now(UTC)


SERVER_SET_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                       "managedFields", "selfLink")  # fmt: skip
TOOL_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")


def without_server_fields(
    obj: KubeObject, *, drop_meta: tuple[str, ...] = SERVER_SET_METADATA, keep_status: bool = False, drop_annotations: tuple[str, ...] = TOOL_ANNOTATIONS
) -> KubeObject:
    """A shallow copy without status (unless kept), the named metadata fields and the tools' bookkeeping annotations
    (a snapshot keeps the annotations: change detection orders revisions by `deployment.kubernetes.io/revision`).

    The one place that knows what the server and kubectl write into an object: the diff people read,
    the shadow clone and the snapshot all start from it.
    """
    out = {k: v for k, v in obj.items() if keep_status or k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in drop_meta}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in drop_annotations}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def clean_for_diff(obj: KubeObject) -> KubeObject:
    """The object as a person edits it: no status, no server-set metadata."""
    return without_server_fields(obj)
