"""The schema of each backend as an ordered list of migrations, and the rule for applying them.

Migration N is `SQLITE[N - 1]` / `POSTGRES[N - 1]`, a tuple of statements. A database records
every migration it has applied in `schema_version`; opening a store applies the missing ones
in one transaction under the backend's write lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL
advisory lock), so two replicas starting at once migrate once.

To change the schema: append a migration to BOTH lists (never edit an applied one: databases in
the field already ran it), keep the columns of rows.py in step, and the shared store tests run
it on both backends. Literal state names in SQL are frozen on purpose: a migration means what it
meant when it was written.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import SchemaTooNewError

Migration = tuple[str, ...]

# Terminal states as of migration 1 (resolved, rejected, rolled_back).
_TERMINAL_V1 = "('resolved', 'rejected', 'rolled_back')"

SQLITE: Sequence[Migration] = (
    (
        """CREATE TABLE incidents (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            state TEXT NOT NULL,
            previous_state TEXT,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            target TEXT,
            requested_by TEXT,
            channel TEXT,
            thread_ts TEXT,
            receiver TEXT,
            group_key TEXT,
            alert_fingerprints TEXT NOT NULL DEFAULT '[]',
            labels TEXT NOT NULL DEFAULT '{}',
            annotations TEXT NOT NULL DEFAULT '{}',
            repeat_count INTEGER NOT NULL DEFAULT 0,
            diagnosis TEXT,
            proposal_revision INTEGER NOT NULL DEFAULT 0,
            diagnosis_ts TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        f"""CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (receiver, group_key)
            WHERE receiver IS NOT NULL AND group_key IS NOT NULL AND state NOT IN {_TERMINAL_V1}""",
        "CREATE INDEX incidents_by_group ON incidents (receiver, group_key, created_at)",
        "CREATE INDEX incidents_by_thread ON incidents (channel, thread_ts)",
        "CREATE INDEX incidents_by_created ON incidents (created_at)",
        """CREATE TABLE transitions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX transitions_by_incident ON transitions (incident_id, seq)",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            incident_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX audit_by_incident ON audit (incident_id, seq)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO counters (name, value) VALUES ('incident', 0)",
    ),
    # 2: several replicas. `worker` names the replica running an incident's in-flight step (recovery
    # takes over when its heartbeat in `replicas` stops); `channel_pace` is the per-channel Slack slot
    # every replica reserves from, so the pace holds whatever the replica count.
    (
        "ALTER TABLE incidents ADD COLUMN worker TEXT",
        "CREATE TABLE replicas (id TEXT PRIMARY KEY, seen_at REAL NOT NULL)",
        "CREATE TABLE channel_pace (channel TEXT PRIMARY KEY, next_at REAL NOT NULL)",
    ),
    # 3: the watch after Apply ("watching until …", "held", or the regression), shown on the parent.
    ("ALTER TABLE incidents ADD COLUMN watch TEXT",),
    # 4: an incident is one workload: every alert that joined it, under any name, and whether it still fires.
    ("ALTER TABLE incidents ADD COLUMN alerts TEXT NOT NULL DEFAULT '[]'",),
    # 5: silence and ownership from the thread: the Alertmanager silence set there (id, until, by, link), who
    # said "I'm on it", and the notification's links (Alertmanager's externalURL, the first alert's generatorURL).
    (
        "ALTER TABLE incidents ADD COLUMN silence TEXT",
        "ALTER TABLE incidents ADD COLUMN owner TEXT",
        "ALTER TABLE incidents ADD COLUMN alertmanager_url TEXT",
        "ALTER TABLE incidents ADD COLUMN generator_url TEXT",
    ),
)

POSTGRES: Sequence[Migration] = (
    (
        """CREATE TABLE incidents (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            state TEXT NOT NULL,
            previous_state TEXT,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            target JSONB,
            requested_by TEXT,
            channel TEXT,
            thread_ts TEXT,
            receiver TEXT,
            group_key TEXT,
            alert_fingerprints JSONB NOT NULL DEFAULT '[]',
            labels JSONB NOT NULL DEFAULT '{}',
            annotations JSONB NOT NULL DEFAULT '{}',
            repeat_count INTEGER NOT NULL DEFAULT 0,
            diagnosis JSONB,
            proposal_revision INTEGER NOT NULL DEFAULT 0,
            diagnosis_ts TEXT,
            last_error TEXT,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )""",
        f"""CREATE UNIQUE INDEX incidents_one_open_per_group ON incidents (receiver, group_key)
            WHERE receiver IS NOT NULL AND group_key IS NOT NULL AND state NOT IN {_TERMINAL_V1}""",
        "CREATE INDEX incidents_by_group ON incidents (receiver, group_key, created_at)",
        "CREATE INDEX incidents_by_thread ON incidents (channel, thread_ts)",
        "CREATE INDEX incidents_by_created ON incidents (created_at)",
        """CREATE TABLE transitions (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX transitions_by_incident ON transitions (incident_id, seq)",
        """CREATE TABLE audit (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            incident_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX audit_by_incident ON audit (incident_id, seq)",
        "CREATE SEQUENCE incident_number START 1",
    ),
    (
        "ALTER TABLE incidents ADD COLUMN worker TEXT",
        "CREATE TABLE replicas (id TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE channel_pace (channel TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL)",
    ),
    ("ALTER TABLE incidents ADD COLUMN watch TEXT",),
    ("ALTER TABLE incidents ADD COLUMN alerts JSONB NOT NULL DEFAULT '[]'",),
    (
        "ALTER TABLE incidents ADD COLUMN silence JSONB",
        "ALTER TABLE incidents ADD COLUMN owner TEXT",
        "ALTER TABLE incidents ADD COLUMN alertmanager_url TEXT",
        "ALTER TABLE incidents ADD COLUMN generator_url TEXT",
    ),
)


def pending(applied: int, migrations: Sequence[Migration]) -> list[tuple[int, Migration]]:
    """The (version, statements) still to apply to a database at version `applied`."""
    if applied > len(migrations):
        raise SchemaTooNewError(
            f"the incident database is at schema version {applied}, newer than this AEGIS knows ({len(migrations)}): "
            "upgrade AEGIS, or point AEGIS_STORE_URL at another database"
        )
    return [(version, migrations[version - 1]) for version in range(applied + 1, len(migrations) + 1)]
