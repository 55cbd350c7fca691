"""A throwaway PostgreSQL server on loopback for the store's integration tests.

`postgres_server` (session scope) runs Debian's binaries (/usr/lib/postgresql/<ver>/bin, the
newest version found; install-postgres.sh beside this file installs them): initdb into a fresh
temporary directory, `pg_ctl start` on 127.0.0.1 with a free port and the unix socket inside that
directory, and always stops the server and removes the directory. As root, initdb and postgres
run as the `postgres` user (they refuse root), which then owns the directory. Missing binaries:
a failure when CI is set, a skip otherwise. `postgres_database` gives each test a new database.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

INSTALL_HINT = "install postgresql: bash tests/integration/store/install-postgres.sh (Debian's postgresql package)"
SUPERUSER = "aegis"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"


def pg_bin_dir() -> Path | None:
    """The bin directory of the newest PostgreSQL under /usr/lib/postgresql, or of pg_ctl on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: _version(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], *, as_postgres: bool) -> subprocess.CompletedProcess[str]:
    command = ["runuser", "-u", "postgres", "--", *args] if as_postgres else args
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bins = pg_bin_dir()
    if bins is None or not (bins / "initdb").exists():
        msg = f"PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH; {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    as_postgres = os.geteuid() == 0
    workdir = Path(tempfile.mkdtemp(prefix="aegis-pg-"))
    data, sockets, log = workdir / "data", workdir / "sockets", workdir / "postgres.log"
    sockets.mkdir()
    if as_postgres:
        for path in (workdir, sockets):
            shutil.chown(path, user="postgres", group="postgres")
    port = _free_port()
    started = False
    try:
        init = _run([str(bins / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"], as_postgres=as_postgres)
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        start = _run([str(bins / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], as_postgres=as_postgres)
        started = start.returncode == 0
        assert started, f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log.read_text() if log.exists() else ''}"
        yield PostgresServer(host="127.0.0.1", port=port)
    finally:
        if started:
            _run([str(bins / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], as_postgres=as_postgres)
        shutil.rmtree(workdir, ignore_errors=True)


_database_numbers = itertools.count(1)


@pytest_asyncio.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database on the session's server."""
    name = f"aegis_test_{next(_database_numbers)}"
    admin = await asyncpg.connect(postgres_server.url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield postgres_server.url(name)
