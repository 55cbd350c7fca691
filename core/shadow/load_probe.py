"""The bounded HTTP load probe: GET one path at a capped rate, duration and concurrency.

It reaches the shadow Service through the API server's service proxy
(`/api/v1/namespaces/NS/services/SVC:PORT/proxy/PATH`) with AEGIS's own credentials, so it
needs no network route into the cluster. The verdict separates three cases honestly:
- `passed` / `failed`: the app answered; error rate and p95 against the plan's limits.
- `unavailable`: nothing reached the app (the proxy cannot dial the pod, no endpoints, the
  connection fails). This happens on clusters with simulated pods (KWOK): there is no process
  behind the pod IP. It is reported as such and does not count as a pass or a failure.
The first `_UNREACHABLE_LIMIT` unreachable answers without a single app answer end the probe early.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from dataclasses import dataclass

import httpx

from aegis.core.models import LoadTestConfig, ProbeResult

_UNREACHABLE_LIMIT = 3
_REQUEST_TIMEOUT = 3.0
# What the API server's proxy says when it cannot reach the backend: it answers itself, with a
# Kubernetes Status object (503 "no endpoints available", "error trying to reach service: dial tcp …",
# or 403/502 from an egress proxy in between, e.g. "resolve_deny: denied destination").
_PROXY_STATUSES = (403, 502, 503, 504)
_PROXY_FAILURES = ("error trying to reach service", "no endpoints available", "dial tcp", "connection refused", "i/o timeout", "denied destination")


@dataclass(frozen=True)
class Target:
    """Where to send the probe: a base URL and the headers and TLS settings to use."""

    base_url: str
    path: str
    headers: dict[str, str]
    verify: ssl.SSLContext | bool = True


def _from_proxy(response: httpx.Response) -> bool:
    """Whether the answer came from the API server's proxy rather than the app."""
    if response.status_code not in _PROXY_STATUSES:
        return False
    body = response.text[:2000]
    return '"kind":"Status"' in body.replace(" ", "") or any(mark in body.lower() for mark in _PROXY_FAILURES)


def proxy_path(namespace: str, service: str, port: str, path: str) -> str:
    """The API server's service proxy path for one port of a Service."""
    return f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"


async def run(target: Target, config: LoadTestConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> ProbeResult:
    """Send GETs at `rate_per_second` for `duration_seconds` with at most `concurrency` in flight."""
    latencies: list[float] = []
    errors = 0
    unreachable = 0
    reached = 0
    sent = 0
    stop = asyncio.Event()
    limit = asyncio.Semaphore(config.concurrency)
    total = max(1, int(config.rate_per_second * config.duration_seconds))
    interval = 1.0 / config.rate_per_second
    last_problem = ""

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors, unreachable, reached, last_problem
        async with limit:
            if stop.is_set():
                return
            begun = time.perf_counter()
            try:
                response = await client.get(target.path)
            except httpx.HTTPError as exc:
                unreachable += 1
                last_problem = f"{type(exc).__name__}: {exc}"[:200]
            else:
                elapsed = (time.perf_counter() - begun) * 1000
                if _from_proxy(response):
                    unreachable += 1
                    last_problem = f"HTTP {response.status_code} from the proxy: {response.text[:160]}"
                else:
                    reached += 1
                    latencies.append(elapsed)
                    if response.status_code >= 400:
                        errors += 1
                        last_problem = f"HTTP {response.status_code}"
            if reached == 0 and unreachable >= _UNREACHABLE_LIMIT:
                stop.set()

    timeout = httpx.Timeout(_REQUEST_TIMEOUT)
    async with httpx.AsyncClient(base_url=target.base_url, headers=target.headers, verify=target.verify, timeout=timeout, transport=transport) as client:
        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        try:
            for n in range(total):
                if stop.is_set():
                    break
                delay = started + n * interval - time.perf_counter()
                if delay > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                        break
                    except TimeoutError:
                        pass
                tasks.append(asyncio.create_task(one(client)))
                sent += 1
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if reached == 0:
        return ProbeResult(
            status="unavailable", requests=sent, errors=unreachable, error_rate=1.0 if sent else 0.0, reason=f"no request reached the app ({last_problem})"
        )
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    attempts = reached + unreachable
    error_rate = (errors + unreachable) / attempts
    ok = error_rate <= config.max_error_rate and p95 <= config.max_p95_ms
    reason = f"{attempts} requests, error rate {error_rate:.1%} (limit {config.max_error_rate:.0%}), p95 {p95:.0f} ms (limit {config.max_p95_ms:.0f} ms)"
    if not ok and last_problem:
        reason += f"; last problem: {last_problem}"
    return ProbeResult(
        status="passed" if ok else "failed",
        requests=attempts,
        errors=errors + unreachable,
        error_rate=round(error_rate, 4),
        p50_ms=round(p50, 1),
        p95_ms=round(p95, 1),
        reason=reason,
    )
