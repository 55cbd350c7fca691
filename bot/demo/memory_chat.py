"""MemoryChatClient: the `ChatClient` seam in memory, for fast unit tests of modules that talk to Slack.

It records every call, keeps messages per channel with increasing Slack-style timestamps, edits
them in place, and can be told to fail the next calls of a method with a `ChatError`. It does not
check Block Kit limits or pace posts: tests that need Slack's behaviour use the HTTP stand-in in
`tests/slack_standin/` with the real `SlackChatClient`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aegis.bot.slack_client import Blocks, ChatClient, ChatError, MessageRef

_METHODS = {
    "post_message": "chat.postMessage",
    "update_message": "chat.update",
    "post_ephemeral": "chat.postEphemeral",
    "open_view": "views.open",
    "upload_file": "files.completeUploadExternal",
    "usergroup_members": "usergroups.users.list",
    "auth_test": "auth.test",
    "user_email": "users.info",
}


@dataclass(frozen=True)
class ChatCall:
    """One call on the fake: the `ChatClient` method name and its arguments."""

    method: str
    args: dict[str, Any]


@dataclass
class FakeMessage:
    """A message as it stands now, with the earlier versions an update replaced."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    files: list[str] = field(default_factory=list)
    history: list[tuple[str, list[dict[str, Any]] | None]] = field(default_factory=list)


class MemoryChatClient:
    """Implements `ChatClient`; inspect `calls`, `messages(channel)`, `thread(channel, ts)`, `ephemerals`, `views`."""

    def __init__(self, usergroups: Mapping[str, Iterable[str]] | None = None, bot_user_id: str = "U0AEGISBOT") -> None:
        self.calls: list[ChatCall] = []
        self.ephemerals: list[ChatCall] = []
        self.views: list[dict[str, Any]] = []
        self.files: dict[str, ChatCall] = {}
        self.emails: dict[str, str] = {}  # user id -> the email users.info shows
        self.usergroups: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in (usergroups or {}).items()}
        self.bot_user_id = bot_user_id
        self.closed = False
        self._messages: dict[str, list[FakeMessage]] = defaultdict(list)
        self._failures: dict[str, deque[ChatError]] = defaultdict(deque)
        self._clock = 1_700_000_000_000_100  # microseconds; ts "1700000000.000100", then +100 a message

    def fail_next(self, method: str, error: str = "internal_error", *, times: int = 1, transient: bool = False) -> None:
        """Make the next `times` calls of `method` (a ChatClient method name) raise ChatError(`error`)."""
        for _ in range(times):
            self._failures[method].append(ChatError(_METHODS[method], error, transient=transient))

    def calls_of(self, method: str) -> list[ChatCall]:
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[FakeMessage]:
        """Every message in the channel, parents and replies, in posting order."""
        return list(self._messages[channel])

    def thread(self, channel: str, ts: str) -> list[FakeMessage]:
        """The replies under the parent `ts`, in posting order (the parent itself excluded)."""
        return [m for m in self._messages[channel] if m.thread_ts == ts]

    def message(self, ref: MessageRef) -> FakeMessage:
        return next(m for m in self._messages[ref.channel] if m.ts == ref.ts)

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(ChatCall(method, args))
        if self._failures[method]:
            raise self._failures[method].popleft()

    def _next_ts(self) -> str:
        self._clock += 100
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    async def post_message(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None, *, urgent: bool = True) -> MessageRef:
        self._record("post_message", channel=channel, text=text, blocks=_copy(blocks), thread_ts=thread_ts)
        message = FakeMessage(channel, self._next_ts(), text, _copy(blocks), thread_ts)
        self._messages[channel].append(message)
        return MessageRef(channel=channel, ts=message.ts)

    async def update_message(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        self._record("update_message", channel=channel, ts=ts, text=text, blocks=_copy(blocks))
        message = next((m for m in self._messages[channel] if m.ts == ts), None)
        if message is None:
            raise ChatError("chat.update", "message_not_found")
        message.history.append((message.text, message.blocks))
        message.text, message.blocks = text, _copy(blocks)
        return MessageRef(channel=channel, ts=ts)

    async def post_ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None) -> None:
        self._record("post_ephemeral", channel=channel, user=user, text=text, blocks=_copy(blocks), thread_ts=thread_ts)
        self.ephemerals.append(self.calls[-1])

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> str:
        self._record("open_view", trigger_id=trigger_id, view=dict(view))
        self.views.append(dict(view))
        return f"V{len(self.views):07d}"

    async def upload_file(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str, initial_comment: str | None = None) -> str:
        self._record("upload_file", channel=channel, thread_ts=thread_ts, filename=filename, content=content, title=title, initial_comment=initial_comment)
        file_id = f"F{len(self.files) + 1:07d}"
        self.files[file_id] = self.calls[-1]
        message = FakeMessage(channel, self._next_ts(), initial_comment or "", None, thread_ts, files=[file_id])
        self._messages[channel].append(message)
        return file_id

    async def usergroup_members(self, usergroup_id: str) -> frozenset[str]:
        self._record("usergroup_members", usergroup_id=usergroup_id)
        if usergroup_id not in self.usergroups:
            raise ChatError("usergroups.users.list", "no_such_subteam")
        return self.usergroups[usergroup_id]

    async def user_email(self, user_id: str) -> str | None:
        self._record("user_email", user_id=user_id)
        return self.emails.get(user_id)

    async def auth_test(self) -> dict[str, Any]:
        self._record("auth_test")
        return {"ok": True, "team": "AEGIS Test", "team_id": "T0AEGIS", "user": "aegis", "user_id": self.bot_user_id, "bot_id": "B0AEGIS"}

    async def aclose(self) -> None:
        self.closed = True


def _copy(blocks: Blocks | None) -> list[dict[str, Any]] | None:
    return None if blocks is None else [dict(block) for block in blocks]


if TYPE_CHECKING:
    _implements: type[ChatClient] = MemoryChatClient
