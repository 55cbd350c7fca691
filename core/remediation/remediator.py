"""Remediator: apply a fix to production and roll it back, guarded at every step.

Apply: read the workload, server-side dry-run the fix (its `test` guards plus a `test` of each value
Roll back would restore, as just read, so the kept previous state is exactly what was replaced), patch,
then watch the rollout to completion or to its progress deadline. The previous and applied
values of what the fix touched (the pod template of a workload, the selector of a Service,
the changed fields of a bare Pod) are returned as an AppliedRecord; the caller stores it.

A StatefulSet whose pods are stuck on the broken revision never replaces them by itself after its
template is fixed (its controller waits for each pod to become Ready first): Apply evicts those
pods, as Kubernetes' "forced rollback" asks, so the fixed template can roll out. Roll back does the
same for pods stuck on the fix's revision (the usual reason to roll back is that it failed).

Roll back: a patch that first `test`s that those values are still as AEGIS left them, then
restores the previous values exactly; a workload edited since is refused, not overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

import jsonpointer
from pydantic import Field

from aegis.core import objects, telemetry
from aegis.core.errors import AegisError, ConflictError, TooManyRequestsError
from aegis.core.kube.gateway import KubeGateway, WatchExpiredError
from aegis.core.models import FixProposal, KubeIdentity, KubeObject, Model, ObjectRef, PhaseTiming
from aegis.core.objects import kinds
from aegis.core.remediation import rollout, watch

_ABSENT: Any = object()
_ROLLBACK_WATCH_SECONDS = 5.0
_OBSERVE_SECONDS = 30.0


class AppliedRecord(Model):
    """What an Apply replaced, so Roll back can restore it exactly."""

    target: ObjectRef
    proposal_revision: int = 0
    roots: list[str]
    previous: dict[str, Any]
    applied: dict[str, Any]
    absent_before: list[str] = Field(default_factory=list)
    at: datetime


WriteAhead = Callable[[AppliedRecord], Awaitable[None]]
"""Stores what a patch will change before it is sent; if it raises, the patch is not sent."""

Landing = Literal["applied", "previous", "other"]


class ApplyResult(Model):
    ok: bool
    outcome: Literal["applied", "rolled_back", "rollout_failed", "conflict", "failed"]
    reason: str
    phases: list[PhaseTiming] = Field(default_factory=list)
    record: AppliedRecord | None = None


def restore_roots(kind: str, fix: FixProposal) -> list[str]:
    """The JSON pointers whose values Roll back restores."""
    if kind in kinds.WORKLOAD_KINDS:
        return ["/spec/template"]
    if kind == "Service":
        return ["/spec/selector"]
    roots: list[str] = []
    for op in fix.patch:
        if op.op == "test":
            continue
        path = op.path[:-2] if op.path.endswith("/-") else op.path
        if path not in roots:
            roots.append(path)
    return roots


def _value(obj: KubeObject, pointer: str) -> Any:
    return jsonpointer.resolve_pointer(obj, pointer, _ABSENT)


def _pinned(current: KubeObject, roots: list[str]) -> list[dict[str, Any]]:
    """`test` ops holding what Roll back will restore to the values just read, so the kept previous state is exactly what was replaced.

    The roots, not the resourceVersion: a crash-looping workload's status changes every few seconds (its
    controller counts the failing pods), and pinning the version would refuse a fix for that churn alone.
    A root that is absent cannot be tested in JSON patch; then the version is pinned (bare Pods only).
    """
    values = [(root, _value(current, root)) for root in roots]
    if any(value is _ABSENT for _, value in values):
        return [{"op": "test", "path": "/metadata/resourceVersion", "value": str(objects.meta(current).get("resourceVersion", ""))}]
    return [{"op": "test", "path": root, "value": value} for root, value in values]


class Remediator:
    def __init__(self, gateway: KubeGateway, *, rollout_timeout: float = 600.0) -> None:
        self._gw = gateway
        self._timeout = rollout_timeout

    async def apply(self, fix: FixProposal, *, revision: int = 0, log: Any = None, write_ahead: WriteAhead | None = None) -> ApplyResult:
        """Dry-run, write ahead, patch, watch the rollout. ConflictError never escapes: it is the `conflict` outcome.

        `write_ahead` gets the record of what the patch will change (the values just read, and the values
        the server's dry-run says the patch leaves) before the patch is sent, so a crash in between
        leaves a way back.
        """
        log = log or telemetry.get_logger(target=str(fix.target))
        phases: list[PhaseTiming] = []
        ref = fix.target
        roots = restore_roots(ref.kind, fix)
        try:
            begun = time.perf_counter()
            current = await self._gw.get(ref.kind, ref.namespace, ref.name)
            patch = [*_pinned(current, roots), *fix.patch_json()]  # pins first: ops apply in order
            dry = await self._gw.patch_json(ref.kind, ref.namespace, ref.name, patch, dry_run=True)
            phases.append(_phase("dry-run", begun, "the API server accepted the patch (dryRun=All)"))
            log.info("remediation.dry_run.complete", duration_ms=phases[-1].duration_ms)
            if write_ahead is not None:
                await write_ahead(_record(ref, revision, roots, current, dry))
            begun = time.perf_counter()
            applied = await self._gw.patch_json(ref.kind, ref.namespace, ref.name, patch, dry_run=False)
            phases.append(_phase("patch", begun, f"{len(fix.patch)} ops"))
            log.info("remediation.patch.complete", duration_ms=phases[-1].duration_ms)
        except ConflictError as exc:
            telemetry.FIXES_APPLIED.labels(outcome="conflict").inc()
            log.warning("remediation.apply.refused", reason=str(exc))
            return ApplyResult(
                ok=False,
                outcome="conflict",
                reason=f"{ref} changed since it was diagnosed, so the fix's guards refused it and nothing was changed; analyze it again ({exc})",
                phases=phases,
            )
        except AegisError as exc:
            telemetry.FIXES_APPLIED.labels(outcome="failed").inc()
            log.warning("remediation.apply.failed", error=str(exc))
            return ApplyResult(ok=False, outcome="failed", reason=f"the patch was not applied: {exc}", phases=phases)
        record = _record(ref, revision, roots, current, applied)
        if ref.kind == "StatefulSet":
            phases.append(await self._unblocked(ref, log))
        ok, reason, timing = await self._watch_rollout(ref, applied, log)
        phases.append(timing)
        telemetry.FIXES_APPLIED.labels(outcome="ok" if ok else "failed").inc()
        return ApplyResult(ok=ok, outcome="applied" if ok else "rollout_failed", reason=reason, phases=phases, record=record)

    def acting_as(self, identity: KubeIdentity | None) -> Remediator:
        """A Remediator whose reads, dry-runs and patches are sent as `identity` (None: as AEGIS itself)."""
        if identity is None:
            return self
        return Remediator(self._gw.impersonating(identity), rollout_timeout=self._timeout)

    async def template_digest(self, ref: ObjectRef) -> str | None:
        """The digest of `ref`'s live pod template (objects.template_digest); AegisError when it cannot be read."""
        return objects.template_digest(await self._gw.get(ref.kind, ref.namespace, ref.name))

    async def observe(self, ref: ObjectRef, since: datetime) -> watch.Observation:
        """The workload's pods and Warning events since `since`, for the watch after Apply."""
        return await watch.observe(self._gw, ref, since)

    async def landed(self, record: AppliedRecord) -> Landing:
        """Whether the object now holds the record's applied values, its previous ones, or something else
        (recovery asks this after a crash between the write-ahead record and the end of a patch)."""
        ref = record.target
        current = await self._gw.get(ref.kind, ref.namespace, ref.name)

        def holds(values: dict[str, Any]) -> bool:
            return all((_value(current, root) if root in values else _ABSENT) == values.get(root, _ABSENT) for root in record.roots)

        if holds(record.applied):
            return "applied"
        if holds(record.previous):
            return "previous"
        return "other"

    async def rollback(self, record: AppliedRecord, *, log: Any = None, write_ahead: WriteAhead | None = None) -> ApplyResult:
        """Restore the previous values, only if the object is still as AEGIS left it (`write_ahead` as for apply)."""
        ref = record.target
        log = log or telemetry.get_logger(target=str(ref))
        patch: list[dict[str, Any]] = []
        for root in record.roots:
            if root in record.applied:
                patch.append({"op": "test", "path": root, "value": record.applied[root]})
            if root in record.previous:
                patch.append({"op": "replace" if root in record.applied else "add", "path": root, "value": record.previous[root]})
            elif root in record.applied:
                patch.append({"op": "remove", "path": root})
        phases: list[PhaseTiming] = []
        try:
            begun = time.perf_counter()
            await self._gw.patch_json(ref.kind, ref.namespace, ref.name, patch, dry_run=True)
            if write_ahead is not None:
                await write_ahead(record)
            restored = await self._gw.patch_json(ref.kind, ref.namespace, ref.name, patch, dry_run=False)
            phases.append(_phase("restore", begun, f"{len(record.roots)} field(s) restored"))
        except ConflictError as exc:
            telemetry.FIXES_APPLIED.labels(outcome="rollback_conflict").inc()
            return ApplyResult(
                ok=False,
                outcome="conflict",
                reason=f"{ref} was changed after AEGIS applied the fix, so Roll back refused to overwrite it; nothing was changed ({exc})",
                phases=phases,
            )
        except AegisError as exc:
            return ApplyResult(ok=False, outcome="failed", reason=f"the roll back was not applied: {exc}", phases=phases)
        if ref.kind == "StatefulSet":
            # Rolled back because the fix's rollout failed: pods stuck on the fix's revision block the restore the same way.
            phases.append(await self._unblocked(ref, log))
        # The previous state may be the broken one: its rollout need not finish; report how far it got.
        ok, reason, timing = await self._watch_rollout(ref, restored, log, timeout=min(self._timeout, _ROLLBACK_WATCH_SECONDS))
        phases.append(timing)
        telemetry.FIXES_APPLIED.labels(outcome="rolled_back").inc()
        state = reason if ok else f"restored; {reason} (the previous state may be the one that was failing)"
        return ApplyResult(ok=True, outcome="rolled_back", reason=f"previous {', '.join(record.roots)} restored exactly; {state}", phases=phases, record=record)

    async def _unblocked(self, ref: ObjectRef, log: Any) -> PhaseTiming:
        """The unblock phase; the patch has landed, so an API error here is reported, never raised (the record must reach the caller)."""
        begun = time.perf_counter()
        try:
            return await self._unblock_statefulset(ref, log)
        except AegisError as exc:
            log.warning("remediation.unblock.failed", error=str(exc))
            return _phase("unblock", begun, f"could not evict the pods stuck on the revision being replaced: {exc}", ok=False)

    async def _unblock_statefulset(self, ref: ObjectRef, log: Any) -> PhaseTiming:
        """Evict the StatefulSet's pods that are not Ready on a revision other than the one it now rolls out.

        Its controller (OrderedReady or not) replaces a pod only once every other pod is Ready, so a
        pod crash-looping on the broken template blocks the fix forever (Kubernetes' documented forced
        rollback). A pod that is Ready, or already on the new revision, is left alone. Apply and Roll back both need it.
        """
        begun = time.perf_counter()
        deadline = time.monotonic() + _OBSERVE_SECONDS
        sts = await self._gw.get(ref.kind, ref.namespace, ref.name)
        # updateRevision names the new template only once the controller observed the patch.
        while int((sts.get("status") or {}).get("observedGeneration") or 0) < int(objects.meta(sts).get("generation") or 0):
            if time.monotonic() > deadline:
                return _phase("unblock", begun, "the StatefulSet controller has not observed the change yet; no pod evicted", ok=False)
            await asyncio.sleep(0.25)
            sts = await self._gw.get(ref.kind, ref.namespace, ref.name)
        target = str((sts.get("status") or {}).get("updateRevision", ""))
        uid = objects.meta(sts).get("uid")
        stuck = [
            str(objects.meta(pod).get("name"))
            for pod in await self._gw.list_objects("Pod", ref.namespace)
            if any(o.get("uid") == uid for o in objects.meta(pod).get("ownerReferences") or [])
            and (objects.meta(pod).get("labels") or {}).get("controller-revision-hash") != target
            and (objects.condition(pod, "Ready") or {}).get("status") != "True"
        ]
        evicted, refused = [], []
        for name in sorted(stuck):
            try:
                await self._gw.evict(ref.namespace, name)
                evicted.append(name)
            except TooManyRequestsError as exc:
                refused.append(f"{name} ({exc})")
        detail = "no pod stuck on the revision being replaced"
        if evicted:
            detail = f"evicted {', '.join(evicted)}: not Ready on the revision being replaced, so the controller would wait for it forever"
        if refused:
            detail += f"; a disruption budget refused evicting {', '.join(refused)}"
        log.info("remediation.unblock.complete", evicted=evicted, refused=len(refused))
        return _phase("unblock", begun, detail, ok=not refused)

    async def _watch_rollout(self, ref: ObjectRef, obj: KubeObject, log: Any, *, timeout: float | None = None) -> tuple[bool, str, PhaseTiming]:
        begun = time.perf_counter()
        limit = timeout or self._timeout
        log.info("remediation.rollout.start", timeout_seconds=limit)
        latest = obj
        try:
            async with asyncio.timeout(limit):
                while True:
                    now = rollout.state(latest)
                    if now.failed:
                        return self._rolled(False, now.failed, begun, log)
                    if now.done:
                        return self._rolled(True, f"rolled out: {now.progress}", begun, log)
                    version = str(objects.meta(latest).get("resourceVersion", ""))
                    with contextlib.suppress(WatchExpiredError):
                        async with contextlib.aclosing(
                            self._gw.watch(ref.kind, ref.namespace, resource_version=version, field_selector=f"metadata.name={ref.name}", timeout_seconds=60)
                        ) as stream:
                            async for event in stream:
                                if event.type in ("ADDED", "MODIFIED"):
                                    latest = event.object
                                    state = rollout.state(latest)
                                    if state.done or state.failed:
                                        break
                            else:
                                latest = await self._gw.get(ref.kind, ref.namespace, ref.name)
                            continue
                    latest = await self._gw.get(ref.kind, ref.namespace, ref.name)
        except TimeoutError:
            return self._rolled(False, f"not rolled out after {limit:.0f}s: {rollout.state(latest).progress}", begun, log)

    def _rolled(self, ok: bool, reason: str, begun: float, log: Any) -> tuple[bool, str, PhaseTiming]:
        timing = _phase("rollout", begun, reason, ok=ok)
        log.info("remediation.rollout.complete" if ok else "remediation.rollout.failed", duration_ms=timing.duration_ms, reason=reason)
        return ok, reason, timing


def _record(ref: ObjectRef, revision: int, roots: list[str], before: KubeObject, after: KubeObject) -> AppliedRecord:
    return AppliedRecord(
        target=ref,
        proposal_revision=revision,
        roots=roots,
        previous={r: v for r in roots if (v := _value(before, r)) is not _ABSENT},
        applied={r: v for r in roots if (v := _value(after, r)) is not _ABSENT},
        absent_before=[r for r in roots if _value(before, r) is _ABSENT],
        at=datetime.now(UTC),
    )


def _phase(name: str, begun: float, detail: str, *, ok: bool = True) -> PhaseTiming:
    return PhaseTiming(name=name, duration_ms=round((time.perf_counter() - begun) * 1000, 1), ok=ok, detail=detail)
