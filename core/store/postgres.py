"""The PostgreSQL IncidentStore (asyncpg): one database shared by several AEGIS replicas.

A connection pool per store. Atomicity comes from PostgreSQL itself, not from this process:
the compare-and-set is one `UPDATE … WHERE state = ANY(…) RETURNING` (a racing transaction
waits on the row lock, then re-checks the WHERE against the committed row and matches nothing),
record_repeat locks its row with `SELECT … FOR UPDATE`, ids come from a sequence, and
migrations run under a transaction-scoped advisory lock. Lost connections become
StoreUnavailableError; the password in the URL never appears in a message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from aegis.core.models import TERMINAL_STATES, AuditRecord, Incident, IncidentId, IncidentState, Transition

from . import migrations, rows
from .base import IncidentExistsError, StoreUnavailableError

MAX_CONNECTIONS = 10
TIMEOUT_SECONDS = 30.0
MIGRATION_LOCK = 0x41454749_53000001  # pg_advisory_xact_lock key: "AEGIS" + 1
_INSERT_INCIDENT = (
    f"INSERT INTO incidents ({', '.join(rows.INCIDENT_COLUMNS)}) "  # noqa: S608 - fixed column names
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(rows.INCIDENT_COLUMNS) + 1))}) RETURNING *"
)
_TERMINAL = rows.state_values(TERMINAL_STATES)
# Errors that mean "the server or the connection is gone", as opposed to a wrong statement.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
)
# At connect time also a refused login, a missing database or a malformed URL.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*_UNAVAILABLE, asyncpg.PostgresError, asyncpg.InterfaceError)

if TYPE_CHECKING:  # generic only in asyncpg-stubs
    Pool = asyncpg.Pool[asyncpg.Record]
    Connection = asyncpg.pool.PoolConnectionProxy[asyncpg.Record]


class PostgresStore:
    """IncidentStore on a PostgreSQL database (a `postgresql://` URL)."""

    def __init__(self, pool: Pool, url: str) -> None:
        self._pool = pool
        self.url = redact(url)

    @classmethod
    async def open(cls, url: str) -> PostgresStore:
        """Connect to the database at `url` and migrate it."""
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=MAX_CONNECTIONS, timeout=TIMEOUT_SECONDS, command_timeout=TIMEOUT_SECONDS)
        except _CONNECT_ERRORS as exc:
            raise StoreUnavailableError(f"AEGIS_STORE_URL: cannot connect to PostgreSQL at {redact(url)}: {exc}") from exc
        store = cls(pool, url)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self._pool.close()

    async def schema_version(self) -> int:
        """The newest migration applied to this database."""
        async with self._connection() as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            applied = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            for version, statements in migrations.pending(applied, migrations.POSTGRES):
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)

    async def next_id(self) -> IncidentId:
        async with self._connection() as conn:
            number = await conn.fetchval("SELECT nextval('incident_number')")
        return IncidentId(f"INC-{number}")

    async def create(self, incident: Incident) -> Incident:
        try:
            async with self._connection() as conn:
                row = await conn.fetchrow(_INSERT_INCIDENT, *rows.encode_incident(incident).values())
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "incidents_id_key":
                raise IncidentExistsError(f"incident {incident.id} already exists") from exc
            raise IncidentExistsError(f"alert group {incident.receiver}/{incident.group_key} already has an open incident") from exc
        assert row is not None  # INSERT … RETURNING returns the row
        return rows.decode_incident(row)

    async def get(self, incident_id: IncidentId) -> Incident | None:
        return await self._one("SELECT * FROM incidents WHERE id = $1", incident_id)

    async def find_by_group(self, receiver: str, group_key: str) -> Incident | None:
        return await self._one("SELECT * FROM incidents WHERE receiver = $1 AND group_key = $2 ORDER BY created_at DESC, seq DESC LIMIT 1", receiver, group_key)

    async def find_by_thread(self, channel: str, thread_ts: str) -> Incident | None:
        return await self._one("SELECT * FROM incidents WHERE channel = $1 AND thread_ts = $2 ORDER BY created_at DESC, seq DESC LIMIT 1", channel, thread_ts)

    async def list_open(self, limit: int = 50) -> list[Incident]:
        async with self._connection() as conn:
            found = await conn.fetch("SELECT * FROM incidents WHERE state <> ALL($1::text[]) ORDER BY created_at DESC, seq DESC LIMIT $2", _TERMINAL, limit)
        return [rows.decode_incident(row) for row in found]

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
        at = rows.now()
        try:
            async with self._connection() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "UPDATE incidents SET previous_state = state, state = $1, updated_at = $2, worker = $5 "
                    "WHERE id = $3 AND state = ANY($4::text[]) RETURNING *",
                    str(to),
                    at,
                    incident_id,
                    rows.state_values(allowed_from),
                    worker,
                )
                if row is None:
                    return None
                await conn.execute(
                    "INSERT INTO transitions (incident_id, from_state, to_state, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6)",
                    incident_id,
                    row["previous_state"],
                    str(to),
                    actor,
                    reason,
                    at,
                )
        except asyncpg.UniqueViolationError as exc:
            raise IncidentExistsError(f"incident {incident_id} cannot become {to}: its alert group already has an open incident") from exc
        return rows.decode_incident(row)

    async def update(self, incident_id: IncidentId, **fields: Any) -> Incident | None:
        encoded = {name: rows.encode_field(name, value) for name, value in fields.items()}
        # Column names are checked against UPDATABLE_FIELDS by encode_field; values are parameters.
        assignments = "".join(f"{name} = ${n}, " for n, name in enumerate(encoded, start=3))
        return await self._one(
            f"UPDATE incidents SET {assignments}updated_at = $2 WHERE id = $1 RETURNING *",  # noqa: S608
            incident_id,
            rows.now(),
            *encoded.values(),
        )

    async def record_repeat(self, incident_id: IncidentId, fingerprints: Sequence[str]) -> Incident | None:
        async with self._connection() as conn, conn.transaction():
            known = await conn.fetchval("SELECT alert_fingerprints FROM incidents WHERE id = $1 FOR UPDATE", incident_id)
            if known is None:
                return None
            row = await conn.fetchrow(
                "UPDATE incidents SET repeat_count = repeat_count + 1, alert_fingerprints = $2, updated_at = $3 WHERE id = $1 RETURNING *",
                incident_id,
                json.dumps(rows.merge_fingerprints(json.loads(known), fingerprints)),
                rows.now(),
            )
        return rows.decode_incident(row) if row is not None else None

    async def transitions(self, incident_id: IncidentId) -> list[Transition]:
        async with self._connection() as conn:
            found = await conn.fetch("SELECT * FROM transitions WHERE incident_id = $1 ORDER BY seq", incident_id)
        return [rows.decode_transition(row) for row in found]

    async def add_audit(self, record: AuditRecord) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO audit (incident_id, actor, action, outcome, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
                record.incident_id,
                record.actor,
                record.action,
                record.outcome,
                record.detail,
                rows.utc(record.at),
            )

    async def audit(self, incident_id: IncidentId) -> list[AuditRecord]:
        async with self._connection() as conn:
            found = await conn.fetch("SELECT * FROM audit WHERE incident_id = $1 ORDER BY seq", incident_id)
        return [rows.decode_audit(row) for row in found]

    async def heartbeat(self, replica: str) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO replicas (id, seen_at) VALUES ($1, extract(epoch FROM clock_timestamp())) "
                "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
                replica,
            )

    async def live_replicas(self, within_seconds: float) -> frozenset[str]:
        async with self._connection() as conn:
            found = await conn.fetch("SELECT id FROM replicas WHERE seen_at >= extract(epoch FROM clock_timestamp()) - $1", within_seconds)
        return frozenset(str(row["id"]) for row in found)

    async def reserve_slot(self, channel: str, interval: float) -> float:
        # The database's clock, not each replica's: the slots of all replicas are on one time line.
        async with self._connection() as conn:
            wait = await conn.fetchval(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t) "
                "INSERT INTO channel_pace AS p (channel, next_at) SELECT $1, now.t + $2 FROM now "
                "ON CONFLICT (channel) DO UPDATE SET next_at = GREATEST(p.next_at, (SELECT t FROM now)) + $2 "
                "RETURNING next_at - $2 - (SELECT t FROM now)",
                channel,
                interval,
            )
        return max(0.0, float(wait))

    async def _one(self, sql: str, *args: Any) -> Incident | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(sql, *args)
        return rows.decode_incident(row) if row is not None else None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire(timeout=TIMEOUT_SECONDS) as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"the PostgreSQL incident database at {self.url} is unavailable ({exc}); retry, or check the server") from exc


def redact(url: str) -> str:
    """The URL with its password, if any, replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
