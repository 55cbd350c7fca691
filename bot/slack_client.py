"""The only code that calls Slack's Web API: the `ChatClient` seam and its slack_sdk implementation.

Everything the bot says in Slack goes through `ChatClient`. `SlackChatClient` paces posts and
edits to at most about one a second per channel (callers queue in order; nothing is dropped),
lets slack_sdk's retry handlers absorb 429s (honouring `Retry-After`), 5xx and dropped
connections, and turns a call that still fails into a `ChatError` carrying Slack's error code,
after one `slack.api.failed` log event. Message bodies and tokens are never logged.
`aegis.bot.demo.memory_chat.MemoryChatClient` is the in-memory twin for unit tests of other modules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from aegis.core.errors import AegisError

SLACK_API_URL = "https://slack.com/api/"

SLACK_API_CALLS = Counter(
    "aegis_slack_api_calls_total",
    "Slack Web API calls by method and final outcome (after retries): ok, api_error, ratelimited, server_error, connection_error.",
    ["method", "outcome"],
)

Blocks = Sequence[Mapping[str, Any]]
"""Block Kit blocks as JSON objects (renderers serialize slack_sdk models with `to_dict()`)."""

_log = structlog.get_logger("aegis.bot.slack_client")

# slack_sdk logs whole request and response bodies at DEBUG; its logger here never goes below WARNING.
_sdk_logger = logging.getLogger("aegis.bot.slack_client.sdk")
_sdk_logger.setLevel(logging.WARNING)

_HINTS = {
    "not_authed": "set SLACK_BOT_TOKEN to the app's bot token (xoxb-…)",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid for this workspace; copy the bot token again from the app's OAuth page",
    "token_revoked": "the app was uninstalled or its token revoked; reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the app was uninstalled or its token revoked; reinstall the app and update SLACK_BOT_TOKEN",
    "channel_not_found": "check the channel id and invite the bot to the channel (/invite @AEGIS)",
    "not_in_channel": "invite the bot to the channel (/invite @AEGIS)",
    "is_archived": "the channel is archived; point AEGIS_SLACK_CHANNEL at a live channel",
    "missing_scope": "add the missing scope to manifest.yaml and reinstall the app",
    "invalid_blocks": "a message broke a Block Kit limit; the renderer should have truncated it (this is a bug)",
    "msg_too_long": "a message's text is over 40,000 characters; the renderer should have truncated it (this is a bug)",
    "expired_trigger_id": "the click is more than 3 seconds old; ask the person to click again",
    "ratelimited": "Slack kept rate-limiting after the retries; the call may be repeated later",
}


class MessageRef(BaseModel):
    """Where a message lives: its channel id and timestamp (the message's id in Slack)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    ts: str


class ChatError(AegisError):
    """A Slack Web API call failed after retries. `error` is Slack's code (`invalid_blocks`, …).

    Transient failures (rate limits, 5xx, lost connections) may be retried by the caller later;
    the others will fail the same way again. The caller decides whether the incident records it.
    """

    def __init__(self, method: str, error: str, *, status: int | None = None, detail: Sequence[str] = (), transient: bool = False) -> None:
        hint = _HINTS.get(error)
        super().__init__(f"Slack {method} failed: {error}" + (f" ({'; '.join(detail)})" if detail else "") + (f"; {hint}" if hint else ""))
        self.method = method
        self.error = error
        self.status = status
        self.detail = tuple(detail)
        self.transient = transient


class ChatClient(Protocol):
    """What the bot needs from Slack. One implementation talks to Slack, one fake records calls."""

    async def post_message(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None, *, urgent: bool = True) -> MessageRef:
        """Post a message (a thread reply when `thread_ts` is given); `text` is the notification fallback.

        `urgent=False` (a note that more alerts joined) lets the posts someone waits for (a new thread, a diagnosis) go first."""
        ...

    async def update_message(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        """Replace a message's text and blocks in place (no blocks: the message becomes plain text)."""
        ...

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None) -> None:
        """Show a message only to `user` in `channel` (refusals, usage errors), in the thread `thread_ts` when given."""
        ...

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        """Open a modal for a click or command (within 3 s of it); returns the view id."""
        ...

    async def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str, initial_comment: str | None = None) -> str:
        """Share `content` as a file in the channel (in the thread when `thread_ts` is given); returns the file id."""
        ...

    async def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        """User ids in a user group (`S…`), cached for a while."""
        ...

    async def user_email(self, user_id: str) -> str | None:
        """The email on a user's Slack profile (users.info; scope users:read.email), or None when it shows none."""
        ...

    async def auth_test(self) -> dict[str, Any]:
        """Who the token belongs to (team, bot user id); fails with `invalid_auth` on a bad token."""
        ...

    async def aclose(self) -> None:
        """Release connections; call once at shutdown."""
        ...


class Pacer(Protocol):
    async def wait_turn(self, channel: str, *, urgent: bool = True) -> None:
        """Return when the caller may post to `channel`; one that is not urgent waits until no urgent post is queued here."""
        ...


def edits_of(channel: str) -> str:
    """The pace key of a channel's edits: Slack limits chat.postMessage per channel, chat.update separately,
    so edits (a parent refreshed, buttons removed) keep their own pace and never delay a post."""
    return f"{channel}#edits"


class _UrgentFirst:
    """In this process, a post that can wait yields while posts someone is waiting for are queued for the same channel."""

    def __init__(self) -> None:
        self._queued: dict[str, int] = {}
        self._drained: dict[str, asyncio.Event] = {}

    async def wait_for_urgent(self, channel: str) -> None:
        while (drained := self._drained.get(channel)) is not None:
            await drained.wait()

    def queued(self, channel: str, delta: int) -> None:
        count = self._queued.get(channel, 0) + delta
        if count > 0:
            self._queued[channel] = count
            self._drained.setdefault(channel, asyncio.Event())
        else:
            self._queued.pop(channel, None)
            drained = self._drained.pop(channel, None)
            if drained is not None:
                drained.set()


class SharedPacer:
    """The pace shared by every replica on one store: each turn is a slot reserved in the database
    (IncidentStore.reserve_slot), so two replicas together still post about once a second per channel."""

    # Slack allows about one post a second per channel; a little more than a second apart keeps any 10 s
    # window at 10 posts or fewer even when one post of a pair is sent late.
    def __init__(self, store: SlotStore, interval: float = 1.1) -> None:
        self._store = store
        self.interval = interval
        self._urgent = _UrgentFirst()

    async def wait_turn(self, channel: str, *, urgent: bool = True) -> None:
        if not urgent:
            await self._urgent.wait_for_urgent(channel)
        else:
            self._urgent.queued(channel, 1)
        try:
            try:
                wait = await self._store.reserve_slot(channel, self.interval)
            except AegisError as exc:
                # The store is down: post anyway rather than lose the message; Slack's own 429s still pace us.
                _log.warning("slack.pace.unavailable", error=str(exc))
                return
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            if urgent:
                self._urgent.queued(channel, -1)


class SlotStore(Protocol):
    async def reserve_slot(self, channel: str, interval: float) -> float: ...


class ChannelPacer:
    """At most one turn per `interval` seconds per channel in this process; waiting callers go in arrival order.

    Each caller reserves the next free slot at once (no await between read and write), so
    concurrent callers queue without a lock and none is skipped. A cancelled waiter's slot is
    simply left unused.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._urgent = _UrgentFirst()

    async def wait_turn(self, channel: str, *, urgent: bool = True) -> None:
        if not urgent:
            await self._urgent.wait_for_urgent(channel)
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next.get(channel, now))
        self._next[channel] = slot + self.interval
        if len(self._next) > 1024:
            self._next = {c: t for c, t in self._next.items() if t > now}
        if slot > now:
            if urgent:
                self._urgent.queued(channel, 1)
            try:
                await asyncio.sleep(slot - now)
            finally:
                if urgent:
                    self._urgent.queued(channel, -1)


class _LoggedRetry(AsyncRetryHandler):
    """Wraps one of slack_sdk's retry handlers to log each retry it decides on."""

    def __init__(self, inner: AsyncRetryHandler, reason: str) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self._inner = inner
        self._reason = reason

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return await self._inner.can_retry_async(state=state, request=request, response=response, error=error)

    async def prepare_for_next_attempt_async(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None, error: Exception | None = None
    ) -> None:
        _log.info(
            "slack.api.retry",
            method=request.url.rsplit("/", 1)[-1],
            reason=self._reason,
            status=response.status_code if response is not None else None,
            attempt=state.current_attempt + 1,
        )
        await self._inner.prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)


def default_retry_handlers() -> list[AsyncRetryHandler]:
    """429 honouring Retry-After (3 times), 500/503 and dropped connections (2 times each, backing off)."""
    return [
        _LoggedRetry(AsyncRateLimitErrorRetryHandler(max_retry_count=3), "ratelimited"),
        _LoggedRetry(AsyncServerErrorRetryHandler(max_retry_count=2), "server_error"),
        _LoggedRetry(AsyncConnectionErrorRetryHandler(max_retry_count=2), "connection_error"),
    ]


class SlackChatClient:
    """`ChatClient` over slack_sdk's AsyncWebClient, with per-channel pacing and retries.

    `base_url` is the Web API root (Slack, GovSlack's `https://slack-gov.com/api/`, a proxy, or the
    tests' stand-in). The HTTP session is opened on first use; `aclose()` releases it.
    """

    def __init__(
        self,
        token: str,
        base_url: str = SLACK_API_URL,
        *,
        per_channel_interval: float = 1.0,
        usergroup_ttl: float = 300.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        pacer: Pacer | None = None,
    ) -> None:
        self._token = token
        self._base_url = base_url
        self._timeout = timeout
        # Several replicas pass a SharedPacer; one process alone paces itself.
        self._pacer: Pacer = pacer or ChannelPacer(per_channel_interval)
        self._usergroup_ttl = usergroup_ttl
        self._clock = clock
        self._usergroups: dict[str, tuple[float, frozenset[str]]] = {}
        self._usergroup_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._web: AsyncWebClient | None = None

    async def __aenter__(self) -> SlackChatClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._web = None

    def _client(self) -> AsyncWebClient:
        if self._web is None or self._session is None or self._session.closed:
            # trust_env: aiohttp applies HTTPS_PROXY and NO_PROXY; slack_sdk's own proxy lookup ignores NO_PROXY, so it is off.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout), trust_env=True)
            self._web = AsyncWebClient(
                token=self._token,
                base_url=self._base_url,
                session=self._session,
                timeout=int(self._timeout),
                logger=_sdk_logger,
                retry_handlers=default_retry_handlers(),
            )
            self._web.proxy = None
        return self._web

    async def _call(self, method: str, call: Callable[[AsyncWebClient], Awaitable[AsyncSlackResponse]]) -> AsyncSlackResponse:
        """Run one Web API call; count it; turn a final failure into a logged ChatError."""
        try:
            response = await call(self._client())
        except SlackApiError as exc:
            status = int(exc.response.status_code)
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"http_{status}")
            metadata = data.get("response_metadata")
            detail = [str(m) for m in metadata.get("messages", [])][:5] if isinstance(metadata, dict) else []
            outcome = "ratelimited" if status == 429 else "server_error" if status >= 500 else "api_error"
            raise self._failed(method, error, outcome, status=status, detail=detail, transient=outcome != "api_error") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
            raise self._failed(method, error, "connection_error", detail=[type(exc).__name__], transient=True) from exc
        except SlackClientError as exc:
            raise self._failed(method, "request_error", "api_error", detail=[type(exc).__name__], transient=False) from exc
        SLACK_API_CALLS.labels(method=method, outcome="ok").inc()
        return response

    def _failed(self, method: str, error: str, outcome: str, *, status: int | None = None, detail: Sequence[str] = (), transient: bool) -> ChatError:
        SLACK_API_CALLS.labels(method=method, outcome=outcome).inc()
        _log.error("slack.api.failed", method=method, error=error, status=status, detail=list(detail) or None, transient=transient)
        return ChatError(method, error, status=status, detail=detail, transient=transient)

    async def post_message(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None, *, urgent: bool = True) -> MessageRef:
        await self._pacer.wait_turn(channel, urgent=urgent)
        response = await self._call(
            "chat.postMessage",
            lambda web: web.chat_postMessage(channel=channel, text=text, blocks=_blocks(blocks), thread_ts=thread_ts),
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    async def update_message(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        await self._pacer.wait_turn(edits_of(channel))
        response = await self._call(
            "chat.update",
            lambda web: web.chat_update(channel=channel, ts=ts, text=text, blocks=_blocks(blocks) if blocks is not None else []),
        )
        return MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None) -> None:
        # Not paced: ephemeral replies answer one person now and do not count against the channel's posts.
        await self._call(
            "chat.postEphemeral",
            lambda web: web.chat_postEphemeral(channel=channel, user=user, text=text, blocks=_blocks(blocks), thread_ts=thread_ts),
        )

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        response = await self._call("views.open", lambda web: web.views_open(trigger_id=trigger_id, view=dict(view)))
        opened = response.get("view")
        return str(opened.get("id", "")) if isinstance(opened, dict) else ""

    async def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str, initial_comment: str | None = None) -> str:
        issued = await self._call(
            "files.getUploadURLExternal",
            lambda web: web.files_getUploadURLExternal(filename=filename, length=len(content)),
        )
        file_id = str(issued["file_id"])
        await self._put_bytes(str(issued["upload_url"]), content)
        # Completing shares the file as a message in the channel, so it takes a turn like a post.
        await self._pacer.wait_turn(channel)
        await self._call(
            "files.completeUploadExternal",
            lambda web: web.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}], channel_id=channel, thread_ts=thread_ts, initial_comment=initial_comment
            ),
        )
        return file_id

    async def _put_bytes(self, url: str, content: bytes, attempts: int = 3) -> None:
        """POST the file's bytes to the upload URL Slack issued (no token: the URL is the credential)."""
        self._client()
        assert self._session is not None
        method = "files.upload_url"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self._session.post(url, data=content) as response:
                    await response.read()
                    if response.status == 200:
                        SLACK_API_CALLS.labels(method=method, outcome="ok").inc()
                        return
                    if response.status < 500 and response.status != 429:
                        raise self._failed(method, f"http_{response.status}", "api_error", status=response.status, transient=False)
                    if last:
                        outcome = "ratelimited" if response.status == 429 else "server_error"
                        raise self._failed(method, f"http_{response.status}", outcome, status=response.status, transient=True)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise self._failed(method, "connection_error", "connection_error", detail=[type(exc).__name__], transient=True) from exc
            _log.info("slack.api.retry", method=method, reason="upload", attempt=attempt + 1)
            await asyncio.sleep(0.5 * 2**attempt)

    async def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        cached = self._usergroups.get(usergroup_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        async with self._usergroup_lock:
            cached = self._usergroups.get(usergroup_id)
            if cached is not None and cached[0] > self._clock():
                return cached[1]
            response = await self._call("usergroups.users.list", lambda web: web.usergroups_users_list(usergroup=usergroup_id))
            members = frozenset(str(user) for user in response.get("users") or [])
            self._usergroups[usergroup_id] = (self._clock() + self._usergroup_ttl, members)
            return members

    async def user_email(self, user_id: str) -> str | None:
        response = await self._call("users.info", lambda web: web.users_info(user=user_id))
        profile = (response.get("user") or {}).get("profile") or {}
        email = profile.get("email")
        return str(email) if email else None

    async def auth_test(self) -> dict[str, Any]:
        response = await self._call("auth.test", lambda web: web.auth_test())
        return dict(response.data) if isinstance(response.data, dict) else {}


def _blocks(blocks: Blocks | None) -> list[dict[str, Any]] | None:
    return None if blocks is None else [dict(block) for block in blocks]


if TYPE_CHECKING:
    _implements: type[ChatClient] = SlackChatClient
