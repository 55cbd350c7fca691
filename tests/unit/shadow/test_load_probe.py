"""The load probe against a real local HTTP server: rate, concurrency, latency percentiles, error rate, and 'unavailable'."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web

from aegis.core.models import LoadTestConfig
from aegis.core.shadow import load_probe


@dataclass
class Server:
    url: str
    hits: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    fail_every: int = 0
    failed: int = 0
    proxy_error: bool = False
    paths: list[str] = field(default_factory=list)


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(url="")

    async def handle(request: web.Request) -> web.Response:
        state.hits += 1
        state.paths.append(request.path)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(0.02)  # a server that takes time to answer, so requests overlap
            if state.proxy_error:
                return web.json_response({"kind": "Status", "code": 503, "message": 'no endpoints available for service "x"'}, status=503)
            if state.fail_every and state.hits % state.fail_every == 0:
                state.failed += 1
                return web.Response(status=500, text="boom")
            return web.Response(text="ok")
        finally:
            state.in_flight -= 1

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


def target(server: Server) -> load_probe.Target:
    return load_probe.Target(base_url=server.url, path=load_probe.proxy_path("ns", "svc", "http", "/healthz"), headers={"Authorization": "Bearer t"})


async def test_healthy_app_passes_with_latency_percentiles(server: Server) -> None:
    """Every request answered 200: passed, p50/p95 measured, the request count bounded by rate × duration."""
    config = LoadTestConfig(port=8080, rate_per_second=40, duration_seconds=0.5, concurrency=2)
    result = await load_probe.run(target(server), config)
    assert result.status == "passed" and result.error_rate == 0.0
    assert result.requests == server.hits == 20
    assert result.p50_ms is not None and result.p95_ms is not None and 0 < result.p50_ms <= result.p95_ms
    assert server.max_in_flight <= 2
    assert server.paths[0] == "/api/v1/namespaces/ns/services/svc:http/proxy/healthz"


async def test_errors_above_the_limit_fail(server: Server) -> None:
    """One answer in four is a 500: the error rate is above 1%, so the probe fails and says why.

    Every 500 the server sent is counted; on a loaded machine a request may also fail in transport, which
    counts as an error too, so the rate is at least the server's share (the exact figure is not the point).
    """
    server.fail_every = 4
    result = await load_probe.run(target(server), LoadTestConfig(port=8080, rate_per_second=40, duration_seconds=0.5, concurrency=3))
    assert result.status == "failed" and "error rate" in result.reason
    assert server.failed >= 4 and result.errors >= server.failed
    assert result.error_rate == pytest.approx(result.errors / result.requests, abs=1e-4) and result.error_rate >= 0.2


async def test_proxy_answers_mean_unavailable_and_stop_early(server: Server) -> None:
    """When only the API server's proxy answers (no app behind the pod), the probe is 'unavailable' after a few requests."""
    server.proxy_error = True
    result = await load_probe.run(target(server), LoadTestConfig(port=8080, rate_per_second=20, duration_seconds=5, concurrency=1))
    assert result.status == "unavailable" and result.requests <= 4 and "no request reached the app" in result.reason


async def test_connection_refused_is_unavailable() -> None:
    """Nothing listening: every attempt fails to connect, reported as unavailable, not as a pass."""
    probe = load_probe.Target(base_url="http://127.0.0.1:9", path="/", headers={})
    result = await load_probe.run(probe, LoadTestConfig(port=8080, rate_per_second=20, duration_seconds=2, concurrency=1))
    assert result.status == "unavailable"
