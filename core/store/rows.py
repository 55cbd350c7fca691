"""Models to table rows and back, shared by the SQLite and PostgreSQL backends.

Both backends keep the same columns (see their migrations): scalar fields as columns, nested
values (target, labels, annotations, fingerprints, diagnosis, silence) as JSON text, the diagnosis via
`model_dump_json`/`model_validate_json` so it round-trips exactly. Timestamps are UTC-aware
datetimes here; each backend turns them into its own column type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from pydantic import TypeAdapter

from aegis.core.models import AuditRecord, Diagnosis, Incident, IncidentState, ObjectRef, Silence, Transition

from .base import UPDATABLE_FIELDS

INCIDENT_COLUMNS = (
    "id",
    "source",
    "state",
    "title",
    "severity",
    "target",
    "requested_by",
    "channel",
    "thread_ts",
    "receiver",
    "group_key",
    "alert_fingerprints",
    "alerts",
    "labels",
    "annotations",
    "repeat_count",
    "diagnosis",
    "proposal_revision",
    "diagnosis_ts",
    "last_error",
    "worker",
    "watch",
    "silence",
    "owner",
    "alertmanager_url",
    "generator_url",
    "created_at",
    "updated_at",
)
_JSON_COLUMNS = frozenset({"alert_fingerprints", "alerts", "labels", "annotations"})
TIMESTAMP_COLUMNS = frozenset({"created_at", "updated_at"})


class Row(Protocol):
    """A result row by column name: sqlite3.Row and asyncpg.Record both are."""

    def __getitem__(self, key: str, /) -> Any: ...


def utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive datetime is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601 text, so that text order is time order (SQLite keeps it as TEXT)."""
    return utc(moment).isoformat(timespec="microseconds")


def encode_incident(incident: Incident) -> dict[str, Any]:
    """Column values for a new row, in INCIDENT_COLUMNS order."""
    row: dict[str, Any] = {}
    for column in INCIDENT_COLUMNS:
        row[column] = _encode(column, getattr(incident, column))
    return row


def encode_field(name: str, value: Any) -> Any:
    """Validate one updatable field's new value against the Incident model and encode it for its column."""
    if name not in UPDATABLE_FIELDS:
        hint = " (the state changes only through transition())" if name == "state" else ""
        raise TypeError(f"update() cannot change {name!r}{hint}; updatable: {', '.join(sorted(UPDATABLE_FIELDS))}")
    return _encode(name, _adapter(name).validate_python(value))


def decode_incident(row: Row) -> Incident:
    """An Incident from a row carrying INCIDENT_COLUMNS (extra columns are ignored)."""
    values: dict[str, Any] = {column: row[column] for column in INCIDENT_COLUMNS}
    values["target"] = ObjectRef.model_validate_json(row["target"]) if row["target"] is not None else None
    values["diagnosis"] = Diagnosis.model_validate_json(row["diagnosis"]) if row["diagnosis"] is not None else None
    values["silence"] = Silence.model_validate_json(row["silence"]) if row["silence"] is not None else None
    for column in _JSON_COLUMNS:
        values[column] = json.loads(row[column])
    for column in TIMESTAMP_COLUMNS:
        values[column] = decode_time(row[column])
    return Incident.model_validate(values)


def decode_time(value: datetime | str) -> datetime:
    return utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def decode_transition(row: Row) -> Transition:
    return Transition(
        incident_id=row["incident_id"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        actor=row["actor"],
        reason=row["reason"],
        at=decode_time(row["at"]),
    )


def decode_audit(row: Row) -> AuditRecord:
    return AuditRecord(
        incident_id=row["incident_id"],
        actor=row["actor"],
        action=row["action"],
        outcome=row["outcome"],
        detail=row["detail"],
        at=decode_time(row["at"]),
    )


def merge_fingerprints(known: Sequence[str], new: Sequence[str]) -> list[str]:
    """Known fingerprints, then the new ones not seen yet, in arrival order."""
    return list(dict.fromkeys([*known, *new]))


def state_values(states: AbstractSet[IncidentState]) -> list[str]:
    """The states as their column strings, sorted so that statements are stable."""
    return sorted(str(state) for state in states)


def _encode(column: str, value: Any) -> Any:
    if column in ("target", "diagnosis", "silence"):
        return value.model_dump_json() if value is not None else None
    if column == "alerts":
        return json.dumps([alert.model_dump(mode="json") for alert in value], sort_keys=True)
    if column in _JSON_COLUMNS:
        return json.dumps(value, sort_keys=True)
    if column in TIMESTAMP_COLUMNS:
        return utc(value)
    if column in ("source", "state"):
        return str(value)
    return value


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    annotation = Incident.model_fields[name].annotation
    assert annotation is not None  # every Incident field is annotated
    return TypeAdapter(annotation)
