"""A small HTTP/1.1 client over asyncio streams: what LiveGateway needs from the API server, and no more.

Why not aiohttp: importing it builds a default TLS context from the system's CA store and loads its
whole client stack, ~0.15 s of every live `aegis analyze` (issue 14's goal for the whole process is
0.3 s). The API server needs little: one host, HTTP/1.1 with keep-alive, Content-Length or chunked
bodies, a long chunked stream for watches, TLS with the cluster's own CA and client certificate.

Connections are pooled per client (idle ones reused; a reused one the server had closed is retried
once on a fresh connection, before any answer was read). Timeouts: `total` covers connect, send and
reading the whole body; a stream (watch) has `connect` for the answer's head and `read` per chunk.
Failures are OSError (ConnectionError, ssl.SSLError, IncompleteReadError) or TimeoutError; the
gateway turns them into ClusterUnreachableError. Proxies are not spoken here: LiveGateway uses
aiohttp when one is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

Headers = Mapping[str, str] | Sequence[tuple[str, str]]
_MAX_HEAD_BYTES = 64 * 1024
_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Timeout:
    """`total` bounds the whole exchange; for a stream, `connect` bounds reaching its head and `read` each chunk."""

    total: float | None = None
    connect: float | None = None
    read: float | None = None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class Response:
    """One answer: `status`, `headers` (lower-case names); read the body with `read()` or `chunks()`; use as `async with`."""

    def __init__(
        self, client: Client, conn: _Connection, status: int, headers: dict[str, str], method: str, deadline: float | None, read_timeout: float | None
    ) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self.status = status
        self.headers = headers
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: int | None = int(length) if length is not None and not self._chunked else None
        self._keep_alive = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._remaining = 0
        self._done = self._remaining == 0

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def release(self) -> None:
        """Give the connection back when the body was read to its end, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep_alive and (self._chunked or self._remaining == 0):
            self._client._give_back(conn)
        else:
            self._client._forget(conn)  # closes it and frees its slot: a bare close() leaked one per answer

    async def read(self) -> bytes:
        """The whole body."""
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while not self._done:
            data = await self._timed(self._next())
            if data:
                yield data

    async def _timed(self, read: Coroutine[Any, Any, bytes]) -> bytes:
        try:
            if self._deadline is not None:
                async with asyncio.timeout_at(self._deadline):
                    return await read
            async with asyncio.timeout(self._read_timeout):
                return await read
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:  # cut off mid-body, or not HTTP chunking
            self._keep_alive = False
            raise ConnectionError(f"the answer broke off: {type(exc).__name__}: {exc}") from exc

    async def _next(self) -> bytes:
        assert self._conn is not None, "the response was released"
        reader = self._conn.reader
        if self._chunked:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the empty line
                    pass
                self._done = True
                return b""
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            return data
        if self._remaining is None:  # no length: the body ends when the server closes
            data = await reader.read(_READ_SIZE)
            if not data:
                self._done, self._keep_alive = True, False
            return data
        data = await reader.read(min(self._remaining, _READ_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", self._remaining)
        self._remaining -= len(data)
        self._done = self._remaining == 0
        return data


class Client:
    """Requests to one server (`base_url`: scheme, host, port and an optional path prefix)."""

    def __init__(self, base_url: str, *, ssl_context: ssl.SSLContext | None, server_hostname: str | None = None, max_connections: int = 100) -> None:
        parts = urlsplit(base_url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if self._tls else 80)
        self._prefix = parts.path.rstrip("/")
        self._host_header = parts.netloc.rsplit("@", 1)[-1]
        self._ssl = ssl_context if self._tls else None
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self._server_hostname = (server_hostname or self._host) if self._tls else None
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._open: set[_Connection] = set()
        self._closed = False

    async def request(self, method: str, path: str, *, headers: Headers, body: bytes | None = None, timeout: Timeout) -> Response:
        """Send one request and read the answer's head; the caller reads the body (and releases it).

        `headers` may repeat a name (as (name, value) pairs): Kubernetes impersonation sends one Impersonate-Group per group.
        """
        deadline = time.monotonic() + timeout.total if timeout.total is not None else None
        head_deadline = deadline if deadline is not None else (time.monotonic() + timeout.connect if timeout.connect is not None else None)
        lines = [f"{method} {self._prefix}{path} HTTP/1.1", f"Host: {self._host_header}", "User-Agent: aegis"]
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        lines += [f"{name}: {value}" for name, value in pairs if "\r" not in f"{name}{value}" and "\n" not in f"{name}{value}"]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        for attempt in range(2):
            conn = await self._connection(head_deadline)
            try:
                async with asyncio.timeout_at(head_deadline):
                    conn.writer.write(payload)
                    await conn.writer.drain()
                    status, response_headers = await _read_head(conn.reader)
            except TimeoutError:  # an OSError too, but never retried: the time is spent
                self._forget(conn)
                raise
            except (OSError, asyncio.IncompleteReadError) as exc:
                self._forget(conn)
                if conn.reused and attempt == 0:
                    continue  # the server had closed this idle connection: once more on a fresh one
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                self._forget(conn)
                raise
            return Response(self, conn, status, response_headers, method, deadline, timeout.read)
        raise AssertionError("unreachable")

    async def _connection(self, deadline: float | None) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                conn.reused = True
                return conn
            self._forget(conn)
        async with asyncio.timeout_at(deadline):
            await self._slots.acquire()
            try:
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._ssl, server_hostname=self._server_hostname, limit=_MAX_HEAD_BYTES
                )
            except BaseException:
                self._slots.release()
                raise
        conn = _Connection(reader, writer)
        self._open.add(conn)
        return conn

    def _give_back(self, conn: _Connection) -> None:
        if self._closed or not conn.usable():
            self._forget(conn)
        else:
            self._idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        conn.close()
        if conn in self._open:
            self._open.discard(conn)
            self._slots.release()

    async def close(self) -> None:
        """Close every connection (streams still open end with a connection error)."""
        self._closed = True
        conns = list(self._open)
        for conn in conns:
            self._forget(conn)
        self._idle.clear()
        # A TLS close waits for the server's close_notify; one that never sends it must not hold the exit.
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                for conn in conns:
                    with contextlib.suppress(OSError):
                        await conn.writer.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ConnectionError("the server's answer has a head larger than 64 KiB") from exc
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return int(parts[1]), headers
