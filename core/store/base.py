"""The IncidentStore interface and its errors: what every backend promises, and nothing about how.

The bot, the CLI and the workflows depend on this Protocol only; `aegis.core.store.open_store`
picks the backend (SQLite by default, PostgreSQL when several replicas share one database).
The behaviour below is checked for every backend by one shared test suite
(tests/unit/store/contract.py).

Rules every backend keeps:
- The state changes only through `transition()`, an atomic compare-and-set that also records the
  Transition; a click racing another click (or another replica) finds the state already moved and
  gets None, so the second Apply is a no-op.
- Timestamps come back timezone-aware in UTC (a naive datetime is taken to be UTC when stored).
- Incident ids come from `next_id()`; `create()` refuses an id that exists, and refuses a second
  non-terminal incident for the same Alertmanager group (`receiver`, `group_key`), so two replicas
  receiving the same notification end up with one incident and one thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from aegis.core.errors import AegisError
from aegis.core.models import AuditRecord, Incident, IncidentId, IncidentState, Transition

# Fields `update()` may change. The state is not among them: only transition() moves it.
UPDATABLE_FIELDS = frozenset(
    {
        "channel", "thread_ts", "diagnosis", "repeat_count", "alert_fingerprints", "alerts", "labels", "annotations", "proposal_revision",
        "diagnosis_ts", "last_error", "watch", "silence", "owner", "alertmanager_url",
        "generator_url",
    }
)  # fmt: skip


class StoreError(AegisError):
    """The incident store could not do what was asked."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached or is busy; retrying later may work."""

    transient = True


class IncidentExistsError(StoreError):
    """create() met an incident with the same id, or an open incident of the same alert group.

    For a group conflict another replica won the race: `find_by_group` returns its incident.
    """


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer AEGIS than this one; upgrade before starting."""


class IncidentStore(Protocol):
    """Incidents, their transitions and audit records, in one database shared by all replicas."""

    async def next_id(self) -> IncidentId:
        """A new short id (`INC-1`, `INC-2`, …), unique and increasing per database, also across replicas."""
        ...

    async def create(self, incident: Incident) -> Incident:
        """Store a new incident as given; IncidentExistsError if its id or its open alert group is taken."""
        ...

    async def get(self, incident_id: IncidentId) -> Incident | None:
        """The incident, or None."""
        ...

    async def find_by_group(self, receiver: str, group_key: str) -> Incident | None:
        """The newest incident of an Alertmanager group, terminal or not, or None.

        Newest at all rather than newest open: a late `resolved` notification or a repeat after
        Reject must still find its thread. The caller decides: a terminal incident means a new
        firing starts a new incident (create() allows it once the old one is terminal).
        """
        ...

    async def find_by_thread(self, channel: str, thread_ts: str) -> Incident | None:
        """The incident whose parent message is `thread_ts` in `channel`, or None."""
        ...

    async def list_open(self, limit: int = 50) -> list[Incident]:
        """Non-terminal incidents, newest (by created_at) first."""
        ...

    async def transition(
        self,
        incident_id: IncidentId,
        *,
        allowed_from: AbstractSet[IncidentState],
        to: IncidentState,
        actor: str,
        reason: str = "",
        worker: str | None = None,
    ) -> Incident | None:
        """Move the state to `to` only if it is now one of `allowed_from`, and record the Transition.

        `worker` (the replica that will run an in-flight step) is written in the same statement, and
        cleared by any transition without one. Atomic across connections and replicas. Returns the updated incident, or None when the
        incident does not exist or its state was not allowed (someone else moved it first).
        """
        ...

    async def update(self, incident_id: IncidentId, **fields: Any) -> Incident | None:
        """Change non-state fields (see UPDATABLE_FIELDS); the updated incident, or None if unknown.

        Only the named columns are written, so concurrent updates of different fields do not
        lose each other. TypeError for a field that is not updatable (the state: use transition()).
        """
        ...

    async def record_repeat(self, incident_id: IncidentId, fingerprints: Sequence[str]) -> Incident | None:
        """A repeat notification: repeat_count + 1 and the fingerprints merged in, atomically."""
        ...

    async def transitions(self, incident_id: IncidentId) -> list[Transition]:
        """Every transition of the incident, oldest first."""
        ...

    async def add_audit(self, record: AuditRecord) -> None:
        """Keep an audit record (also for an unknown incident id: a refused click is worth recording)."""
        ...

    async def audit(self, incident_id: IncidentId) -> list[AuditRecord]:
        """The incident's audit records in the order they were added."""
        ...

    async def heartbeat(self, replica: str) -> None:
        """Record that `replica` is alive now."""
        ...

    async def live_replicas(self, within_seconds: float) -> frozenset[str]:
        """The replicas whose last heartbeat is at most `within_seconds` old."""
        ...

    async def reserve_slot(self, channel: str, interval: float) -> float:
        """Reserve the channel's next posting slot, `interval` seconds after the one before, shared by every
        replica on this database; the seconds to wait until it (0 when it is free now)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
