"""The SQLite IncidentStore: the embedded default, one file (WAL mode) beside a single replica.

One aiosqlite connection per store. Its statements run on aiosqlite's thread one at a time, and
an asyncio.Lock keeps each coroutine's transaction whole (coroutines share the connection, so
without it one could write inside another's transaction). Writes run in `BEGIN IMMEDIATE`, which
takes SQLite's write lock up front, so a compare-and-set stays atomic also against another
process on the same file (the CLI beside the bot); a busy file is waited for (busy timeout),
then reported as StoreUnavailableError. `:memory:` gives a private database, for tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from aegis.core.models import TERMINAL_STATES, AuditRecord, Incident, IncidentId, IncidentState, Transition

from . import migrations, rows
from .base import IncidentExistsError, StoreUnavailableError

BUSY_TIMEOUT_SECONDS = 10.0
_INSERT_INCIDENT = (
    f"INSERT INTO incidents ({', '.join(rows.INCIDENT_COLUMNS)}) "  # noqa: S608 - fixed column names
    f"VALUES ({', '.join('?' for _ in rows.INCIDENT_COLUMNS)}) RETURNING *"
)
_TERMINAL = json.dumps(rows.state_values(TERMINAL_STATES))


class SQLiteStore:
    """IncidentStore on one SQLite file (or `:memory:`)."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteStore:
        """Open (creating if needed) and migrate the database at `path`."""
        folder = os.path.dirname(path)
        if path != ":memory:" and folder and not await asyncio.to_thread(os.path.isdir, folder):
            raise StoreUnavailableError(f"AEGIS_STORE_URL: cannot open the SQLite database {path!r}: folder {folder!r} does not exist")
        connection = aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            db = await connection
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread on a failed connect without waiting; wait here, or the
            # thread may report to an event loop that has closed in the meantime.
            worker = getattr(connection, "_thread", None)
            if worker is not None:
                await asyncio.to_thread(worker.join, 5.0)
            raise StoreUnavailableError(f"AEGIS_STORE_URL: cannot open the SQLite database {path!r}: {exc}") from exc
        db.row_factory = sqlite3.Row
        store = cls(db, path)
        try:
            await _enable_wal(db, path)
            for pragma in ("synchronous = NORMAL", "foreign_keys = ON"):
                await db.execute_fetchall(f"PRAGMA {pragma}")
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        """The newest migration applied to this database."""
        async with self._read() as db:
            found = await db.execute_fetchall("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")
        return int(_first(found)["version"])

    async def _migrate(self) -> None:
        async with self._write() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            found = await db.execute_fetchall("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")
            for version, statements in migrations.pending(int(_first(found)["version"]), migrations.SQLITE):
                for statement in statements:
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, rows.iso(rows.now())))

    async def next_id(self) -> IncidentId:
        async with self._write() as db:
            found = await db.execute_fetchall("UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value")
        return IncidentId(f"INC-{_first(found)['value']}")

    async def create(self, incident: Incident) -> Incident:
        row = rows.encode_incident(incident)
        values = [rows.iso(value) if column in rows.TIMESTAMP_COLUMNS else value for column, value in row.items()]
        try:
            async with self._write() as db:
                found = await db.execute_fetchall(_INSERT_INCIDENT, values)
        except sqlite3.IntegrityError as exc:
            raise _exists(incident, "incidents.id" in str(exc)) from exc
        return rows.decode_incident(_first(found))

    async def get(self, incident_id: IncidentId) -> Incident | None:
        return await self._one("SELECT * FROM incidents WHERE id = ?", (incident_id,))

    async def find_by_group(self, receiver: str, group_key: str) -> Incident | None:
        return await self._one(
            "SELECT * FROM incidents WHERE receiver = ? AND group_key = ? ORDER BY created_at DESC, seq DESC LIMIT 1",
            (receiver, group_key),
        )

    async def find_by_thread(self, channel: str, thread_ts: str) -> Incident | None:
        return await self._one(
            "SELECT * FROM incidents WHERE channel = ? AND thread_ts = ? ORDER BY created_at DESC, seq DESC LIMIT 1",
            (channel, thread_ts),
        )

    async def list_open(self, limit: int = 50) -> list[Incident]:
        async with self._read() as db:
            found = await db.execute_fetchall(
                "SELECT * FROM incidents WHERE state NOT IN (SELECT value FROM json_each(?)) ORDER BY created_at DESC, seq DESC LIMIT ?",
                (_TERMINAL, limit),
            )
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
        at = rows.iso(rows.now())
        try:
            async with self._write() as db:
                found = list(
                    await db.execute_fetchall(
                        "UPDATE incidents SET previous_state = state, state = ?, worker = ?, updated_at = ? "
                        "WHERE id = ? AND state IN (SELECT value FROM json_each(?)) RETURNING *",
                        (str(to), worker, at, incident_id, json.dumps(rows.state_values(allowed_from))),
                    )
                )
                if not found:
                    return None
                await db.execute(
                    "INSERT INTO transitions (incident_id, from_state, to_state, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                    (incident_id, found[0]["previous_state"], str(to), actor, reason, at),
                )
        except sqlite3.IntegrityError as exc:
            raise IncidentExistsError(f"incident {incident_id} cannot become {to}: its alert group already has an open incident") from exc
        return rows.decode_incident(found[0])

    async def update(self, incident_id: IncidentId, **fields: Any) -> Incident | None:
        encoded = {name: rows.encode_field(name, value) for name, value in fields.items()}
        assignments = "".join(f"{name} = ?, " for name in encoded)  # names checked against UPDATABLE_FIELDS
        async with self._write() as db:
            found = await db.execute_fetchall(
                f"UPDATE incidents SET {assignments}updated_at = ? WHERE id = ? RETURNING *",  # noqa: S608
                (*encoded.values(), rows.iso(rows.now()), incident_id),
            )
        return _incident_or_none(found)

    async def record_repeat(self, incident_id: IncidentId, fingerprints: Sequence[str]) -> Incident | None:
        async with self._write() as db:
            known = _first_or_none(await db.execute_fetchall("SELECT alert_fingerprints FROM incidents WHERE id = ?", (incident_id,)))
            if known is None:
                return None
            merged = rows.merge_fingerprints(json.loads(known["alert_fingerprints"]), fingerprints)
            found = await db.execute_fetchall(
                "UPDATE incidents SET repeat_count = repeat_count + 1, alert_fingerprints = ?, updated_at = ? WHERE id = ? RETURNING *",
                (json.dumps(merged), rows.iso(rows.now()), incident_id),
            )
        return _incident_or_none(found)

    async def transitions(self, incident_id: IncidentId) -> list[Transition]:
        async with self._read() as db:
            found = await db.execute_fetchall("SELECT * FROM transitions WHERE incident_id = ? ORDER BY seq", (incident_id,))
        return [rows.decode_transition(row) for row in found]

    async def add_audit(self, record: AuditRecord) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO audit (incident_id, actor, action, outcome, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
                (record.incident_id, record.actor, record.action, record.outcome, record.detail, rows.iso(record.at)),
            )

    async def audit(self, incident_id: IncidentId) -> list[AuditRecord]:
        async with self._read() as db:
            found = await db.execute_fetchall("SELECT * FROM audit WHERE incident_id = ? ORDER BY seq", (incident_id,))
        return [rows.decode_audit(row) for row in found]

    async def heartbeat(self, replica: str) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO replicas (id, seen_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at", (replica, time.time())
            )

    async def live_replicas(self, within_seconds: float) -> frozenset[str]:
        async with self._read() as db:
            found = await db.execute_fetchall("SELECT id FROM replicas WHERE seen_at >= ?", (time.time() - within_seconds,))
        return frozenset(str(row["id"]) for row in found)

    async def reserve_slot(self, channel: str, interval: float) -> float:
        # One file, one clock: the processes sharing it run on one machine.
        now = time.time()
        async with self._write() as db:
            found = await db.execute_fetchall(
                "INSERT INTO channel_pace (channel, next_at) VALUES (?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET next_at = MAX(channel_pace.next_at, ?) + ? RETURNING next_at",
                (channel, now + interval, now, interval),
            )
        return max(0.0, float(_first(found)["next_at"]) - interval - now)

    async def _one(self, sql: str, params: Sequence[Any]) -> Incident | None:
        async with self._read() as db:
            found = await db.execute_fetchall(sql, params)
        return _incident_or_none(found)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                if _is_unavailable(exc):
                    raise _unavailable(self.path, exc) from exc
                raise

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, holding SQLite's write lock from its first statement."""
        async with self._lock:
            try:
                if self._db.in_transaction:  # a cancelled transaction whose rollback never ran
                    await self._db.execute("ROLLBACK")
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if _is_unavailable(exc):
                    raise _unavailable(self.path, exc) from exc
                raise


def _first(found: Iterable[sqlite3.Row]) -> sqlite3.Row:
    return next(iter(found))


def _first_or_none(found: Iterable[sqlite3.Row]) -> sqlite3.Row | None:
    return next(iter(found), None)


def _incident_or_none(found: Iterable[sqlite3.Row]) -> Incident | None:
    row = _first_or_none(found)
    return rows.decode_incident(row) if row is not None else None


async def _enable_wal(db: aiosqlite.Connection, path: str) -> None:
    """Switch the file to WAL, waiting out other openers: SQLite answers the switch with "database is
    locked" at once, without its busy handler, while another connection holds the file (replicas or
    the CLI starting together), so the wait is ours, bounded like the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = 0.01
    while True:
        try:
            await db.execute_fetchall("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            contended = str(getattr(exc, "sqlite_errorname", "")).startswith(_CONTENDED)
            if not contended or time.monotonic() + pause > deadline:
                if _is_unavailable(exc):
                    raise _unavailable(path, exc) from exc
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.25)


# Errors about the file rather than the statement: busy, locked (another connection holds it), I/O,
# disk full, cannot open.
_CONTENDED = ("SQLITE_BUSY", "SQLITE_LOCKED")
_UNAVAILABLE = (*_CONTENDED, "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_READONLY")


def _is_unavailable(exc: sqlite3.OperationalError) -> bool:
    """A busy or broken file (worth a retry), rather than a wrong statement (a bug)."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith(_UNAVAILABLE)


def _unavailable(path: str, exc: sqlite3.OperationalError) -> StoreUnavailableError:
    return StoreUnavailableError(f"the SQLite incident database {path!r} is unavailable ({exc}); retry, or check the file and its disk")


def _exists(incident: Incident, same_id: bool) -> IncidentExistsError:
    if same_id:
        return IncidentExistsError(f"incident {incident.id} already exists")
    return IncidentExistsError(f"alert group {incident.receiver}/{incident.group_key} already has an open incident")
