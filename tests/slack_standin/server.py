"""The Slack Web API stand-in: an aiohttp app on loopback that answers the methods AEGIS uses like Slack.

It checks the bot token (`not_authed`, `invalid_auth`), accepts form- and JSON-encoded bodies,
enforces Block Kit limits (`invalid_blocks`, `msg_too_long`), paces posts per channel with a token
bucket (HTTP 429, `Retry-After`, `ratelimited`), keeps messages per channel with increasing ts,
serves the external file upload pair with an upload URL on itself, and can be told to fail the next
calls of a method (500, 503, 429, connection reset). Everything it receives is in `recorder`.
Socket Mode (apps.connections.open and the websocket) is `socket_mode`, a SocketModeHub.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from aiohttp import web

from tests.slack_standin.limits import MAX_VIEW_BLOCKS, check_blocks, check_message, parse_blocks
from tests.slack_standin.socket_mode import DEFAULT_APP_TOKEN, SOCKET_MODE_PATH, SocketModeHub

DEFAULT_TOKEN = "xoxb-0000000000-aegis-standin-token"
BOT_USER_ID = "U0AEGISBOT"
BOT_ID = "B0AEGISBOT"
TEAM_ID = "T0AEGIS"

FaultKind = Literal["500", "503", "429", "reset"]
Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: the API method (or "upload"), its parsed body (no token), headers (token redacted)."""

    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int  # 0 when the connection was reset instead of answered
    error: str | None  # Slack's error code in the answer; None when ok
    ts: str | None = None  # the message a chat.postMessage created (or chat.update changed)

    @property
    def sent_token(self) -> bool:
        """Whether the request carried an Authorization header (its value is never recorded)."""
        return "authorization" in (k.lower() for k in self.headers)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    files: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # each chat.update's text/blocks, in order


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1


class Recorder:
    """What the stand-in received and what it now holds: requests, messages, ephemerals, views, files."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.channels: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.files: dict[str, UploadedFile] = {}

    def of(self, method: str) -> list[RecordedRequest]:
        """Requests for one API method (`"upload"` for the upload URL POSTs), in arrival order."""
        return [r for r in self.requests if r.method == method]

    def messages(self, channel: str) -> list[Message]:
        """Every message in the channel, parents and replies, in posting order."""
        return list(self.channels.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under parent `ts`, in posting order (the parent itself excluded)."""
        return [m for m in self.channels.get(channel, []) if m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Message:
        return next(m for m in self.channels.get(channel, []) if m.ts == ts)

    def updates_of(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The text/blocks of each accepted chat.update of one message, in order."""
        return list(self.message(channel, ts).updates)


class SlackStandIn:
    """Configure by attribute (`channels`, `usergroups`, `rate_per_second`, `burst`), start with `serve()`.

    `channels=None` accepts any channel id; a set makes every other channel `channel_not_found`.
    `rate_per_second=None` turns pacing off. Posts, updates and file shares count against the
    channel's bucket, which holds `burst` posts and refills at `rate_per_second` (Slack: about one a
    second, short bursts allowed).
    """

    paced_methods = frozenset({"chat.postMessage", "chat.update", "files.completeUploadExternal"})

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        channels: Iterable[str] | None = None,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        rate_per_second: float | None = 1.0,
        burst: int = 3,
    ) -> None:
        self.token = token
        self.channels: set[str] | None = set(channels) if channels is not None else None
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.emails: dict[str, str] = {}  # user id -> the email users.info shows
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.expired_trigger_ids: set[str] = set()
        self.recorder = Recorder()
        self.socket_mode = SocketModeHub(app_token)  # apps.connections.open and the websocket
        self.url = ""  # e.g. "http://127.0.0.1:43121/api/" once serving
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._clock = 1_700_000_000_000_000  # microseconds; the first ts is "1700000000.000100"
        self._methods: dict[str, Callable[[dict[str, Any], web.Request], Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._users_info,
        }

    # ---- configuration and lifecycle

    def clear_faults(self) -> None:
        """Slack answers normally again: faults not yet served are dropped."""
        self._faults.clear()

    def fail_next(self, method: str, times: int = 1, *, kind: FaultKind = "500", retry_after: int = 1) -> None:
        """The next `times` requests for `method` (or "upload") fail with `kind` before any other check."""
        self._faults[method].extend(Fault(kind, retry_after) for _ in range(times))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get(SOCKET_MODE_PATH, self.socket_mode.websocket)
        return app

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[SlackStandIn]:
        """Serve on 127.0.0.1 on a free port for the duration of the block; `url` is the API base URL."""
        runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}/api/"
            self.socket_mode.base = f"ws://{host}:{port}"
            yield self
        finally:
            await self.socket_mode.close()
            await runner.cleanup()

    # ---- HTTP plumbing

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        arrived = time.monotonic()
        headers = _headers(request)
        try:
            body = await _parse_body(request)
        except ValueError:
            return self._answer(method, {}, headers, arrived, (200, _error("invalid_json")))
        token = _bearer(request.headers.get("Authorization")) or body.pop("token", None)
        fault = self._faults[method].popleft() if self._faults[method] else None
        if fault is not None:
            return self._fault(request, method, body, headers, arrived, fault)
        if not token:
            answer: Answer = (200, _error("not_authed"))
        elif method == "apps.connections.open":  # the one method that takes the app-level token
            answer = self.socket_mode.open(token)
        elif token != self.token:
            answer = (200, _error("invalid_auth"))
        elif method not in self._methods:
            answer = (200, _error("unknown_method"))
        else:
            wait = self._take_turn(method, body, arrived)
            answer = self._methods[method](body, request) if wait is None else (429, {**_error("ratelimited"), "_retry_after": wait})
        return self._answer(method, body, headers, arrived, answer)

    def _answer(self, method: str, body: dict[str, Any], headers: dict[str, str], arrived: float, answer: Answer) -> web.Response:
        status, payload = answer
        retry_after = payload.pop("_retry_after", None)
        ts = payload.get("ts") if method.startswith("chat.") else None
        self.recorder.requests.append(RecordedRequest(method, body, headers, arrived, status, payload.get("error"), ts))
        return web.json_response(payload, status=status, headers={"Retry-After": str(retry_after)} if retry_after is not None else None)

    def _fault(self, request: web.Request, method: str, body: dict[str, Any], headers: dict[str, str], arrived: float, fault: Fault) -> web.Response:
        if fault.kind == "reset":
            self.recorder.requests.append(RecordedRequest(method, body, headers, arrived, 0, "connection_reset"))
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable  # never sent: the connection is gone
        if fault.kind == "429":
            return self._answer(method, body, headers, arrived, (429, {**_error("ratelimited"), "_retry_after": fault.retry_after}))
        return self._answer(method, body, headers, arrived, (int(fault.kind), _error("internal_error")))

    def _take_turn(self, method: str, body: dict[str, Any], now: float) -> int | None:
        """Token bucket per channel; None when the post may go, else the seconds to wait (Retry-After)."""
        channel = body.get("channel") or body.get("channel_id")
        if self.rate_per_second is None or method not in self.paced_methods or not isinstance(channel, str):
            return None
        # Posts are limited per channel; edits have their own limit (a separate tier in Slack), so their own bucket.
        bucket = f"{channel}#edits" if method == "chat.update" else channel
        tokens, last = self._buckets.get(bucket, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_second)
        if tokens >= 1.0:
            self._buckets[bucket] = (tokens - 1.0, now)
            return None
        self._buckets[bucket] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate_per_second))

    def _next_ts(self) -> str:
        self._clock += 100
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    def _known_channel(self, channel: Any) -> TypeGuard[str]:
        return isinstance(channel, str) and bool(channel) and (self.channels is None or channel in self.channels)

    # ---- methods

    def _auth_test(self, body: dict[str, Any], request: web.Request) -> Answer:
        return 200, {"ok": True, "url": "https://aegis-standin.slack.com/", "team": "AEGIS stand-in", "user": "aegis",
                     "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}  # fmt: skip

    def _post_message(self, body: dict[str, Any], request: web.Request) -> Answer:
        channel = body.get("channel")
        if not self._known_channel(channel):
            return 200, _error("channel_not_found")
        text, raw_blocks = body.get("text") or "", body.get("blocks")
        if not text and not raw_blocks:
            return 200, _error("no_text")
        problem = check_message(text, raw_blocks)
        if problem is not None:
            return 200, _error(*problem)
        blocks = parse_blocks(raw_blocks)[0] if raw_blocks is not None else None
        message = Message(channel, self._next_ts(), text, blocks, body.get("thread_ts") or None)
        self.recorder.channels[channel].append(message)
        return 200, {"ok": True, "channel": channel, "ts": message.ts, "message": _message_json(message)}

    def _update(self, body: dict[str, Any], request: web.Request) -> Answer:
        channel, ts = body.get("channel"), body.get("ts")
        if not self._known_channel(channel):
            return 200, _error("channel_not_found")
        message = next((m for m in self.recorder.channels.get(channel, []) if m.ts == ts), None)
        if message is None:
            return 200, _error("message_not_found")
        text, raw_blocks = body.get("text"), body.get("blocks")
        problem = check_message(text, raw_blocks)
        if problem is not None:
            return 200, _error(*problem)
        if text is not None:
            message.text = text
        if raw_blocks is not None:  # absent keeps the blocks; an empty list removes them, as in Slack
            message.blocks = parse_blocks(raw_blocks)[0] or None
        message.updates.append({"text": text, "blocks": message.blocks})
        return 200, {"ok": True, "channel": channel, "ts": ts, "text": message.text, "message": _message_json(message)}

    def _post_ephemeral(self, body: dict[str, Any], request: web.Request) -> Answer:
        channel, user = body.get("channel"), body.get("user")
        if not self._known_channel(channel):
            return 200, _error("channel_not_found")
        if not user:
            return 200, _error("user_not_found")
        text, raw_blocks = body.get("text") or "", body.get("blocks")
        if not text and not raw_blocks:
            return 200, _error("no_text")
        problem = check_message(text, raw_blocks)
        if problem is not None:
            return 200, _error(*problem)
        ts = self._next_ts()
        blocks = parse_blocks(raw_blocks)[0] if raw_blocks is not None else None
        thread_ts = body.get("thread_ts") or None
        self.recorder.ephemerals.append({"channel": channel, "user": user, "text": text, "blocks": blocks, "ts": ts, "thread_ts": thread_ts})
        return 200, {"ok": True, "message_ts": ts}

    def _views_open(self, body: dict[str, Any], request: web.Request) -> Answer:
        trigger_id, view = body.get("trigger_id"), body.get("view")
        if not trigger_id:
            return 200, _error("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if trigger_id in self.expired_trigger_ids:
            return 200, _error("expired_trigger_id")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                view = None
        if not isinstance(view, dict) or view.get("type") != "modal":
            return 200, _error("invalid_arguments", ["[ERROR] must be a modal view object [json-pointer:/view]"])
        blocks, problem = parse_blocks(view.get("blocks", []))
        errors = problem[1] if problem else check_blocks(blocks or [], max_blocks=MAX_VIEW_BLOCKS, where="/view/blocks")
        title = view.get("title")
        if not isinstance(title, dict) or not isinstance(title.get("text"), str) or len(title["text"]) > 24:
            errors.append("[ERROR] must be a plain_text object of at most 24 characters [json-pointer:/view/title]")
        if errors:
            return 200, _error("invalid_arguments", errors)
        opened = {**view, "id": f"V{len(self.recorder.views) + 1:09d}", "team_id": TEAM_ID}
        self.recorder.views.append(opened)
        return 200, {"ok": True, "view": opened}

    def _get_upload_url(self, body: dict[str, Any], request: web.Request) -> Answer:
        filename, length = body.get("filename"), body.get("length")
        try:
            size = int(length) if length is not None else -1
        except ValueError:
            size = -1
        if not filename or size < 0:
            return 200, _error("invalid_arguments", ["[ERROR] filename and length are required"])
        file_id = f"F{len(self.recorder.files) + 1:09d}"
        self.recorder.files[file_id] = UploadedFile(file_id, str(filename), size)
        return 200, {"ok": True, "upload_url": f"{request.url.origin()}/upload/v1/{file_id}", "file_id": file_id}

    def _complete_upload(self, body: dict[str, Any], request: web.Request) -> Answer:
        files = body.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                files = None
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and "id" in f for f in files):
            return 200, _error("invalid_arguments", ["[ERROR] files must be a JSON array of {id, title}"])
        uploaded = [self.recorder.files.get(str(f["id"])) for f in files]
        if any(u is None or u.content is None for u in uploaded):
            return 200, _error("file_not_found")
        channel = body.get("channel_id") or None
        if channel is not None and not self._known_channel(channel):
            return 200, _error("channel_not_found")
        thread_ts = body.get("thread_ts") or None
        shared: list[dict[str, Any]] = []
        for spec, item in zip(files, uploaded, strict=True):
            assert item is not None
            item.title = str(spec.get("title") or item.filename)
            item.channel, item.thread_ts, item.initial_comment = channel, thread_ts, body.get("initial_comment")
            shared.append({"id": item.id, "name": item.filename, "title": item.title, "size": item.length})
        if channel is not None:
            message = Message(channel, self._next_ts(), body.get("initial_comment") or "", None, thread_ts, files=[f["id"] for f in shared])
            self.recorder.channels[channel].append(message)
        return 200, {"ok": True, "files": shared}

    def _users_info(self, body: dict[str, Any], request: web.Request) -> Answer:
        """users.info: the profile's email only for users given one in `emails` (as Slack shows it with users:read.email)."""
        user = str(body.get("user") or "")
        if not user:
            return 200, _error("user_not_found")
        profile = {"email": self.emails[user]} if user in self.emails else {}
        return 200, {"ok": True, "user": {"id": user, "name": user.lower(), "profile": profile}}

    def _usergroup_users(self, body: dict[str, Any], request: web.Request) -> Answer:
        group = body.get("usergroup")
        if group not in self.usergroups:
            return 200, _error("no_such_subteam")
        return 200, {"ok": True, "users": list(self.usergroups[group])}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """The upload URL: takes the file's bytes (raw body or a multipart `file` field)."""
        file_id = request.match_info["file_id"]
        arrived = time.monotonic()
        headers = _headers(request)
        fault = self._faults["upload"].popleft() if self._faults["upload"] else None
        if fault is not None:
            return self._fault(request, "upload", {"file_id": file_id}, headers, arrived, fault)
        content = await request.read()
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            content = part.file.read() if isinstance(part, web.FileField) else str(part or "").encode()
        item = self.recorder.files.get(file_id)
        self.recorder.requests.append(RecordedRequest("upload", {"file_id": file_id, "length": len(content)}, headers, arrived,
                                                      200 if item else 404, None if item else "file_not_found"))  # fmt: skip
        if item is None:
            return web.Response(status=404, text="file not found")
        item.content = content
        return web.Response(text=f"OK - {len(content)}")


async def _parse_body(request: web.Request) -> dict[str, Any]:
    """Query string plus the form- or JSON-encoded body, as Slack reads them."""
    body: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            parsed = await request.json()
            if not isinstance(parsed, dict):
                raise ValueError("JSON body is not an object")
            body.update(parsed)
        else:
            form = await request.post()
            body.update({k: v for k, v in form.items() if isinstance(v, str)})
    return body


def _headers(request: web.Request) -> dict[str, str]:
    """The request's headers with the token replaced by a marker."""
    return {k: "(redacted)" if k.lower() == "authorization" else v for k, v in request.headers.items()}


def _bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    return None


def _error(code: str, messages: list[str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        payload["response_metadata"] = {"messages": messages}
    return payload


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "message", "user": message.user, "bot_id": BOT_ID, "text": message.text, "ts": message.ts}
    if message.blocks is not None:
        out["blocks"] = message.blocks
    if message.thread_ts is not None:
        out["thread_ts"] = message.thread_ts
    return out
