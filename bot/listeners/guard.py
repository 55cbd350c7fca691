"""What every HTTP route shares: reading a body safely, one middleware, and the access log.

A request that cannot be read (a body that is not the gzip it claims, a Content-Length that lies)
is the client's fault: 400 and one warning naming the reason. A client that hangs up mid-body is
an info event. Only a real failure of AEGIS is a 500, logged once as a structured error. The access
log is structlog too (`http.request.complete`), so the whole server writes one JSON stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from aegis.core import telemetry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Probes answer every few seconds; their successes are debug, not news.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class BadRequestError(Exception):
    """The request is malformed: answered 400 with `reason`, logged once as a warning."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ClientGoneError(Exception):
    """The client hung up before the body arrived: nobody is left to answer."""


async def read_body(request: web.Request) -> bytes:
    """The body, decompressed as its Content-Encoding says; BadRequestError when that fails, ClientGoneError on a hang-up.
    The app's client_max_size still applies to the decompressed size (413), so a gzip bomb stays small."""
    try:
        return await request.read()
    except web.HTTPException:
        raise
    except (web.RequestPayloadError, HttpProcessingError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        raise BadRequestError(f"unreadable body: {_reason(cause)}") from None
    except ConnectionError as exc:
        raise ClientGoneError(str(exc) or type(exc).__name__) from None


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:200]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """BadRequestError → 400, ClientGoneError → info, anything unexpected → one structured error and a 500."""
    log = telemetry.get_logger(method=request.method, path=request.path, remote=request.remote)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except BadRequestError as exc:
        log.warning("http.request.invalid", status=exc.status, reason=exc.reason)
        return web.json_response({"error": exc.reason}, status=exc.status)
    except ClientGoneError as exc:
        log.info("http.client.disconnected", reason=str(exc))
        return web.json_response({"error": "client disconnected"}, status=400)
    except Exception as exc:  # a bug in AEGIS: one structured event with its traceback, never a bare one
        log.error("http.handler.failed", error=repr(exc)[:500], exc_info=True)
        return web.json_response({"error": "AEGIS failed to handle this request; it is logged"}, status=500)


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log as a structlog event: method, path (no query string), status, size, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        status = response.status
        fields = {
            "method": request.method,
            "path": request.path[:200],
            "status": status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 1),
            "remote": request.remote,
        }
        log = telemetry.get_logger()
        if status < 400 and request.path in _QUIET_PATHS:
            log.debug("http.request.complete", **fields)
        elif status >= 500:
            log.warning("http.request.complete", **fields)
        else:
            log.info("http.request.complete", **fields)
