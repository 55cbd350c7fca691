"""MemoryChatClient behaves like the ChatClient seam promises, so other modules' unit tests can trust it."""

from __future__ import annotations

import pytest

from aegis.bot.demo.memory_chat import MemoryChatClient
from aegis.bot.slack_client import ChatClient, ChatError


async def test_fake_records_threads_updates_and_files() -> None:
    """Posts get increasing ts, replies land in their thread, updates keep history, files join the thread."""
    fake = MemoryChatClient()
    chat: ChatClient = fake
    parent = await chat.post_message("C1", "parent")
    reply = await chat.post_message("C1", "reply", thread_ts=parent.ts)
    await chat.update_message("C1", parent.ts, "edited", blocks=[{"type": "divider"}])
    file_id = await chat.upload_file("C1", parent.ts, "a.log", b"x", "A")
    assert float(reply.ts) > float(parent.ts)
    assert [m.ts for m in fake.thread("C1", parent.ts)] == [reply.ts, fake.messages("C1")[-1].ts]
    assert fake.message(parent).text == "edited" and fake.message(parent).history == [("parent", None)]
    assert fake.files[file_id].args["content"] == b"x"
    assert [c.method for c in fake.calls] == ["post_message", "post_message", "update_message", "upload_file"]


async def test_fake_fails_on_request_and_knows_usergroups() -> None:
    """fail_next raises the chosen ChatError once; unknown ts and unknown user groups fail like Slack."""
    fake = MemoryChatClient(usergroups={"S1": ["U1"]})
    fake.fail_next("post_message", "channel_not_found")
    with pytest.raises(ChatError, match="channel_not_found"):
        await fake.post_message("C1", "x")
    assert (await fake.post_message("C1", "x")).channel == "C1"
    with pytest.raises(ChatError, match="message_not_found"):
        await fake.update_message("C1", "1.0", "x")
    assert await fake.usergroup_members("S1") == frozenset({"U1"})
    with pytest.raises(ChatError, match="no_such_subteam"):
        await fake.usergroup_members("S2")
    assert (await fake.auth_test())["user_id"] == fake.bot_user_id
    assert await fake.open_view("t", {"type": "modal"}) == "V0000001"
    await fake.post_ephemeral("C1", "U1", "private")
    assert fake.ephemerals[0].args["user"] == "U1"
    await fake.aclose()
    assert fake.closed
