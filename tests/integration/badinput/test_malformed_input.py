"""Malformed input over real HTTP, one row each: never a 5xx, never a traceback, never a lost alert.

Each row sends one bad request to the bot as `aegis serve --http` runs it (signed exactly as Slack
signs when the row is about what comes after the signature), then checks: the status, the answer
within 3 s, the log event that names the reason, every log line JSON and none at ERROR, no
"Traceback" anywhere (log or stderr), and a valid `/aegis help` still answered afterwards. Alert rows
also check that the alert's thread exists in the Slack stand-in.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from aegis.core.models import IncidentState
from tests.integration.badinput.harness import RESULTS, Bot, Outcome
from tests.integration.bot.test_slack_http import ALERT_TOKEN, CHANNEL, alert_payload, block_actions, sign, slash_body

pytestmark = pytest.mark.integration

FORM = "application/x-www-form-urlencoded"
ANSWER_WITHIN = 3.0


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (the client hung up)
    body: bytes


Send = Callable[[Bot], Awaitable[Answer]]
Check = Callable[[Bot, Answer], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    id: str
    send: Send
    status: tuple[int | None, ...]
    event: str | None  # the one log event that names the reason
    check: Check | None = None


# ---- senders ---------------------------------------------------------------------------------


def now() -> int:
    return int(time.time())


def to_events(body: bytes, headers: dict[str, str]) -> Send:
    async def send(bot: Bot) -> Answer:
        response = await bot.http.post("/slack/events", content=body, headers=headers)
        return Answer(response.status_code, response.content)

    return send


def signed(body: bytes, *, content_type: str = FORM, extra: dict[str, str] | None = None, sign_over: bytes | None = None) -> Send:
    """Signed as Slack signs (over `sign_over` when the wire body differs, e.g. compressed), fresh each send."""

    async def send(bot: Bot) -> Answer:
        headers = {**sign(body if sign_over is None else sign_over, now()), "Content-Type": content_type, **(extra or {})}
        return await to_events(body, headers)(bot)

    return send


def headers_only(**overrides: str | None) -> Send:
    """A slash command whose signature headers are replaced (None drops one)."""

    async def send(bot: Bot) -> Answer:
        body = slash_body("help")
        headers: dict[str, str] = sign(body, now())
        for name, value in overrides.items():
            header = {"timestamp": "X-Slack-Request-Timestamp", "signature": "X-Slack-Signature"}[name]
            if value is None:
                headers.pop(header)
            else:
                headers[header] = value
        return await to_events(body, headers)(bot)

    return send


def interaction(payload: Any) -> Send:
    return signed(urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode())


def click(value: str = '{"incident":"INC-1","rev":0}', **changes: Any) -> Send:
    payload = block_actions("aegis.verify", value, "U0ALICE", None)
    payload.update(changes)
    return interaction(payload)


def submission(**changes: Any) -> Send:
    payload: dict[str, Any] = {
        "type": "view_submission",
        "user": {"id": "U0ALICE"},
        "team": {"id": "T1"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "aegis.reject_modal",
            "private_metadata": json.dumps({"incident": "INC-1", "rev": 0, "channel": CHANNEL}),
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "no"}}}},
        },
    }
    for key, value in changes.items():
        if key.startswith("view_"):
            if value is None:
                payload["view"].pop(key[5:])
            else:
                payload["view"][key[5:]] = value
        else:
            payload[key] = value
    return interaction(payload)


def to_webhook(body: bytes, *, extra: dict[str, str] | None = None) -> Send:
    async def send(bot: Bot) -> Answer:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_TOKEN}", **(extra or {})}
        response = await bot.http.post("/alertmanager/webhook", content=body, headers=headers)
        return Answer(response.status_code, response.content)

    return send


def alert(**changes: Any) -> dict[str, Any]:
    payload = alert_payload()
    for key, value in changes.items():
        if key == "summary":
            payload["commonAnnotations"]["summary"] = value
        elif key == "alertname":
            for labels in (payload["commonLabels"], payload["groupLabels"], *(a["labels"] for a in payload["alerts"])):
                labels["alertname"] = value
        else:
            payload[key] = value
    return payload


def raw(data: bytes, *, hang_up: bool = False) -> Send:
    """Bytes straight onto a TCP connection: what no HTTP client library would send."""

    async def send(bot: Bot) -> Answer:
        reader, writer = await asyncio.open_connection(bot.host, bot.port)
        try:
            writer.write(data)
            await writer.drain()
            if hang_up:
                return Answer(None, b"")
            response = await asyncio.wait_for(reader.read(), timeout=ANSWER_WITHIN)
        finally:
            writer.close()
        status_line = response.split(b"\r\n", 1)[0].split()
        return Answer(int(status_line[1]) if len(status_line) > 1 else None, response)

    return send


def request(path: str, headers: bytes, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: aegis\r\nConnection: close\r\n".encode() + headers + b"\r\n" + body


def fresh_slack_headers(body_length: int) -> bytes:
    """Signature headers that pass the header check, so the request reaches the body read."""
    return f"X-Slack-Request-Timestamp: {now()}\r\nX-Slack-Signature: v0={'0' * 64}\r\nContent-Length: {body_length}\r\n".encode()


# ---- checks ----------------------------------------------------------------------------------


# An incident is one workload: the alert's pod belongs to Deployment shop/checkout.
WORKLOAD = "shop/Deployment/checkout"


async def ephemeral_refusal(bot: Bot, answer: Answer) -> None:
    await bot.settle()
    assert any("not an AEGIS action" in e["text"] for e in bot.standin.recorder.ephemerals), bot.standin.recorder.ephemerals


async def dialog_refusal(bot: Bot, answer: Answer) -> None:
    body = json.loads(answer.body)
    assert body["response_action"] == "errors" and "could not read this dialog" in body["errors"]["reason"]


async def thread_exists(bot: Bot, answer: Answer) -> None:
    """Nothing lost: the alert's incident is stored and its parent message is in the channel."""
    await bot.settle()
    open_incidents = await bot.store.list_open()
    assert len(open_incidents) == 1, open_incidents
    incident = open_incidents[0]
    assert incident.thread_ts, "the alert's incident has no thread"
    parent = bot.standin.recorder.message(CHANNEL, incident.thread_ts)
    assert parent.thread_ts is None and incident.last_error is None


async def nothing_posted(bot: Bot, answer: Answer) -> None:
    await bot.settle()
    assert bot.standin.recorder.messages(CHANNEL) == []


# ---- the table -------------------------------------------------------------------------------

NOT_UTF8 = b"command=/aegis&text=\xff\xfe&user_id=U1&channel_id=C1"
HELP = slash_body("help")
DEEP = "[" * 5000 + "]" * 5000
BOMB = gzip.compress(b"0" * 20_000_000)

ROWS = [
    # The signature check runs first and fails closed on every malformed header.
    Row("timestamp missing", headers_only(timestamp=None), (401,), "slack.request.refused"),
    Row("timestamp not an integer", headers_only(timestamp="yesterday"), (401,), "slack.request.refused"),
    Row("timestamp huge", headers_only(timestamp="9" * 5000), (401,), "slack.request.refused"),
    Row("timestamp float", headers_only(timestamp="1.7e9"), (401,), "slack.request.refused"),
    Row("timestamp negative", headers_only(timestamp="-1"), (401,), "slack.request.refused"),
    Row("timestamp empty", headers_only(timestamp=""), (401,), "slack.request.refused"),
    Row("signature missing", headers_only(signature=None), (401,), "slack.request.refused"),
    Row("signature not v0 hex", headers_only(signature="v0=zz"), (401,), "slack.request.refused"),
    Row("signature wrong", headers_only(signature="v0=" + "a" * 64), (401,), "slack.request.refused"),
    Row("body not UTF-8, unsigned", to_events(NOT_UTF8, {**sign(b"x", now()), "Content-Type": FORM}), (401,), "slack.request.refused"),
    Row("body not UTF-8, signed", signed(NOT_UTF8), (400,), "http.request.invalid"),
    Row("gzip body broken", signed(b"\x1f\x8b\x08garbage", extra={"Content-Encoding": "gzip"}), (400,), "http.request.invalid"),
    Row("gzip body not gzip", signed(HELP, extra={"Content-Encoding": "gzip"}), (400,), "http.request.invalid"),
    Row("gzip body truncated", signed(gzip.compress(HELP)[:-12], extra={"Content-Encoding": "gzip"}, sign_over=HELP), (400, 401), None),
    Row("gzip bomb", signed(BOMB, extra={"Content-Encoding": "gzip"}), (413,), None),
    Row("content type JSON", signed(b'{"type":"url_verification"}', content_type="application/json"), (415,), "http.request.invalid"),
    Row("bogus charset, valid command", signed(HELP, content_type=f"{FORM}; charset=bogus-8"), (200,), None),
    Row("bogus charset, not UTF-8", signed(NOT_UTF8, content_type=f"{FORM}; charset=bogus-8"), (400,), "http.request.invalid"),
    Row("empty body", signed(b""), (400,), "slack.request.invalid"),
    Row("form field twice", signed(b"payload=%7B%7D&payload=%7B%7D"), (400,), "slack.request.invalid"),
    Row("too many form fields", signed("&".join(f"f{i}=1" for i in range(200)).encode()), (400,), "slack.request.invalid"),
    # Signed, but not a request AEGIS can act on.
    Row("payload not JSON", interaction("{not json"), (400,), "slack.request.invalid"),
    Row("payload a list", interaction("[1, 2]"), (400,), "slack.request.invalid"),
    Row("payload a string", interaction('"block_actions"'), (400,), "slack.request.invalid"),
    Row("payload null", interaction("null"), (400,), "slack.request.invalid"),
    Row("payload deep nesting", interaction(DEEP), (400,), "slack.request.invalid"),
    Row("payload deep nesting inside", interaction('{"type":"block_actions","x":' + DEEP + "}"), (400,), "slack.request.invalid"),
    Row("payload unknown type", interaction({"type": "shortcut", "user": {"id": "U1"}}), (400,), "slack.request.invalid"),
    Row("user null", click(user=None), (400,), "slack.request.invalid"),
    Row("user a string", click(user="U0ALICE"), (400,), "slack.request.invalid"),
    Row("user id a number", click(user={"id": 42}), (400,), "slack.request.invalid"),
    Row("channel null", click(channel=None), (400,), "slack.request.invalid"),
    Row("channel a string", click(channel=CHANNEL), (400,), "slack.request.invalid"),
    Row("actions empty", click(actions=[]), (400,), "slack.request.invalid"),
    Row("action unknown", click(actions=[{"action_id": "launch.rockets", "value": "x"}]), (400,), "slack.request.invalid"),
    Row("action value a number", click(actions=[{"action_id": "aegis.verify", "value": 7}]), (400,), "slack.request.invalid"),
    Row("rev 1e400", click('{"incident":"INC-1","rev":1e400}'), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("rev negative", click('{"incident":"INC-1","rev":-1}'), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("rev a string", click('{"incident":"INC-1","rev":"0"}'), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("value not JSON", click("not json"), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("value a JSON list", click("[1]"), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("value deep nesting", click(DEEP[:1800]), (200,), "slack.action.invalid", ephemeral_refusal),
    Row("view without state", submission(view_state=None), (400,), "slack.request.invalid"),
    Row("view a string", submission(view="modal"), (400,), "slack.request.invalid"),
    Row("view state values a list", submission(view_state={"values": []}), (400,), "slack.request.invalid"),
    Row("view unknown callback", submission(view_callback_id="other.modal"), (400,), "slack.request.invalid"),
    Row("view metadata not JSON", submission(view_private_metadata="{nope"), (200,), "slack.payload.invalid", dialog_refusal),
    Row("view metadata rev 1e400", submission(view_private_metadata='{"incident":"INC-1","rev":1e400}'), (200,), "slack.payload.invalid", dialog_refusal),
    Row("slash command without user", signed(b"command=%2Faegis&text=help&channel_id=C1"), (400,), "slack.request.invalid"),
    Row("slash command not ours", signed(b"command=%2Flaunch&text=help&user_id=U1&channel_id=C1"), (400,), "slack.request.invalid"),
    # The Alertmanager webhook.
    Row("webhook gzip not gzip", to_webhook(json.dumps(alert()).encode(), extra={"Content-Encoding": "gzip"}), (400,), "http.request.invalid", nothing_posted),
    # A gzip header followed by garbage inflates to nothing without a zlib error: then the JSON is what is invalid.
    Row("webhook gzip broken", to_webhook(b"\x1f\x8b\x08\x00garbage", extra={"Content-Encoding": "gzip"}), (400,), "alert.webhook.invalid", nothing_posted),
    Row(
        "webhook gzip truncated",
        to_webhook(gzip.compress(json.dumps(alert()).encode())[:-30], extra={"Content-Encoding": "gzip"}),
        (400,),
        None,
        nothing_posted,
    ),
    Row("webhook gzip bomb", to_webhook(BOMB, extra={"Content-Encoding": "gzip"}), (413,), None, nothing_posted),
    Row("webhook not UTF-8", to_webhook(b'{"version": "4", "x": "\xff"}'), (400,), "alert.webhook.invalid", nothing_posted),
    Row("webhook deep nesting", to_webhook(DEEP.encode()), (400,), "alert.webhook.invalid", nothing_posted),
    Row(
        "webhook number 1e400",
        to_webhook(json.dumps(alert()).replace('"truncatedAlerts": 0', '"truncatedAlerts": 1e400').encode()),
        (400,),
        "alert.webhook.invalid",
    ),
    Row("webhook label not a string", to_webhook(json.dumps(alert(commonLabels={"namespace": 1})).encode()), (400,), "alert.webhook.invalid"),
    Row("webhook body a list", to_webhook(b"[]"), (400,), "alert.webhook.invalid"),
    Row("webhook too large", to_webhook(b"{" + b" " * (1024 * 1024 + 10) + b"}"), (413,), None),
    # Text longer than Slack allows: posted cut, never lost.
    Row("alert summary 10k characters", to_webhook(json.dumps(alert(summary="S" * 10_000)).encode()), (200, 202), None, thread_exists),
    Row("alert summary 2,995 characters", to_webhook(json.dumps(alert(summary="<&>" * 998)).encode()), (200, 202), None, thread_exists),
    Row("alerts truncated by max_alerts", to_webhook(json.dumps(alert(truncatedAlerts=7)).encode()), (200, 202), "alert.webhook.truncated", thread_exists),
    Row("alertname 5k characters", to_webhook(json.dumps(alert(alertname="A" * 5000)).encode()), (200, 202), None, thread_exists),
    Row(
        "annotations huge, no target",
        to_webhook(
            json.dumps(
                alert(commonLabels={"alertname": "Disk"}, commonAnnotations={f"a{i}": "x" * 2000 for i in range(30)})
                | {"alerts": [{"status": "firing", "labels": {"alertname": "Disk"}, "fingerprint": "f1"}]}
            ).encode()
        ),
        (200, 202),
        None,
        thread_exists,
    ),
    Row(
        "severity 5k characters",
        to_webhook(json.dumps(alert(commonLabels={"alertname": "X", "namespace": "shop", "severity": "s" * 5000})).encode()),
        (200, 202),
        None,
        thread_exists,
    ),
    Row("summary with NUL and emoji", to_webhook(json.dumps(alert(summary="\u0000🔥" * 2000)).encode()), (200, 202), None, thread_exists),
    # Malformed HTTP: aiohttp answers 400; its log is one JSON warning, no traceback.
    Row("header 64 KB", raw(request("/slack/events", b"X-Big: " + b"a" * 65536 + b"\r\n")), (400,), "http.request.malformed"),
    Row("Content-Length not a number", raw(request("/alertmanager/webhook", b"Content-Length: abc\r\n", b"{}")), (400,), "http.request.malformed"),
    Row("Content-Length twice", raw(request("/alertmanager/webhook", b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}")), (400,), "http.request.malformed"),
    Row("chunk size not hex", raw(request("/alertmanager/webhook", b"Transfer-Encoding: chunked\r\n", b"zz\r\nab\r\n0\r\n\r\n")), (400,), None),
    Row("HTTP/2 preface", raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), (400,), "http.request.malformed"),
    Row("garbage request line", raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), (400,), None),
    Row(
        "hang-up mid-body, Slack",
        raw(request("/slack/events", fresh_slack_headers(1000), b"command=/aegis"), hang_up=True),
        (None,),
        "http.client.disconnected",
    ),
    Row(
        "hang-up mid-body, webhook",
        raw(request("/alertmanager/webhook", f"Authorization: Bearer {ALERT_TOKEN}\r\nContent-Length: 1000\r\n".encode(), b'{"v'), hang_up=True),
        (None,),
        "http.client.disconnected",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_malformed_input(bot: Bot, row: Row, capfd: pytest.CaptureFixture[str]) -> None:
    """The row's status within 3 s, its reason logged once as JSON, nothing at ERROR, no traceback, and the bot still answers."""
    started = time.perf_counter()
    answer = await row.send(bot)
    seconds = time.perf_counter() - started
    if row.event is not None:
        await _logged(bot, row.event)
    if row.check is not None:
        await row.check(bot, answer)
    await bot.settle()
    stderr = capfd.readouterr().err
    tracebacks = bot.log.getvalue().count("Traceback") + stderr.count("Traceback")
    RESULTS.append(Outcome(row.id, answer.status, seconds, tracebacks))

    assert answer.status in row.status, answer.body[:300]
    assert seconds < ANSWER_WITHIN
    events = bot.events  # every line is JSON
    assert not [e for e in events if e["level"] in ("error", "critical")], [e for e in events if e["level"] in ("error", "critical")]
    assert tracebacks == 0, stderr or bot.log.getvalue()
    help_body = slash_body("help", user="U0STILL")  # not the row's body: the same body and second would be a replay
    still = await bot.http.post("/slack/events", content=help_body, headers=sign(help_body, now()))
    assert still.status_code == 200 and "/aegis analyze" in still.json()["text"]


async def _logged(bot: Bot, event: str) -> None:
    """The event that names the reason, logged once (polled: a hang-up is noticed after the client left)."""
    deadline = time.monotonic() + ANSWER_WITHIN
    while not [e for e in bot.events if e["event"] == event]:
        assert time.monotonic() < deadline, f"no {event} in {bot.events}"
        await asyncio.sleep(0.02)
    named = [e for e in bot.events if e["event"] == event]
    assert len(named) == 1 and (named[0].get("reason") or named[0].get("error")), named


async def test_access_log_is_structured(bot: Bot) -> None:
    """aiohttp's access log is one JSON event per request, with method, path, status and duration, never the query string."""
    response = await bot.http.post("/alertmanager/webhook?token=secret-in-url", content=b"{}")
    assert response.status_code == 401
    (line,) = [e for e in bot.events if e["event"] == "http.request.complete"]
    assert line["method"] == "POST" and line["path"] == "/alertmanager/webhook" and line["status"] == 401 and line["duration_ms"] >= 0
    assert "secret-in-url" not in bot.log.getvalue()


async def test_long_alert_text_posts_its_thread_on_the_first_notification(bot: Bot) -> None:
    """A summary and alertname far past Slack's section limit: the parent is posted cut, with the pointer, and the incident diagnosed."""
    payload = alert(summary="crash looping " * 800, alertname="KubePodCrashLooping" + "X" * 4000)
    response = await bot.http.post(
        "/alertmanager/webhook", content=json.dumps(payload).encode(), headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_TOKEN}"}
    )
    assert response.status_code in (200, 202)
    await bot.settle()
    incident = await bot.store.find_by_group("aegis", WORKLOAD)
    assert incident is not None and incident.thread_ts and incident.last_error is None
    parent = bot.standin.recorder.message(CHANNEL, incident.thread_ts)
    shown = json.dumps(parent.updates[-1] if parent.updates else parent.blocks, ensure_ascii=False)
    assert "cut to fit Slack" in shown
    assert incident.state is IncidentState.DIAGNOSED
    assert not [r for r in bot.standin.recorder.requests if r.error], [r.error for r in bot.standin.recorder.requests if r.error]


async def test_alert_is_answered_within_3s_while_slack_rate_limits(bot: Bot) -> None:
    """Slack answering 429 with Retry-After 3 to the first post: the webhook still answers within 3 s (202), and the thread lands after."""
    bot.standin.fail_next("chat.postMessage", kind="429", retry_after=3)
    payload = alert()
    started = time.perf_counter()
    response = await bot.http.post(
        "/alertmanager/webhook", content=json.dumps(payload).encode(), headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALERT_TOKEN}"}
    )
    assert time.perf_counter() - started < ANSWER_WITHIN and response.status_code == 202, response.text
    await thread_exists(bot, Answer(response.status_code, response.content))
    assert not [e for e in bot.events if e["level"] == "error"]
