"""ShadowManager: prove a fix in a throwaway namespace, then delete it, always.

Phases, each logged `shadow.<phase>.start|complete|failed` with the incident id and its duration
and timed in `aegis_shadow_phase_duration_seconds{phase}`:

  namespace  create `aegis-shadow-<incident>-<suffix>` (labelled, with an expiry), its quota,
             its default-deny egress NetworkPolicy and ServiceAccounts; start the watches
  clone      read the production workload, check the fix's guards still hold, copy what it
             references (ConfigMaps, Services, Secrets by policy or placeholders, claims)
  patch      apply the fix to the clone (in memory: `shadow.patch.apply`), then create it
  verify     watch pods and events until healthy (Ready, restarts flat for the settle
             window, no Warning) or a fatal Warning or the timeout
  probe      optional HTTP load probe through the API server's service proxy
  cleanup    delete the namespace (shielded from cancellation) and wait until it is gone

The production workload is only read. One run per incident: a second request joins the first;
at most `shadow_max_concurrent` runs at once in this process, more are refused (transient).
With an identity (AEGIS_SHADOW_AS_USER), what the run puts in the shadow (the copies, their
ServiceAccounts, the clone) is created as that person, so their RBAC decides; the namespace, its
quota and egress policy, the watches and the cleanup stay AEGIS's own (its guard rails, always removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aegis.core import objects, telemetry
from aegis.core.config import Settings
from aegis.core.errors import AegisError, AlreadyExistsError, ClusterError, NotFoundError, UsageError
from aegis.core.kube.gateway import KubeGateway, WatchExpiredError
from aegis.core.models import (
    Category,
    Diagnosis,
    IncidentId,
    KubeIdentity,
    KubeObject,
    ObjectRef,
    PhaseTiming,
    ProbeResult,
    VerificationPlan,
    VerificationResult,
)
from aegis.core.shadow import cloning, janitor, load_probe
from aegis.core.shadow.health import HealthTracker, Verdict

Progress = Callable[[PhaseTiming], Awaitable[None]]

_DEFAULT_PLAN = VerificationPlan(checks=["all replicas Ready", "restart counts stay flat for the settle window", "no new Warning events"])
_WATCH_SECONDS = 50.0
_ENDPOINTS_WAIT = 10.0


class ShadowBusyError(ClusterError):
    """Too many shadow verifications run at once; try again when one has finished."""

    transient = True


@dataclass(frozen=True)
class ShadowPolicy:
    """What a shadow may do and how long it may take (from Settings)."""

    max_concurrent: int = 2
    ttl_seconds: float = 1800.0
    timeout_seconds: float | None = None
    settle_seconds: float | None = None
    copy_secrets: bool = False
    egress_allow_cidrs: tuple[str, ...] = ()
    load_probe: bool = True
    cleanup_wait_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ShadowPolicy:
        return cls(
            max_concurrent=settings.shadow_max_concurrent,
            ttl_seconds=settings.shadow_ttl_seconds,
            timeout_seconds=settings.shadow_timeout_seconds,
            settle_seconds=settings.shadow_settle_seconds,
            copy_secrets=settings.shadow_copy_secrets,
            egress_allow_cidrs=tuple(settings.shadow_egress_allow_cidrs),
            load_probe=settings.shadow_load_probe,
            cleanup_wait_seconds=settings.shadow_cleanup_wait_seconds,
        )


@dataclass
class _Run:
    incident_id: IncidentId
    namespace: str
    shadow_id: str
    log: Any
    progress: Progress | None
    phases: list[PhaseTiming] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    representative: bool = True
    services: list[KubeObject] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def phase(self, name: str, **fields: Any) -> AsyncIterator[dict[str, Any]]:
        """Time one phase; log start/complete/failed; the body may add detail to the yielded dict."""
        extra: dict[str, Any] = {}
        begun = time.perf_counter()
        self.log.info(f"shadow.{name}.start", **fields)
        try:
            yield extra
        except BaseException as exc:
            elapsed = (time.perf_counter() - begun) * 1000
            telemetry.SHADOW_PHASE_DURATION.labels(phase=name).observe(elapsed / 1000)
            reason = "cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc)[:300]
            self.log.warning(f"shadow.{name}.failed", duration_ms=round(elapsed, 1), error=reason, **fields)
            await self._record(PhaseTiming(name=name, duration_ms=round(elapsed, 1), ok=False, detail=reason))
            raise
        elapsed = (time.perf_counter() - begun) * 1000
        telemetry.SHADOW_PHASE_DURATION.labels(phase=name).observe(elapsed / 1000)
        self.log.info(f"shadow.{name}.complete", duration_ms=round(elapsed, 1), **fields, **extra)
        await self._record(PhaseTiming(name=name, duration_ms=round(elapsed, 1), detail=str(extra.get("detail", ""))))

    async def _record(self, timing: PhaseTiming) -> None:
        self.phases.append(timing)
        if self.progress is not None:
            try:
                await self.progress(timing)
            except Exception as exc:  # progress is cosmetic (a Slack edit); it never breaks a run
                self.log.warning("shadow.progress.failed", error=repr(exc))


class ShadowManager:
    """Runs shadow verifications against one gateway; safe to share across incidents."""

    def __init__(self, gateway: KubeGateway, policy: ShadowPolicy | None = None) -> None:
        self._gw = gateway
        self._policy = policy or ShadowPolicy()
        self._running: dict[IncidentId, asyncio.Task[VerificationResult]] = {}

    @property
    def policy(self) -> ShadowPolicy:
        return self._policy

    def active(self) -> list[IncidentId]:
        return list(self._running)

    async def verify(
        self, incident_id: IncidentId, diagnosis: Diagnosis, *, revision: int = 0, progress: Progress | None = None, identity: KubeIdentity | None = None
    ) -> VerificationResult:
        """The verdict for the diagnosis's fix; joins a run already going for the same incident.

        `identity`: whom the shadow's contents are created as (None: AEGIS itself)."""
        if self._gw.read_only:
            raise UsageError(f"shadow verification needs a live cluster: {self._gw.description} is read-only")
        if diagnosis.fix is None:
            raise UsageError(f"{incident_id} has no proposed fix to verify")
        task = self._running.get(incident_id)
        if task is None:
            if len(self._running) >= self._policy.max_concurrent:
                raise ShadowBusyError(
                    f"{len(self._running)} shadow verifications are running (limit AEGIS_SHADOW_MAX_CONCURRENT={self._policy.max_concurrent}); "
                    "try again when one has finished"
                )
            task = asyncio.create_task(self._run(incident_id, diagnosis, revision, progress, identity), name=f"shadow:{incident_id}")
            self._running[incident_id] = task
            task.add_done_callback(lambda done: self._running.pop(incident_id, None) if self._running.get(incident_id) is done else None)
        else:
            telemetry.get_logger(incident_id=incident_id).info("shadow.verify.joined")
        return await asyncio.shield(task)

    async def remove(self, incident_id: IncidentId) -> list[str]:
        """Delete an incident's shadow namespaces now (its verification was interrupted); the names deleted."""
        return await janitor.remove_for(self._gw, incident_id)

    async def aclose(self) -> None:
        """Cancel running verifications and wait for their cleanup (shutdown)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- one run -----------------------------------------------------------------------------

    async def _run(
        self, incident_id: IncidentId, diagnosis: Diagnosis, revision: int, progress: Progress | None, identity: KubeIdentity | None
    ) -> VerificationResult:
        fix = diagnosis.fix
        assert fix is not None
        writer = self._gw.impersonating(identity) if identity is not None else self._gw
        plan = diagnosis.verification_plan or _DEFAULT_PLAN
        suffix = secrets.token_hex(3)
        namespace = cloning.namespace_name(incident_id, suffix)
        shadow_id = cloning.label_value(f"{incident_id}-{suffix}".lower())
        log = telemetry.get_logger(incident_id=incident_id, shadow_namespace=namespace, acting_as=identity.user if identity else "aegis")
        run = _Run(incident_id=incident_id, namespace=namespace, shadow_id=shadow_id, log=log, progress=progress)
        if diagnosis.rca.category is Category.QUOTA_EXCEEDED:
            # The refusal is production's namespace admission (a LimitRange or ResourceQuota), which the shadow does not copy.
            run.representative = False
            run.notes.append(
                "production's LimitRanges and ResourceQuotas are not copied: the shadow admits pods production's namespace refuses, "
                "so a pass shows the fixed pods run, not that production's namespace admits them"
            )
        started_at = datetime.now(UTC)
        begun = time.perf_counter()
        verdict = Verdict(True, False, "error", "not started")
        tracker: HealthTracker | None = None
        probe: ProbeResult | None = None
        created = False
        followers: list[asyncio.Task[None]] = []
        telemetry.SHADOW_ACTIVE.inc()
        try:
            try:
                workload_ref = diagnosis.workload if fix.target.kind == "Service" and diagnosis.workload else fix.target
                timeout = min(plan.timeout_seconds, self._policy.timeout_seconds or plan.timeout_seconds)
                settle = plan.settle_seconds if self._policy.settle_seconds is None else self._policy.settle_seconds
                if self._policy.ttl_seconds < timeout + settle:
                    log.warning("shadow.ttl.short", ttl_seconds=self._policy.ttl_seconds, timeout_seconds=timeout, hint="raise AEGIS_SHADOW_TTL_SECONDS")
                async with run.phase("namespace") as info:
                    expires = started_at + timedelta(seconds=self._policy.ttl_seconds)
                    await self._gw.create("Namespace", None, cloning.namespace_doc(namespace, incident_id, shadow_id, expires, str(workload_ref)))
                    created = True
                    await self._gw.create("ResourceQuota", namespace, cloning.resource_quota(namespace, shadow_id))
                    await self._gw.create("NetworkPolicy", namespace, cloning.network_policy(namespace, shadow_id, list(self._policy.egress_allow_cidrs)))
                    info["detail"] = namespace
                    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
                    selector = f"{cloning.SHADOW_LABEL}={shadow_id}"
                    for kind, sel in (("Pod", selector), ("Event", None), (workload_ref.kind, selector)):
                        listing = await self._gw.list_versioned(kind, namespace, sel)
                        followers.append(asyncio.create_task(self._follow(kind, namespace, sel, listing.resource_version, queue), name=f"shadow-watch:{kind}"))
                async with run.phase("clone", resource=str(workload_ref)) as info:
                    production = await self._gw.get(workload_ref.kind, workload_ref.namespace, workload_ref.name)
                    workload_patch = fix.patch_json() if fix.target.kind != "Service" else None
                    # The fix's guards must hold on production as it is now, or the shadow proves nothing.
                    if workload_patch:
                        cloning.patched(cloning.clean(production, namespace), workload_patch)
                    extras = await self._copies(run, production, fix.target, fix.patch_json(), workload_ref)
                    info["detail"] = f"{workload_ref.kind.lower()}/{workload_ref.name} and {len(extras)} referenced objects"
                async with run.phase("patch", ops=len(fix.patch)) as info:
                    log.info("shadow.patch.apply", target=str(fix.target), ops=len(fix.patch))
                    clone = cloning.clone_workload(production, namespace, shadow_id, workload_patch)
                    extras += await self._service_accounts(clone, namespace, shadow_id, workload_ref.namespace)
                    for obj in extras:
                        await _create(writer, obj, namespace)
                    await writer.create(workload_ref.kind, namespace, clone)
                    info["detail"] = f"{len(fix.patch)} ops on the clone"
                desired = 0 if workload_ref.kind == "DaemonSet" else cloning.shadow_replicas(production)
                tracker = HealthTracker(desired=desired, settle_seconds=settle, started=time.monotonic())
                async with run.phase("verify", timeout_seconds=timeout, settle_seconds=settle) as info:
                    verdict = await self._watch_health(run, tracker, queue, timeout, workload_ref.kind)
                    if verdict.passed and fix.target.kind == "Service":
                        verdict = await self._service_has_endpoints(fix.target.name, namespace, verdict)
                    # Logged with the phase's own `shadow.verify.complete`: passed=… final_score=… duration_ms=…
                    info.update(detail=verdict.reason, passed=verdict.passed, final_score=tracker.score(), outcome=verdict.outcome)
                if verdict.passed and plan.load_test_config is not None:
                    async with run.phase("probe") as info:
                        probe = await self._probe(run, plan)
                        info["detail"] = f"{probe.status}: {probe.reason}"
                    if probe.status == "failed":
                        verdict = Verdict(True, False, "failed", f"load probe failed: {probe.reason}")
            except AegisError as exc:
                verdict = Verdict(True, False, "error", str(exc))
                log.warning("shadow.verify.error", error=str(exc))
            except asyncio.CancelledError:
                verdict = Verdict(True, False, "cancelled", "verification cancelled")
                raise
            finally:
                for task in followers:
                    task.cancel()
                await asyncio.gather(*followers, return_exceptions=True)
        finally:
            try:
                if created:
                    await self._shielded_cleanup(run)
            finally:
                telemetry.SHADOW_ACTIVE.dec()
                telemetry.SHADOW_VERIFICATIONS.labels(result=verdict.outcome).inc()
        return VerificationResult(
            incident_id=incident_id,
            proposal_revision=revision,
            target=fix.target,
            namespace=namespace,
            passed=verdict.passed,
            outcome=verdict.outcome,
            score=tracker.score() if tracker else 0.0,
            reason=verdict.reason,
            phases=run.phases,
            timeline=tracker.timeline if tracker else [],
            restarts=tracker.restarts if tracker else 0,
            warning_events=list(tracker.warnings.values())[:10] if tracker else [],
            probe=probe,
            representative=run.representative,
            representativeness_notes=run.notes,
            started_at=started_at,
            duration_ms=round((time.perf_counter() - begun) * 1000, 1),
        )

    async def _shielded_cleanup(self, run: _Run) -> None:
        cleanup = asyncio.ensure_future(self._cleanup(run))
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            # Finish deleting before letting the cancellation through; the janitor covers a crash.
            with contextlib.suppress(Exception):
                await cleanup
            raise

    async def _cleanup(self, run: _Run) -> None:
        begun = time.perf_counter()
        run.log.info("shadow.cleanup.start")
        try:
            await self._gw.delete("Namespace", None, run.namespace, propagation="Background")
            gone = await self._wait_gone(run.namespace, self._policy.cleanup_wait_seconds)
        except AegisError as exc:
            elapsed = (time.perf_counter() - begun) * 1000
            run.log.error("shadow.cleanup.failed", duration_ms=round(elapsed, 1), error=str(exc), hint="the janitor deletes it after its expiry")
            run.phases.append(PhaseTiming(name="cleanup", duration_ms=round(elapsed, 1), ok=False, detail=str(exc)[:300]))
            return
        elapsed = (time.perf_counter() - begun) * 1000
        telemetry.SHADOW_PHASE_DURATION.labels(phase="cleanup").observe(elapsed / 1000)
        run.log.info("shadow.cleanup.complete", duration_ms=round(elapsed, 1), gone=gone)
        await run._record(PhaseTiming(name="cleanup", duration_ms=round(elapsed, 1), detail="namespace deleted" if gone else "namespace terminating"))

    async def _wait_gone(self, namespace: str, wait: float) -> bool:
        if wait <= 0:
            return False
        try:
            async with asyncio.timeout(wait):
                while True:
                    try:
                        current = await self._gw.get("Namespace", None, namespace)
                    except NotFoundError:
                        return True
                    version = str(objects.meta(current).get("resourceVersion", ""))
                    with contextlib.suppress(WatchExpiredError):
                        async with contextlib.aclosing(
                            self._gw.watch("Namespace", None, resource_version=version, field_selector=f"metadata.name={namespace}", timeout_seconds=wait + 1)
                        ) as stream:
                            async for event in stream:
                                if event.type == "DELETED":
                                    return True
        except TimeoutError:
            return False

    # --- copies ------------------------------------------------------------------------------

    async def _copies(self, run: _Run, production: KubeObject, fix_target: ObjectRef, patch: list[dict[str, Any]], workload_ref: ObjectRef) -> list[KubeObject]:
        """ConfigMaps, Secrets (or placeholders), claims and Services the (fixed) workload references."""
        source_ns = workload_ref.namespace
        fixed = cloning.patched(cloning.clean(production, source_ns), patch) if fix_target.kind != "Service" else production
        spec = objects.pod_spec(fixed)
        out: list[KubeObject] = []
        seen: set[tuple[str, str]] = set()
        placeholders: list[str] = []
        for ref in objects.config_refs(spec):
            if (ref.kind, ref.name) in seen or not ref.name:
                continue
            seen.add((ref.kind, ref.name))
            try:
                obj = await self._gw.get(ref.kind, source_ns, ref.name)
            except NotFoundError:
                continue  # missing in production too: the shadow shows the same failure
            if ref.kind == "ConfigMap" or self._policy.copy_secrets:
                out.append(cloning.clone_data(obj, run.namespace, run.shadow_id))
            else:
                out.append(cloning.placeholder_secret(obj, run.namespace, run.shadow_id))
                placeholders.append(ref.name)
        if placeholders:
            run.representative = False
            run.notes.append(
                f"Secrets {', '.join(sorted(placeholders))} were not copied (AEGIS_SHADOW_COPY_SECRETS=false): placeholders with the same keys "
                "let the pods start, but the app saw dummy values"
            )
        claims = objects.pvc_names(spec)
        for claim_name in claims:
            try:
                claim = await self._gw.get("PersistentVolumeClaim", source_ns, claim_name)
            except NotFoundError:
                continue
            out.append(cloning.clone_claim(claim, run.namespace, run.shadow_id))
        if claims:
            run.representative = False
            run.notes.append(f"volumes {', '.join(claims)} are empty copies of the same class and size: production data was not copied")
        if production.get("kind") == "DaemonSet":
            run.notes.append("a DaemonSet clone runs one pod on every eligible node, like production")
        elif production.get("kind") in ("Deployment", "StatefulSet"):
            production_replicas = int((production.get("spec") or {}).get("replicas", 1) or 1)
            replicas = cloning.shadow_replicas(production)
            if replicas != production_replicas:
                run.notes.append(f"{replicas} replica(s) instead of {production_replicas}")
            if cloning.replica_sensitive(production):
                run.representative = False
                run.notes.append(
                    f"the pods constrain each other (inter-pod affinity or topology spread): the clone runs {replicas} replicas, "
                    "but production's other pods (e.g. the previous revision's during a rolling update) are not in the shadow"
                )
        template_labels = cloning._template_labels(production)
        mapping = cloning.selector_map(production)
        services = await self._gw.list_objects("Service", source_ns)
        wanted = {fix_target.name} if fix_target.kind == "Service" else set()
        service_name = (production.get("spec") or {}).get("serviceName")
        if service_name:
            wanted.add(str(service_name))
        for service in services:
            selector = (service.get("spec") or {}).get("selector") or {}
            if objects.name(service) in wanted or cloning.selects(selector, template_labels):
                source = service
                if fix_target.kind == "Service" and objects.name(service) == fix_target.name:
                    source = cloning.patched(cloning.clean(service, source_ns), patch)
                copy = cloning.clone_service(source, run.namespace, run.shadow_id, template_labels, mapping)
                out.append(copy)
                run.services.append(copy)
        return out

    async def _service_accounts(self, clone: KubeObject, namespace: str, shadow_id: str, source_ns: str) -> list[KubeObject]:
        """ServiceAccounts the clone's pods need: "default", and the pod's own only if production has it.

        Pods are refused until their ServiceAccount exists. "default" is created by the controller soon
        after the namespace, so AEGIS creates it too (whoever comes second gets AlreadyExists). A named
        one missing in production stays missing, or the shadow would heal what production cannot.
        """
        spec = objects.pod_spec(clone)
        wanted = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        names = ["default"]
        if wanted != "default":
            try:
                await self._gw.get("ServiceAccount", source_ns, wanted)
                names.append(wanted)
            except NotFoundError:
                pass
        return [cloning.service_account(name, namespace, shadow_id) for name in names]

    # --- watching ----------------------------------------------------------------------------

    async def _follow(self, kind: str, namespace: str, selector: str | None, version: str, queue: asyncio.Queue[tuple[str, str, Any]]) -> None:
        """Feed the queue with watch events of one kind until cancelled; errors go in the queue too."""
        try:
            while True:
                try:
                    async with contextlib.aclosing(
                        self._gw.watch(kind, namespace, resource_version=version, label_selector=selector, timeout_seconds=_WATCH_SECONDS)
                    ) as stream:
                        async for event in stream:
                            version = str(objects.meta(event.object).get("resourceVersion") or version)
                            if event.type != "BOOKMARK":
                                queue.put_nowait((kind, event.type, event.object))
                except WatchExpiredError:
                    listing = await self._gw.list_versioned(kind, namespace, selector)
                    version = listing.resource_version
                    for item in listing.items:
                        queue.put_nowait((kind, "MODIFIED", item))
        except AegisError as exc:
            queue.put_nowait((kind, "ERROR", exc))

    async def _watch_health(self, run: _Run, tracker: HealthTracker, queue: asyncio.Queue[tuple[str, str, Any]], timeout: float, kind: str) -> Verdict:
        deadline = time.monotonic() + timeout
        iteration = 0
        while True:
            now = time.monotonic()
            verdict = tracker.evaluate(now)
            seen = len(tracker.timeline)
            sample = tracker.sample(now)
            iteration += 1
            if len(tracker.timeline) != seen or verdict.done:
                run.log.info(
                    "shadow.verify.health_check", iteration=iteration, score=sample.score, ready=sample.ready, desired=sample.desired, restarts=sample.restarts
                )
            if verdict.done:
                return verdict
            if now >= deadline:
                return tracker.timeout_verdict(timeout)
            wake = min(deadline, tracker.next_deadline(now) or deadline)
            # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancellation that arrives as queue.get()
            # completes, and a cancelled verification (shutdown, a timeout above) then ran on to its deadline.
            try:
                async with asyncio.timeout(max(0.01, wake - now)):
                    item = await queue.get()
            except TimeoutError:
                continue
            items = [item]
            while not queue.empty():
                items.append(queue.get_nowait())
            for source, event_type, obj in items:
                if event_type == "ERROR":
                    raise obj
                if source == "Pod":
                    tracker.pod_event(event_type, obj)
                elif source == "Event":
                    tracker.event(obj, time.monotonic())
                elif source == kind == "DaemonSet":
                    tracker.desired = int((obj.get("status") or {}).get("desiredNumberScheduled") or 0)

    async def _service_has_endpoints(self, service: str, namespace: str, verdict: Verdict) -> Verdict:
        """A Service fix passes only when the copied Service selects the clone's Ready pods."""
        deadline = time.monotonic() + _ENDPOINTS_WAIT
        while True:
            slices = await self._gw.list_objects("EndpointSlice", namespace, f"kubernetes.io/service-name={service}")
            ready = [e for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]
            if ready:
                return Verdict(True, True, "passed", f"{verdict.reason}; Service {service} has {len(ready)} ready endpoint(s)")
            if time.monotonic() >= deadline:
                return Verdict(True, False, "failed", f"Service {service} selects none of the clone's Ready pods after the fix")
            await asyncio.sleep(0.5)  # EndpointSlices are written by a controller we cannot watch for on this path

    async def _probe(self, run: _Run, plan: VerificationPlan) -> ProbeResult:
        config = plan.load_test_config
        assert config is not None
        if not self._policy.load_probe:
            return ProbeResult(status="skipped", reason="the load probe is off (AEGIS_SHADOW_LOAD_PROBE=false)")
        port = _service_port(run.services, config.port)
        if port is None:
            return ProbeResult(status="skipped", reason=f"no Service of the workload exposes container port {config.port}")
        endpoint = await self._gw.api_endpoint()
        if endpoint is None:
            return ProbeResult(status="skipped", reason="no API server endpoint to proxy through")
        service, port_ref = port
        target = load_probe.Target(
            base_url=endpoint.base_url,
            path=load_probe.proxy_path(run.namespace, service, port_ref, config.path),
            headers=endpoint.headers,
            verify=endpoint.verify,
        )
        result = await load_probe.run(target, config)
        run.log.info(
            "shadow.probe.result", status=result.status, requests=result.requests, error_rate=result.error_rate, p50_ms=result.p50_ms, p95_ms=result.p95_ms
        )
        return result


async def _create(gateway: KubeGateway, obj: KubeObject, namespace: str) -> None:
    with contextlib.suppress(AlreadyExistsError):
        await gateway.create(str(obj["kind"]), namespace, obj)


def _service_port(services: list[KubeObject], container_port: int) -> tuple[str, str] | None:
    """(Service name, port name or number) whose targetPort reaches `container_port`."""
    for service in services:
        for port in (service.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if target == container_port or port.get("port") == container_port or isinstance(target, str):
                return objects.name(service), str(port.get("name") or port.get("port"))
    return None
