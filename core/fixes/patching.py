"""Building guarded JSON patches (RFC 6902) against the owning workload.

Every value a fix changes is preceded by a `test` of its current value, so the patch applies
only to the object as it was diagnosed; a workload edited in between fails the test and nothing
changes. Guards never test a redacted value (they would leak or fail): env entries are guarded
by name, not value.
"""

from __future__ import annotations

from typing import Any

from aegis.core import objects
from aegis.core.models import KubeObject, PatchOperation
from aegis.core.redaction import MARKER


def escape(token: str) -> str:
    """A JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def container_path(workload: KubeObject, index: int, *, init: bool = False) -> str:
    return f"{objects.pod_template_path(str(workload.get('kind')))}/{'initContainers' if init else 'containers'}/{index}"


def test(path: str, value: Any) -> PatchOperation:
    if value == MARKER or (isinstance(value, str) and MARKER in value):
        raise ValueError(f"refusing to guard {path} on a redacted value")
    return PatchOperation(op="test", path=path, value=value)


def replace(path: str, old: Any, new: Any) -> list[PatchOperation]:
    """test old, replace with new."""
    return [test(path, old), PatchOperation(op="replace", path=path, value=new)]


def add_env(workload: KubeObject, index: int, init: bool, entry: dict[str, Any]) -> list[PatchOperation]:
    """Append an env entry to a container, guarded by the container's name and existing env names."""
    base = container_path(workload, index, init=init)
    container = objects.containers(objects.pod_spec(workload), init=init)[index]
    ops = [test(f"{base}/name", container.get("name"))]
    env = container.get("env")
    if env:
        ops += [test(f"{base}/env/{i}/name", item.get("name")) for i, item in enumerate(env)]
        ops.append(PatchOperation(op="add", path=f"{base}/env/-", value=entry))
    else:
        ops.append(PatchOperation(op="add", path=f"{base}/env", value=[entry]))
    return ops


def set_field(path: str, current: Any, new: Any, parent_exists: bool = True) -> list[PatchOperation]:
    """Replace when the field exists (guarded by its value); add it when it does not."""
    if current is None:
        return [PatchOperation(op="add", path=path, value=new)]
    return replace(path, current, new)
