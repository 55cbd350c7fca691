"""The IncidentStore contract on SQLite (in memory and on a file), plus what only SQLite and open_store do."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from aegis.core import config
from aegis.core.errors import ConfigError
from aegis.core.store import StoreUnavailableError, migrations, open_store, sqlite_path
from aegis.core.store.postgres import redact
from aegis.core.store.sqlite import SQLiteStore
from tests.unit.store.contract import Backend, PersistenceContract, StoreContract


class SQLiteBackend(Backend):
    migrations = migrations.SQLITE

    async def execute(self, sql: str) -> None:
        with sqlite3.connect(self.location) as db:
            db.execute(sql)
        db.close()

    async def schema_versions(self) -> list[int]:
        db = sqlite3.connect(self.location)
        try:
            return [row[0] for row in db.execute("SELECT version FROM schema_version ORDER BY version")]
        finally:
            db.close()


class TestSQLiteInMemory(StoreContract):
    """The whole contract on a private :memory: database."""

    @pytest_asyncio.fixture
    async def backend(self) -> AsyncIterator[Backend]:
        backend = SQLiteBackend(":memory:")
        yield backend
        await backend.close_all()


class TestSQLiteFile(StoreContract, PersistenceContract):
    """The whole contract, restarts and replicas on a database file."""

    @pytest_asyncio.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[Backend]:
        backend = SQLiteBackend(str(tmp_path / "aegis.db"))
        yield backend
        await backend.close_all()


async def test_file_is_in_wal_mode(tmp_path: Path) -> None:
    """A SQLite store file uses write-ahead logging, so readers never block the writer."""
    store = await SQLiteStore.open(str(tmp_path / "aegis.db"))
    await store.close()
    db = sqlite3.connect(tmp_path / "aegis.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


async def test_open_store_accepts_a_sqlite_url(tmp_path: Path) -> None:
    """open_store('sqlite:///PATH') opens the SQLite file at PATH."""
    store = await open_store(f"sqlite:///{tmp_path}/via-url.db")
    try:
        assert isinstance(store, SQLiteStore) and store.path == f"{tmp_path}/via-url.db"
    finally:
        await store.close()
    assert (tmp_path / "via-url.db").is_file()


@pytest.mark.parametrize(
    ("setting", "path"),
    [("aegis.db", "aegis.db"), ("sqlite:///aegis.db", "aegis.db"), ("sqlite:////var/lib/aegis.db", "/var/lib/aegis.db"), (":memory:", ":memory:")],
)
def test_sqlite_path_follows_the_sqlalchemy_convention(setting: str, path: str) -> None:
    """A plain path is a path; sqlite:///x is relative, sqlite:////x absolute."""
    assert sqlite_path(setting) == path


@pytest.mark.parametrize("setting", ["", "mysql://db/aegis", "sqlite:///"])
async def test_unusable_settings_name_the_variable(setting: str) -> None:
    """An empty value or an unknown scheme is a ConfigError naming AEGIS_STORE_URL."""
    with pytest.raises(ConfigError, match=r"^AEGIS_STORE_URL: "):
        await open_store(setting)


async def test_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    """A path in a missing directory raises StoreUnavailableError naming the setting and the path."""
    with pytest.raises(StoreUnavailableError, match=r"AEGIS_STORE_URL: .*missing/aegis\.db"):
        await open_store(str(tmp_path / "missing" / "aegis.db"))


async def test_a_file_held_past_the_busy_timeout_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process keeps a read transaction open on a new file, so it cannot switch to WAL: after the busy
    timeout start-up stops with StoreUnavailableError naming the file, not a bare sqlite3 error."""
    monkeypatch.setattr("aegis.core.store.sqlite.BUSY_TIMEOUT_SECONDS", 0.3)
    path = tmp_path / "aegis.db"
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("CREATE TABLE t (a)")
        other.execute("BEGIN")
        other.execute("SELECT * FROM t").fetchall()
        with pytest.raises(StoreUnavailableError, match=r"aegis\.db.*unavailable \(database is locked\)"):
            await SQLiteStore.open(str(path))
    finally:
        other.close()


def test_store_url_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """store_url defaults to aegis.db and is read from AEGIS_STORE_URL."""
    monkeypatch.chdir(tmp_path)  # no aegis.yaml here
    monkeypatch.delenv("AEGIS_STORE_URL", raising=False)
    monkeypatch.delenv("AEGIS_CONFIG", raising=False)
    assert config.load().store_url == "aegis.db"
    monkeypatch.setenv("AEGIS_STORE_URL", "postgresql://aegis@db/aegis")
    assert config.load().store_url == "postgresql://aegis@db/aegis"


def test_redact_hides_only_the_password() -> None:
    """A PostgreSQL URL in a message keeps user, host and database but never the password."""
    assert redact("postgresql://aegis:s3cret@db:5432/aegis?sslmode=require") == "postgresql://aegis:***@db:5432/aegis?sslmode=require"
    assert redact("postgresql://aegis@db/aegis") == "postgresql://aegis@db/aegis"
