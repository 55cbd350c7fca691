"""Where incidents live between messages and restarts: `open_store(settings.store_url)`.

`AEGIS_STORE_URL` chooses the backend: `postgresql://…` or `postgres://…` → PostgreSQL (several
replicas), anything else → a SQLite file path (default `aegis.db`; `sqlite:///relative.db`,
`sqlite:////absolute.db` and `:memory:` are accepted too). The backend module is imported only
when chosen, so the SQLite path never loads asyncpg.
"""

from __future__ import annotations

from aegis.core.errors import ConfigError

from .base import (
    UPDATABLE_FIELDS,
    IncidentExistsError,
    IncidentStore,
    SchemaTooNewError,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "UPDATABLE_FIELDS",
    "IncidentExistsError",
    "IncidentStore",
    "SchemaTooNewError",
    "StoreError",
    "StoreUnavailableError",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"


async def open_store(url_or_path: str) -> IncidentStore:
    """The store at `url_or_path`, opened and migrated; ConfigError for a URL no backend takes."""
    if url_or_path.startswith(_POSTGRES_SCHEMES):
        from .postgres import PostgresStore

        return await PostgresStore.open(url_or_path)
    from .sqlite import SQLiteStore

    return await SQLiteStore.open(sqlite_path(url_or_path))


def sqlite_path(url_or_path: str) -> str:
    """The file path a SQLite setting names (SQLAlchemy's `sqlite:///` convention for URLs)."""
    path = url_or_path.removeprefix(_SQLITE_SCHEME) if url_or_path.startswith(_SQLITE_SCHEME) else url_or_path
    if not path.strip():
        raise ConfigError("AEGIS_STORE_URL: empty; set a SQLite file path (e.g. aegis.db) or a postgresql:// URL")
    if "://" in path:
        scheme = path.partition("://")[0]
        raise ConfigError(f"AEGIS_STORE_URL: unsupported scheme {scheme!r}; use a SQLite file path, sqlite:///PATH or postgresql://…")
    return path
