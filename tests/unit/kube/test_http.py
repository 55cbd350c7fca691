"""The API server's HTTP client (core/kube/http.py) over real sockets: bodies, streams, keep-alive, timeouts.

A real aiohttp server on loopback answers as the API server does: JSON with Content-Length, chunked
lists, a watch that streams lines and stays silent, a connection closed after an answer.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from aegis.core.kube import http
from aegis.core.kube.live import LiveGateway


@dataclass
class Server:
    url: str = ""
    peers: list[object] = field(default_factory=list)  # one entry per request: the client's (host, port)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def record(request: web.Request) -> None:
        state.peers.append(request.transport.get_extra_info("peername") if request.transport else None)

    async def doc(request: web.Request) -> web.StreamResponse:
        await record(request)
        body = await request.read()
        return web.json_response({"method": request.method, "path": request.path_qs, "body": body.decode(), "auth": request.headers.get("Authorization")})

    async def chunked(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(3):
            await response.write(json.dumps({"type": "ADDED", "n": i}).encode() + b"\n")
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def silent(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"type":"BOOKMARK"}\n')
        await state.release.wait()
        return response

    async def hang(request: web.Request) -> web.StreamResponse:
        await record(request)
        await state.release.wait()
        return web.Response(status=503)

    async def close(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(body=b"bye", headers={"Connection": "close"})

    app = web.Application()
    app.router.add_route("*", "/prefix/doc", doc)
    app.router.add_get("/prefix/chunked", chunked)
    app.router.add_get("/prefix/silent", silent)
    app.router.add_get("/prefix/hang", hang)
    app.router.add_get("/prefix/close", close)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/prefix"
    try:
        yield state
    finally:
        state.release.set()
        await runner.cleanup()


TOTAL = http.Timeout(total=5)


async def test_json_body_path_prefix_and_keep_alive(server: Server) -> None:
    """A request keeps the server URL's path prefix, sends its body with a length, and the next one reuses the connection."""
    client = http.Client(server.url, ssl_context=None)
    try:
        async with await client.request("PATCH", "/doc?dryRun=All", headers={"Authorization": "Bearer t"}, body=b'[{"op":"test"}]', timeout=TOTAL) as first:
            assert first.status == 200
            assert json.loads(await first.read()) == {"method": "PATCH", "path": "/prefix/doc?dryRun=All", "body": '[{"op":"test"}]', "auth": "Bearer t"}
        async with await client.request("GET", "/doc", headers={}, timeout=TOTAL) as second:
            assert json.loads(await second.read())["method"] == "GET"
        assert server.peers[0] == server.peers[1]  # the same client socket: kept alive
    finally:
        await client.close()


async def test_chunked_stream_arrives_in_order_and_ends(server: Server) -> None:
    """A chunked answer is read chunk by chunk to its end, as a watch reads its lines."""
    client = http.Client(server.url, ssl_context=None)
    try:
        async with await client.request("GET", "/chunked", headers={}, timeout=http.Timeout(connect=5, read=5)) as response:
            lines = b"".join([chunk async for chunk in response.chunks()]).splitlines()
        assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]
        async with await client.request("GET", "/doc", headers={}, timeout=TOTAL) as again:
            assert again.status == 200
        assert server.peers[0] == server.peers[1]  # a stream read to its end leaves a reusable connection
    finally:
        await client.close()


async def test_a_silent_stream_times_out_per_read(server: Server) -> None:
    """A watch that stops sending raises TimeoutError after the read timeout, not before the first line."""
    client = http.Client(server.url, ssl_context=None)
    try:
        async with await client.request("GET", "/silent", headers={}, timeout=http.Timeout(connect=5, read=0.3)) as response:
            got: list[bytes] = []
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async for chunk in response.chunks():
                    got.append(chunk)
            assert got == [b'{"type":"BOOKMARK"}\n'] and 0.25 < time.monotonic() - started < 3
    finally:
        await client.close()


async def test_total_timeout_covers_a_server_that_never_answers(server: Server) -> None:
    """No answer at all: TimeoutError at the total, and the connection is not reused."""
    client = http.Client(server.url, ssl_context=None)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.request("GET", "/hang", headers={}, timeout=http.Timeout(total=0.3))
        assert time.monotonic() - started < 3
        async with await client.request("GET", "/doc", headers={}, timeout=TOTAL) as response:
            assert response.status == 200
        assert server.peers[0] != server.peers[1]
    finally:
        await client.close()


async def test_connection_close_and_a_stale_idle_connection(server: Server) -> None:
    """'Connection: close' is honoured; an idle connection the server has closed is replaced transparently."""
    client = http.Client(server.url, ssl_context=None)
    try:
        async with await client.request("GET", "/close", headers={}, timeout=TOTAL) as response:
            assert await response.read() == b"bye"
        async with await client.request("GET", "/doc", headers={}, timeout=TOTAL) as response:
            assert response.status == 200
        assert server.peers[0] != server.peers[1]
    finally:
        await client.close()


async def test_a_refused_connection_is_an_oserror() -> None:
    """Nothing listens: ConnectionRefusedError (an OSError), which the gateway reports as unreachable."""
    client = http.Client("http://127.0.0.1:9", ssl_context=None)
    try:
        with pytest.raises(OSError):
            await client.request("GET", "/", headers={}, timeout=TOTAL)
    finally:
        await client.close()


async def test_behind_a_proxy_variable_the_gateway_speaks_through_aiohttp(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY/HTTP_PROXY set: the gateway uses aiohttp, which honours them (NO_PROXY here), with the same bodies and streams."""
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": server.url}}],
                "users": [{"name": "u", "user": {"token": "t0k"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    gateway = await LiveGateway.connect(kubeconfig=str(kubeconfig))
    try:
        assert type(gateway._http).__name__ == "_AiohttpTransport"
        _, data = await gateway._request("POST", "/doc", verb="create", resource="docs", namespace=None, body={"a": "<&>"})
        assert json.loads(data) == {"method": "POST", "path": "/prefix/doc", "body": '{"a":"\\u003c\\u0026\\u003e"}', "auth": "Bearer t0k"}
        response = await gateway._send("GET", "/chunked", [], None, "application/json", (5.0, 5.0))
        async with response:
            lines = b"".join([chunk async for chunk in response.chunks()]).splitlines()
        assert len(lines) == 3
    finally:
        await gateway.close()


async def test_a_closed_or_abandoned_answer_gives_its_connection_slot_back(server: Server) -> None:
    """With one connection allowed, requests after a 'Connection: close' answer, a body left unread and
    a watch that timed out still get a connection: each closed connection frees its slot. (A leaked slot
    hung `aegis serve`'s gateway for good once its 100 slots were spent.)"""
    client = http.Client(server.url, ssl_context=None, max_connections=1)
    try:
        async with await client.request("GET", "/close", headers={}, timeout=TOTAL) as response:
            assert await response.read() == b"bye"
        async with await client.request("GET", "/chunked", headers={}, timeout=TOTAL) as response:
            assert response.status == 200  # released with its body unread: the connection cannot be reused
        async with await client.request("GET", "/silent", headers={}, timeout=http.Timeout(connect=5, read=0.2)) as response:
            with pytest.raises(TimeoutError):
                async for _ in response.chunks():
                    pass
        async with await client.request("GET", "/doc", headers={}, timeout=http.Timeout(total=2)) as response:
            assert response.status == 200
    finally:
        await client.close()
