"""The lifecycle as one table: for each action, the states it may start from and the state it runs in.

Buttons (which to show), the listeners and the policy (whether a click may act), the service (the
compare-and-set of each transition) and recovery (which states are mid-step) all read this table,
so a new action is one row here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aegis.core.models import TERMINAL_STATES, IncidentState

S = IncidentState


class Action(StrEnum):
    """What can happen to an incident; the clickable ones are the thread's buttons."""

    INVESTIGATE = "investigate"
    VERIFY = "verify"
    APPLY = "apply"
    ROLLBACK = "rollback"
    REJECT = "reject"
    RESOLVE = "resolve"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    ACK = "ack"


@dataclass(frozen=True)
class Rule:
    allowed_from: frozenset[IncidentState]
    during: IncidentState | None  # the in-flight state while the action runs; None: it is one transition
    clickable: bool


_PROPOSED = frozenset({S.DIAGNOSED, S.VERIFIED, S.VERIFICATION_FAILED})
_OPEN = frozenset(IncidentState) - TERMINAL_STATES

TABLE: dict[Action, Rule] = {
    Action.INVESTIGATE: Rule(frozenset({S.OPEN}), S.INVESTIGATING, clickable=False),
    Action.VERIFY: Rule(_PROPOSED, S.VERIFYING, clickable=True),
    # The policy may narrow Apply to VERIFIED (a shadow pass required): RemediationPolicy.applicable_states.
    Action.APPLY: Rule(_PROPOSED, S.APPLYING, clickable=True),
    Action.ROLLBACK: Rule(frozenset({S.APPLIED, S.APPLY_FAILED}), S.APPLYING, clickable=True),
    # Not while a step runs or after the cluster was changed: Roll back is the way out of an Apply.
    Action.REJECT: Rule(frozenset({S.OPEN, S.INVESTIGATING, *_PROPOSED}), None, clickable=True),
    # Alertmanager says every alert resolved: whatever the incident was doing, it is over.
    Action.RESOLVE: Rule(_OPEN - {S.APPLYING}, None, clickable=False),
    # On the parent, beside the state rather than through it (silencing.py adds: alert incidents only).
    # Silence while anything may still fire; Unsilence also after the close, as long as the silence runs.
    Action.SILENCE: Rule(_OPEN, None, clickable=True),
    Action.UNSILENCE: Rule(frozenset(IncidentState), None, clickable=True),
    Action.ACK: Rule(_OPEN, None, clickable=True),
}

IN_FLIGHT = frozenset(rule.during for rule in TABLE.values() if rule.during is not None)
BUTTON_ORDER = (Action.VERIFY, Action.APPLY, Action.ROLLBACK, Action.REJECT)
# The parent's own buttons: about who handles the incident and whether it pages, not about the fix.
PARENT_BUTTON_ORDER = (Action.ACK, Action.SILENCE, Action.UNSILENCE)


def allowed_from(action: Action) -> frozenset[IncidentState]:
    return TABLE[action].allowed_from


def can(action: Action, state: IncidentState) -> bool:
    return state in TABLE[action].allowed_from


def during(action: Action) -> IncidentState:
    """The in-flight state of a step (investigate, verify, apply, roll back)."""
    state = TABLE[action].during
    if state is None:
        raise ValueError(f"{action} is a single transition, not a step")
    return state


def buttons(state: IncidentState) -> tuple[Action, ...]:
    """The clickable fix actions an incident in `state` offers, in the order the diagnosis shows them."""
    return tuple(a for a in BUTTON_ORDER if TABLE[a].clickable and state in TABLE[a].allowed_from)


def parent_buttons(state: IncidentState) -> tuple[Action, ...]:
    """The parent's actions `state` allows (Silence and Unsilence further depend on the incident: silencing.offered)."""
    return tuple(a for a in PARENT_BUTTON_ORDER if TABLE[a].clickable and state in TABLE[a].allowed_from)
