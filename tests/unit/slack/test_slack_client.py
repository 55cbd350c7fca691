"""SlackChatClient over real HTTP against the Slack stand-in: calls, pacing, retries, and failures."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from aegis.bot.slack_client import ChatError, MessageRef, SlackChatClient
from tests.slack_standin import SlackStandIn


def _section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _calls(method: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("aegis_slack_api_calls_total", {"method": method, "outcome": outcome}) or 0.0


async def test_reply_lands_in_the_thread(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """A post with thread_ts is stored as a reply under that parent, and each post returns its own ref."""
    parent = await slack_client.post_message("C1", "🔴 INVESTIGATING · payments/api", blocks=[_section("parent")])
    reply = await slack_client.post_message("C1", "Diagnosis ready", blocks=[_section("diagnosis")], thread_ts=parent.ts)
    assert parent.channel == reply.channel == "C1" and float(reply.ts) > float(parent.ts)
    [stored] = slack_standin.recorder.thread("C1", parent.ts)
    assert stored.ts == reply.ts and stored.text == "Diagnosis ready" and stored.blocks == [_section("diagnosis")]
    assert slack_standin.recorder.message("C1", parent.ts).thread_ts is None


async def test_update_edits_the_message_in_place(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """update_message replaces text and blocks of the same ts; no new message appears."""
    ref = await slack_client.post_message("C1", "investigating", blocks=[_section("investigating")])
    again = await slack_client.update_message("C1", ref.ts, "diagnosed", blocks=[_section("diagnosed")])
    assert again == ref
    assert slack_standin.recorder.updates_of("C1", ref.ts) == [{"text": "diagnosed", "blocks": [_section("diagnosed")]}]
    assert [m.text for m in slack_standin.recorder.messages("C1")] == ["diagnosed"]


async def test_update_without_blocks_leaves_plain_text(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """Updating with no blocks removes the old blocks instead of leaving them under new text."""
    ref = await slack_client.post_message("C1", "old", blocks=[_section("old")])
    await slack_client.update_message("C1", ref.ts, "resolved")
    assert slack_standin.recorder.message("C1", ref.ts).blocks is None


async def test_update_of_unknown_message_fails(slack_client: SlackChatClient) -> None:
    """chat.update of a ts that does not exist raises ChatError message_not_found, not transient."""
    with pytest.raises(ChatError) as failure:
        await slack_client.update_message("C1", "1700000000.999900", "x")
    assert failure.value.error == "message_not_found" and not failure.value.transient


async def test_ephemeral_goes_to_one_person(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """post_ephemeral reaches chat.postEphemeral with the user and adds nothing to the channel."""
    await slack_client.post_ephemeral("C1", "U123", "You are not in @sre-oncall, who can apply fixes.")
    [ephemeral] = slack_standin.recorder.ephemerals
    assert ephemeral["user"] == "U123" and ephemeral["channel"] == "C1"
    assert slack_standin.recorder.messages("C1") == []


async def test_open_view_returns_the_view_id(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """open_view sends the modal with the trigger id and returns the id Slack gave the view."""
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Reject fix"}, "blocks": [_section("Why?")]}
    view_id = await slack_client.open_view("trigger-1", view)
    assert view_id == slack_standin.recorder.views[0]["id"]
    assert slack_standin.recorder.of("views.open")[0].body["trigger_id"] == "trigger-1"


async def test_file_upload_lands_in_the_thread(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """upload_file runs the external upload pair; the bytes arrive and the file is shared in the thread."""
    parent = await slack_client.post_message("C1", "parent")
    content = b"line 1\nline 2\n" * 100
    file_id = await slack_client.upload_file("C1", parent.ts, "api-7f9c.log", content, "Logs of api-7f9c", initial_comment="Full logs")
    uploaded = slack_standin.recorder.files[file_id]
    assert uploaded.content == content and uploaded.length == len(content) and uploaded.title == "Logs of api-7f9c"
    [share] = slack_standin.recorder.thread("C1", parent.ts)
    assert share.files == [file_id] and share.text == "Full logs"
    assert [r.method for r in slack_standin.recorder.requests[1:]] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert not slack_standin.recorder.of("upload")[0].sent_token


async def test_usergroup_members_are_cached(slack_standin: SlackStandIn) -> None:
    """usergroup_members asks Slack once per TTL; after it expires the new membership is fetched."""
    slack_standin.usergroups["S0ONCALL"] = ["U1", "U2"]
    now = [1000.0]
    async with SlackChatClient(slack_standin.token, base_url=slack_standin.url, usergroup_ttl=60, clock=lambda: now[0]) as client:
        assert await client.usergroup_members("S0ONCALL") == frozenset({"U1", "U2"})
        slack_standin.usergroups["S0ONCALL"] = ["U3"]
        assert await client.usergroup_members("S0ONCALL") == frozenset({"U1", "U2"})
        assert len(slack_standin.recorder.of("usergroups.users.list")) == 1
        now[0] += 61
        assert await client.usergroup_members("S0ONCALL") == frozenset({"U3"})
        assert len(slack_standin.recorder.of("usergroups.users.list")) == 2


async def test_ratelimited_call_is_retried_after_retry_after(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """A 429 with Retry-After: 1 is retried no sooner than a second later, and the post succeeds once."""
    slack_standin.fail_next("chat.postMessage", kind="429", retry_after=1)
    ref = await slack_client.post_message("C1", "hello")
    first, second = slack_standin.recorder.of("chat.postMessage")
    assert (first.status, first.error, second.status) == (429, "ratelimited", 200)
    assert second.at - first.at >= 1.0
    assert [m.ts for m in slack_standin.recorder.messages("C1")] == [ref.ts]


async def test_server_error_burst_is_retried(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """Two 500s in a row are retried and the message is posted exactly once."""
    slack_standin.fail_next("chat.postMessage", times=2, kind="500")
    await slack_client.post_message("C1", "hello")
    assert [r.status for r in slack_standin.recorder.of("chat.postMessage")] == [500, 500, 200]
    assert len(slack_standin.recorder.messages("C1")) == 1


async def test_connection_reset_is_retried(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """A connection dropped mid-request is retried on a new connection."""
    slack_standin.fail_next("chat.postMessage", kind="reset")
    await slack_client.post_message("C1", "hello")
    assert [r.status for r in slack_standin.recorder.of("chat.postMessage")] == [0, 200]


async def test_persistent_server_errors_raise_a_transient_chat_error(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """When the retries run out the caller gets a transient ChatError with the status, and a failed-call log event."""
    slack_standin.fail_next("chat.postMessage", times=3, kind="500")
    with capture_logs() as logs, pytest.raises(ChatError) as failure:
        await slack_client.post_message("C1", "hello")
    assert (failure.value.error, failure.value.status, failure.value.transient) == ("internal_error", 500, True)
    assert [e["event"] for e in logs] == ["slack.api.retry", "slack.api.retry", "slack.api.failed"]
    assert slack_standin.recorder.messages("C1") == []


async def test_concurrent_posts_to_one_channel_are_paced(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """Posts from concurrent tasks to one channel all arrive, in call order, about one a second, never ratelimited."""
    refs = await asyncio.gather(*(slack_client.post_message("C1", f"post {i}") for i in range(5)))
    arrivals = slack_standin.recorder.of("chat.postMessage")
    assert len(refs) == len({r.ts for r in refs}) == 5
    assert [r.body["text"] for r in arrivals] == [f"post {i}" for i in range(5)]
    assert all(r.status == 200 for r in arrivals)
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.9, gaps


async def test_channels_do_not_throttle_each_other(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """Three posts each to two channels take about two seconds in all, not five: the pacing is per channel."""
    started = time.monotonic()
    await asyncio.gather(*(slack_client.post_message(channel, f"{channel} {i}") for i in range(3) for channel in ("C1", "C2")))
    assert time.monotonic() - started < 3.0
    first_c1, first_c2 = (slack_standin.recorder.messages(c)[0] for c in ("C1", "C2"))
    at = {r.body["text"]: r.at for r in slack_standin.recorder.of("chat.postMessage")}
    assert abs(at[first_c1.text] - at[first_c2.text]) < 0.5


async def test_oversize_blocks_fail_loudly(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """A section over 3000 characters raises ChatError invalid_blocks with Slack's pointer; the log names no body."""
    before = _calls("chat.postMessage", "api_error")
    secret_text = "S" * 3001
    with capture_logs() as logs, pytest.raises(ChatError) as failure:
        await slack_client.post_message("C1", "fallback sentence", blocks=[_section(secret_text)])
    assert failure.value.error == "invalid_blocks" and not failure.value.transient
    assert "json-pointer:/blocks/0/text/text" in str(failure.value)
    [event] = logs
    assert event["event"] == "slack.api.failed" and event["method"] == "chat.postMessage" and event["error"] == "invalid_blocks"
    assert "fallback sentence" not in repr(logs) and secret_text not in repr(logs)
    assert _calls("chat.postMessage", "api_error") == before + 1
    assert slack_standin.recorder.messages("C1") == []


async def test_bad_token_fails_with_invalid_auth(slack_standin: SlackStandIn) -> None:
    """A wrong bot token raises ChatError invalid_auth whose message says which setting to fix; the token is not logged."""
    async with SlackChatClient("xoxb-wrong", base_url=slack_standin.url) as client:
        with capture_logs() as logs, pytest.raises(ChatError) as failure:
            await client.auth_test()
    assert failure.value.error == "invalid_auth" and "SLACK_BOT_TOKEN" in str(failure.value)
    assert "xoxb-wrong" not in repr(logs)


async def test_auth_test_and_success_metric(slack_client: SlackChatClient) -> None:
    """auth_test returns the bot's identity and counts an ok call."""
    before = _calls("auth.test", "ok")
    identity = await slack_client.auth_test()
    assert identity["user_id"].startswith("U") and identity["ok"] is True
    assert _calls("auth.test", "ok") == before + 1


async def test_unknown_channel_is_channel_not_found(slack_standin: SlackStandIn, slack_client: SlackChatClient) -> None:
    """A channel the bot cannot see is ChatError channel_not_found whose message says to invite the bot."""
    slack_standin.channels = {"C1"}
    with pytest.raises(ChatError) as failure:
        await slack_client.post_message("C404", "hello")
    assert failure.value.error == "channel_not_found" and "/invite" in str(failure.value)


async def test_closed_client_reopens_and_message_ref_is_a_value(slack_standin: SlackStandIn) -> None:
    """aclose releases the session (a later call opens a new one); MessageRef compares by value."""
    client = SlackChatClient(slack_standin.token, base_url=slack_standin.url)
    ref = await client.post_message("C1", "one")
    await client.aclose()
    await client.aclose()
    await client.post_ephemeral("C1", "U1", "two")
    await client.aclose()
    assert ref == MessageRef(channel="C1", ts=ref.ts)
