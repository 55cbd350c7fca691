"""The IncidentStore contract on a real PostgreSQL server (see conftest.py beside this file)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from aegis.core.store import StoreUnavailableError, migrations, open_store
from aegis.core.store.postgres import PostgresStore
from tests.unit.store.contract import Backend, PersistenceContract, StoreContract

pytestmark = pytest.mark.integration


class PostgresBackend(Backend):
    migrations = migrations.POSTGRES

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.location)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def schema_versions(self) -> list[int]:
        conn = await asyncpg.connect(self.location)
        try:
            return [row["version"] for row in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
        finally:
            await conn.close()


class TestPostgres(StoreContract, PersistenceContract):
    """The whole contract, restarts and replicas on a fresh PostgreSQL database."""

    @pytest_asyncio.fixture
    async def backend(self, postgres_database: str) -> AsyncIterator[Backend]:
        backend = PostgresBackend(postgres_database)
        yield backend
        await backend.close_all()


async def test_open_store_chooses_postgres_for_both_schemes(postgres_database: str) -> None:
    """postgresql:// and postgres:// URLs both open a PostgresStore."""
    for url in (postgres_database, postgres_database.replace("postgresql://", "postgres://", 1)):
        store = await open_store(url)
        try:
            assert isinstance(store, PostgresStore)
        finally:
            await store.close()


async def test_unreachable_server_is_unavailable_without_the_password(postgres_database: str) -> None:
    """A server that refuses connections raises StoreUnavailableError naming AEGIS_STORE_URL, password masked."""
    url = "postgresql://aegis:s3cret@127.0.0.1:1/aegis"
    with pytest.raises(StoreUnavailableError, match=r"^AEGIS_STORE_URL: .*aegis:\*\*\*@127.0.0.1:1") as info:
        await open_store(url)
    assert "s3cret" not in str(info.value)


async def test_missing_database_is_unavailable(postgres_database: str) -> None:
    """A URL naming a database that does not exist raises StoreUnavailableError, not a driver error."""
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        await open_store(postgres_database.rsplit("/", 1)[0] + "/no_such_database")
