"""Slack's signature headers fail closed, and library log records become structured events without a bare traceback."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
import structlog
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, LineTooLong
from aiohttp.web_protocol import RequestPayloadError

from aegis.bot.listeners.events import Signature
from aegis.core import telemetry

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GOOD = "v0=" + "a" * 64


@pytest.mark.parametrize(
    ("timestamp", "signature", "problem"),
    [
        (None, GOOD, "missing X-Slack-Request-Timestamp"),
        ("", GOOD, "missing X-Slack-Request-Timestamp"),
        ("abc", GOOD, "not epoch seconds"),
        ("9" * 5000, GOOD, "not epoch seconds"),
        ("١٧٠٠٠٠٠٠٠٠", GOOD, "not epoch seconds"),  # Arabic-Indic digits: int() takes them, Slack never sends them
        ("-1", GOOD, "not epoch seconds"),
        ("1.7e9", GOOD, "not epoch seconds"),
        ("100", GOOD, "5-minute window"),
        ("999999999999", GOOD, "5-minute window"),
        ("NOW", None, "missing X-Slack-Signature"),
        ("NOW", "v1=" + "a" * 64, "not a v0 signature"),
        ("NOW", "v0=" + "A" * 64, "not a v0 signature"),
    ],
)
def test_malformed_signature_headers_fail_closed(timestamp: str | None, signature: str | None, problem: str) -> None:
    """Every malformed header is a named refusal, never an exception."""
    stamp = str(int(time.time())) if timestamp == "NOW" else timestamp
    found = Signature(SECRET).header_problem(stamp, signature)
    assert found is not None and problem in found


def test_signature_is_checked_over_raw_bytes() -> None:
    """A body that is not UTF-8 is compared, not decoded: a mismatch is False, a match is True."""
    stamp, body = str(int(time.time())), b"text=\xff\xfe"
    good = "v0=" + hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    check = Signature(SECRET)
    assert check.header_problem(stamp, good) is None
    assert check.matches(stamp, good, body) and not check.matches(stamp, GOOD, body)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    telemetry.configure_logging("json", "info", stream=out)
    yield out
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, telemetry.StdlibBridge)]:
        root.removeHandler(handler)
    logging.getLogger("aiohttp").setLevel(logging.NOTSET)


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_malformed_http_is_one_warning_without_traceback(json_log: io.StringIO) -> None:
    """aiohttp's `logger.exception` for a 64 KB header becomes http.request.malformed, a JSON warning naming the reason."""
    logging.getLogger("aiohttp.server").exception("Error handling request from %s", "10.0.0.1", exc_info=_raise(LineTooLong(b"x" * 100, "8190")))
    (line,) = [json.loads(raw) for raw in json_log.getvalue().splitlines()]
    assert line["event"] == "http.request.malformed" and line["level"] == "warning" and line["status"] == 400 and "8190" in line["reason"]
    assert "Traceback" not in json_log.getvalue()


def test_disconnect_is_info_and_a_drained_bad_body_is_debug(json_log: io.StringIO) -> None:
    """A hang-up is an info event; aiohttp re-reporting a body the handler already refused is below info."""
    logging.getLogger("aiohttp.server").exception("Error handling request", exc_info=_raise(ConnectionResetError("Connection lost")))
    payload_error = RequestPayloadError("Can not decode content-encoding: gzip")
    payload_error.__cause__ = ContentEncodingError("Can not decode content-encoding: gzip")
    logging.getLogger("aiohttp.server").exception("Unhandled exception", exc_info=_raise(payload_error))
    lines = [json.loads(raw) for raw in json_log.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [("http.client.disconnected", "info")]


def test_a_real_failure_keeps_its_traceback_inside_the_json(json_log: io.StringIO) -> None:
    """A bug (not the client's fault) is an error event whose traceback is a JSON field, never bare lines on stderr."""
    logging.getLogger("aiohttp.server").exception("Unhandled exception", exc_info=_raise(KeyError("boom")))
    logging.getLogger("slack_bolt.AsyncApp").warning("Unhandled request (%s)", "x")
    lines = [json.loads(raw) for raw in json_log.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [("http.server.failed", "error"), ("library.log.message", "warning")]
    assert "KeyError" in lines[0]["exception"] and lines[1]["logger"] == "slack_bolt.AsyncApp"


def test_parser_error_classes_carry_a_client_status() -> None:
    """The bridge recognises aiohttp's parser errors by their 4xx `code` (telemetry imports no I/O library)."""
    assert BadHttpMessage("x").code == 400 and LineTooLong(b"", "1").code == 400
