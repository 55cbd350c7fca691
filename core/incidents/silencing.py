"""Silence, Unsilence and "I'm on it": what the parent's own buttons do.

A silence is set in Alertmanager (its v2 API) and recorded on the incident (`Incident.silence`), so the
parent says "silenced until …" and offers Unsilence; only approvers and AEGIS_SILENCERS may set or lift
one. "I'm on it" records the owner; anyone in the channel may take an incident. Every decision is
audited and the view is told (`IncidentView.noted`).

The matchers silence exactly this workload's alerts. Alertmanager ANDs a silence's matchers, one value
(or RE2 regex, anchored at both ends) per label, so one silence is:

- `namespace` = the workload's namespace;
- `alertname` = the names that joined the incident (a regex of them when several): a new kind of alert
  on the same workload is news and still notifies;
- `pod` =~ the pods that joined, or any pod the workload's controller could name later (a Deployment's
  `NAME-<template hash>-<5>`, a StatefulSet's `NAME-<ordinal>`, a DaemonSet's or Job's `NAME-<5>`, in the
  characters Kubernetes generates names from), so a replacement pod of a silenced crash loop stays quiet;
- when some alerts are about the workload itself rather than a pod (a stuck rollout: `deployment=NAME`,
  no `pod` label), that label =~ `NAME|` and `pod` also admits the empty value (a missing label matches
  ""): every alert name keeps one label shape, so the pod-level names still need one of these pods and
  the workload-level ones this workload's name.

An incident about no workload (the alert named none) is silenced by its alert group's common labels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aegis.core import redaction, telemetry
from aegis.core.alertmanager_api import AlertmanagerError, Matcher
from aegis.core.incidents import states
from aegis.core.incidents.parts import Parts
from aegis.core.incidents.states import Action
from aegis.core.incidents.view import ActionOutcome, Refusal
from aegis.core.models import Incident, IncidentId, IncidentSource, ObjectRef, Silence

DURATIONS_HOURS = (1, 4, 24)
# The characters Kubernetes generates name suffixes from (k8s.io/apimachinery/pkg/util/rand): no vowels,
# no 0, 1 or 3, so a human-chosen name part ("api", "v1") rarely looks like one.
_GENERATED = "[bcdfghjklmnpqrstvwxz2456789]"
# The label an alert about the workload itself (not one of its pods) names it by (kube-state-metrics).
_WORKLOAD_LABEL = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "Job": "job_name",
    "CronJob": "cronjob",
    "PersistentVolumeClaim": "persistentvolumeclaim",
}
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def escape(value: str) -> str:
    """`value` as an RE2 literal (Python's re.escape also escapes characters RE2 may not accept escaped)."""
    return "".join(f"\\{c}" if c in _RE2_SPECIAL else c for c in value)


def pod_pattern(workload: ObjectRef) -> str | None:
    """The names the workload's controller gives its pods, as an RE2 regex; None when it names none (a bare pod: its name)."""
    name = escape(workload.name)
    patterns = {
        "Deployment": f"{name}-{_GENERATED}{{6,10}}-{_GENERATED}{{5}}",  # ReplicaSet NAME-<hash>, then its pod -<5>
        "StatefulSet": f"{name}-[0-9]+",
        "DaemonSet": f"{name}-{_GENERATED}{{5}}",
        "Job": f"{name}-{_GENERATED}{{5}}",
        "ReplicaSet": f"{name}-{_GENERATED}{{5}}",
        "CronJob": f"{name}-[0-9]+-{_GENERATED}{{5}}",  # Job NAME-<scheduled minute>, then its pod
        "Pod": name,
    }
    return patterns.get(workload.kind)


def _one_of(values: list[str]) -> str:
    return "|".join(escape(v) for v in values)


def matchers(incident: Incident) -> list[Matcher]:
    """The matchers that silence this incident's alerts and no others (see the module docstring); [] when none can."""
    names = sorted({a.alertname for a in incident.alerts if a.alertname and redaction.MARKER not in a.alertname})
    workload = incident.target
    if workload is None or not names:
        return _by_common_labels(incident)
    found = [Matcher(name="namespace", value=workload.namespace)]
    found.append(Matcher(name="alertname", value=names[0]) if len(names) == 1 else Matcher(name="alertname", value=_one_of(names), is_regex=True))
    pods = sorted({a.pod for a in incident.alerts if a.pod and redaction.MARKER not in a.pod})
    pattern = pod_pattern(workload)
    pod_values = list(dict.fromkeys([*(escape(p) for p in pods), *([pattern] if pattern else [])]))
    if all(a.pod for a in incident.alerts):
        if not pod_values:
            return _by_common_labels(incident)
        found.append(Matcher(name="pod", value="|".join(pod_values), is_regex=True))
        return found
    label = _WORKLOAD_LABEL.get(workload.kind)
    if label is None:
        # Alerts about a kind of object no kube-state-metrics label names: their group's labels are all there is.
        return _by_common_labels(incident)
    if pods:  # both shapes: pod-level names need one of these pods, workload-level ones this workload
        found.append(Matcher(name="pod", value="|".join([*pod_values, ""]), is_regex=True))
        found.append(Matcher(name=label, value=f"{escape(workload.name)}|", is_regex=True))
    else:
        found.append(Matcher(name=label, value=workload.name))
    return found


def _by_common_labels(incident: Incident) -> list[Matcher]:
    """The alert group's common labels, exactly: they identify the group (Alertmanager's group_by labels are among them).
    A value masked at the webhook ([REDACTED]) matches nothing, so it is left out."""
    kept = {k: v for k, v in sorted(incident.labels.items()) if v and redaction.MARKER not in v and not redaction.is_secret_name(k)}
    if "alertname" not in kept:
        return []
    return [Matcher(name=k, value=v) for k, v in kept.items()]


def offered(incident: Incident, *, configured: bool, now: datetime | None = None) -> tuple[Action, ...]:
    """The parent's buttons: the table's for the state; Silence only for alert incidents with Alertmanager's API
    configured and no silence running, Unsilence only while one runs."""
    running = silenced(incident, now)
    shown = []
    for action in states.parent_buttons(incident.state):
        if action is Action.SILENCE and (not configured or incident.source is not IncidentSource.ALERTMANAGER or running):
            continue
        if action is Action.UNSILENCE and not running:
            continue
        shown.append(action)
    return tuple(shown)


def silenced(incident: Incident, now: datetime | None = None) -> bool:
    """Whether the incident's silence still runs (it ends by itself at `until`)."""
    return incident.silence is not None and incident.silence.until > (now or datetime.now(UTC))


def tag(incident: Incident) -> str:
    """What every silence of this incident says in its comment, so Unsilence finds them all (also one a
    racing second click made): the incident and its thread, unique across AEGIS installations sharing one Alertmanager."""
    return f"[AEGIS {incident.id} {incident.channel or '-'}/{incident.thread_ts or '-'}]"


def _created_by(user: str, user_name: str) -> str:
    return f"{user_name} ({user})" if user_name and user_name != user else user


async def _may_silence(parts: Parts, incident_id: IncidentId, user: str, action: Action) -> ActionOutcome | None:
    """None when `user` may silence (listed in AEGIS_SILENCERS, or an approver); else the refusal, audited."""
    if user in parts.silencers:
        return None
    decision = await parts.approvals.check(user)
    if decision.allowed:
        return None
    reason = "not an approver nor in AEGIS_SILENCERS" if decision.reason == "not an approver" else decision.reason
    await parts.audit(incident_id, user, action.value, "refused", reason)
    telemetry.get_logger(incident_id=incident_id).info("silence.click.refused", user=user, action=action.value, reason=reason)
    return ActionOutcome(action, False, Refusal.NOT_AUTHORIZED, reason)


async def silence(parts: Parts, incident_id: IncidentId, *, user: str, user_name: str = "", hours: int, thread_url: str | None = None) -> ActionOutcome:
    """Silence the incident's alerts in Alertmanager for `hours` (replacing a silence already running), record it, tell the view."""
    log = telemetry.get_logger(incident_id=incident_id)
    incident = await parts.store.get(incident_id)
    if incident is None:
        return ActionOutcome(Action.SILENCE, False, Refusal.UNKNOWN_INCIDENT, incident_id)
    refused = await _may_silence(parts, incident_id, user, Action.SILENCE)
    if refused is not None:
        return refused
    if hours not in DURATIONS_HOURS:
        return ActionOutcome(Action.SILENCE, False, Refusal.FAILED, f"a silence lasts {', '.join(f'{h} h' for h in DURATIONS_HOURS)}, not {hours} h")
    if incident.source is not IncidentSource.ALERTMANAGER:
        reason = f"{incident.id} was opened by a person, not by an alert: there is nothing in Alertmanager to silence"
        await parts.audit(incident_id, user, "silence", "refused", "not an alert incident")
        return ActionOutcome(Action.SILENCE, False, Refusal.FAILED, reason)
    if not states.can(Action.SILENCE, incident.state):
        await parts.audit(incident_id, user, "silence", "noop", f"state {incident.state.value}")
        return ActionOutcome(Action.SILENCE, False, Refusal.NOT_NOW, incident.state.value)
    if parts.alertmanager is None:
        await parts.audit(incident_id, user, "silence", "failed", "AEGIS_ALERTMANAGER_URL unset")
        return ActionOutcome(Action.SILENCE, False, Refusal.FAILED, "AEGIS has no Alertmanager API configured; an admin sets AEGIS_ALERTMANAGER_URL")
    found = matchers(incident)
    if not found:
        await parts.audit(incident_id, user, "silence", "failed", "no labels to match")
        return ActionOutcome(Action.SILENCE, False, Refusal.FAILED, "the incident's alerts carry no labels AEGIS could silence them by")
    now = datetime.now(UTC)
    until = now + timedelta(hours=hours)
    where = f": {thread_url}" if thread_url else ""
    comment = f"{tag(incident)} Silenced from Slack for {hours} h by {_created_by(user, user_name)}. {redaction.mask(incident.title)[:200]}. Thread{where}"
    running = incident.silence.id if silenced(incident, now) and incident.silence else None
    log.info("silence.create.start", hours=hours, matchers=[str(m) for m in found], replaces=running)
    try:
        silence_id = await parts.alertmanager.create_silence(
            found, starts_at=now, ends_at=until, created_by=_created_by(user, user_name), comment=comment, replaces=running
        )
    except AlertmanagerError as exc:
        log.warning("silence.create.failed", error=str(exc))
        await parts.audit(incident_id, user, "silence", "failed", str(exc)[:300])
        return ActionOutcome(Action.SILENCE, False, Refusal.FAILED, str(exc))
    record = Silence(id=silence_id, until=until, by=user, url=parts.alertmanager.silence_link(silence_id, incident.alertmanager_url))
    updated = await parts.store.update(incident_id, silence=record) or incident
    await parts.audit(incident_id, user, "silence", "ok", f"{silence_id} for {hours} h: {', '.join(str(m) for m in found)}"[:500])
    log.info("silence.create.complete", silence_id=silence_id, until=until.isoformat())
    await parts.view.noted(updated, Action.SILENCE, user)
    return ActionOutcome(Action.SILENCE, True, detail=silence_id)


async def unsilence(parts: Parts, incident_id: IncidentId, *, user: str) -> ActionOutcome:
    """Expire the incident's silence in Alertmanager (and any other this incident's clicks made), record it, tell the view."""
    log = telemetry.get_logger(incident_id=incident_id)
    incident = await parts.store.get(incident_id)
    if incident is None:
        return ActionOutcome(Action.UNSILENCE, False, Refusal.UNKNOWN_INCIDENT, incident_id)
    refused = await _may_silence(parts, incident_id, user, Action.UNSILENCE)
    if refused is not None:
        return refused
    if incident.silence is None:
        await parts.audit(incident_id, user, "unsilence", "noop", "not silenced")
        return ActionOutcome(Action.UNSILENCE, False, Refusal.NOT_NOW, "not silenced")
    if parts.alertmanager is None:
        await parts.audit(incident_id, user, "unsilence", "failed", "AEGIS_ALERTMANAGER_URL unset")
        return ActionOutcome(Action.UNSILENCE, False, Refusal.FAILED, "AEGIS has no Alertmanager API configured; an admin sets AEGIS_ALERTMANAGER_URL")
    try:
        ids = {incident.silence.id}
        marker = tag(incident)
        for found in await parts.alertmanager.silences():
            state = found.get("status", {}).get("state") if isinstance(found.get("status"), dict) else None
            if marker in str(found.get("comment", "")) and state in ("active", "pending") and isinstance(found.get("id"), str):
                ids.add(found["id"])
        expired = [sid for sid in sorted(ids) if await parts.alertmanager.expire_silence(sid)]
    except AlertmanagerError as exc:
        log.warning("silence.expire.failed", error=str(exc))
        await parts.audit(incident_id, user, "unsilence", "failed", str(exc)[:300])
        return ActionOutcome(Action.UNSILENCE, False, Refusal.FAILED, str(exc))
    updated = await parts.store.update(incident_id, silence=None) or incident
    await parts.audit(incident_id, user, "unsilence", "ok", f"expired {', '.join(expired) or 'nothing (already ended)'}")
    log.info("silence.expire.complete", expired=expired)
    await parts.view.noted(updated, Action.UNSILENCE, user)
    return ActionOutcome(Action.UNSILENCE, True)


async def acknowledge(parts: Parts, incident_id: IncidentId, *, user: str) -> ActionOutcome:
    """ "I'm on it": `user` owns the incident now (taking it over from whoever had it); anyone may."""
    incident = await parts.store.get(incident_id)
    if incident is None:
        return ActionOutcome(Action.ACK, False, Refusal.UNKNOWN_INCIDENT, incident_id)
    if not states.can(Action.ACK, incident.state):
        await parts.audit(incident_id, user, "ack", "noop", f"state {incident.state.value}")
        return ActionOutcome(Action.ACK, False, Refusal.NOT_NOW, incident.state.value)
    if incident.owner == user:
        await parts.audit(incident_id, user, "ack", "noop", "already the owner")
        return ActionOutcome(Action.ACK, False, Refusal.NOT_NOW, "yours")
    previous = incident.owner
    updated = await parts.store.update(incident_id, owner=user) or incident
    await parts.audit(incident_id, user, "ack", "ok", f"took over from {previous}" if previous else "owner")
    telemetry.get_logger(incident_id=incident_id).info("incident.ack.complete", owner=user, previous=previous)
    await parts.view.noted(updated, Action.ACK, user, previous=previous)
    return ActionOutcome(Action.ACK, True)
