"""What the lifecycle needs from the surfaces around it, and what it answers a person's action with.

`IncidentView` is how an incident is shown (the Slack thread in bot/thread.py; the live demo's
terminal): core calls it after every change and never renders anything itself. `Approvals` says who
may act (Slack user ids and groups, resolved by the bot). `ActionOutcome` is the answer to a click,
with a `Refusal` code the surface turns into a sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from aegis.core.incidents.states import Action
from aegis.core.models import Incident, KubeIdentity, PhaseTiming, VerificationResult


class Refusal(StrEnum):
    UNKNOWN_INCIDENT = "unknown_incident"
    READ_ONLY = "read_only"  # a snapshot source: nothing can change
    NOT_AUTHORIZED = "not_authorized"
    STALE = "stale"  # a superseded proposal
    NO_FIX = "no_fix"
    NOT_NOW = "not_now"  # the state does not allow the action
    POLICY = "policy"  # the remediation gate refused; detail says why
    MODE = "mode"  # the namespace's mode forbids the action; detail: "MODE NAMESPACE"
    EXPIRED = "expired"  # the proposal is older than the TTL; the surface offers Re-analyze
    CHANGED = "changed"  # the workload's pod template changed since the diagnosis; the surface offers Re-analyze
    UNCHECKED = "unchecked"  # the workload could not be read to check its template; detail says why
    UNMAPPED = "unmapped"  # acting as the person is required and they map to no Kubernetes identity
    FAILED = "failed"  # the action ran and failed; detail says why


@dataclass(frozen=True)
class ActionOutcome:
    """What a click did. `refusal` is None when it was done; `detail` carries the reason or the state."""

    action: Action
    done: bool
    refusal: Refusal | None = None
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class Approvals(Protocol):
    async def check(self, user: str) -> Decision:
        """Whether `user` may verify, apply, reject or roll back fixes."""
        ...

    @property
    def impersonates(self) -> bool:
        """Whether Apply and Roll back act as the person (an identity map is configured)."""
        ...

    async def identity(self, user: str) -> KubeIdentity | None:
        """Whom `user` is in Kubernetes, or None when the identity map names them nowhere."""
        ...


class IncidentView(Protocol):
    """A surface that shows incidents. Every method is told the incident as stored after the change."""

    async def opened(self, incident: Incident) -> Incident:
        """Show a new incident (or one whose first showing failed); the incident as stored afterwards."""
        ...

    async def changed(self, incident: Incident) -> None:
        """Re-render the incident's summary and the actions its state offers."""
        ...

    async def investigating(self, incident: Incident) -> str | None:
        """Say the investigation started; a handle the result may replace."""
        ...

    async def diagnosed(self, incident: Incident, handle: str | None) -> None:
        """Show the diagnosis with the actions the state offers (replacing `handle` when given)."""
        ...

    async def analysis_failed(self, incident: Incident, handle: str | None, error: str) -> None: ...

    async def alerts_added(self, incident: Incident, names: Sequence[str]) -> None:
        """New alerts joined the incident."""
        ...

    async def closed(self, incident: Incident, *, actor: str, how: str, reason: str) -> None:
        """The incident was rejected or resolved: say so, and offer nothing more."""
        ...

    async def step_started(self, incident: Incident, step: Action, actor: str) -> str | None:
        """A Verify, Apply or Roll back began; a handle for progress and the result."""
        ...

    async def step_progress(self, incident: Incident, handle: str | None, step: Action, actor: str, phases: Sequence[PhaseTiming]) -> None: ...

    async def step_finished(
        self,
        incident: Incident,
        handle: str | None,
        step: Action,
        actor: str,
        *,
        ok: bool,
        reason: str,
        phases: Sequence[PhaseTiming],
        verification: VerificationResult | None = None,
    ) -> None: ...

    async def watch_finished(self, incident: Incident, *, held: bool, note: str) -> None:
        """The watch after Apply ended: the fix held, or it regressed (`note` has the evidence and what happens next)."""
        ...

    async def noted(self, incident: Incident, action: Action, actor: str, *, previous: str | None = None) -> None:
        """A person silenced, unsilenced or took the incident ("I'm on it"): show it on the parent and say who in the
        thread. `previous`: for "I'm on it", the owner taken over from."""
        ...

    async def interrupted(self, incident: Incident, step: Action, note: str) -> None:
        """A step stopped with the replica running it (crash, restart); `note` says what was found and what next."""
        ...
