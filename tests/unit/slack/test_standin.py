"""The Slack stand-in's own checks, driven with plain aiohttp requests in both encodings Slack accepts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.slack_standin import SlackStandIn


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _call(
    http: aiohttp.ClientSession, standin: SlackStandIn, method: str, *, token: str | None = "", form: bool = False, **body: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    token = standin.token if token == "" else token
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if form:
        data = {k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in body.items()}
        request = http.post(standin.url + method, data=data, headers=headers)
    else:
        request = http.post(standin.url + method, json=body, headers=headers)
    async with request as response:
        return response.status, await response.json(), dict(response.headers)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(value: str = "v") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go", "value": value}


async def test_missing_token_is_not_authed(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """No Authorization header answers not_authed."""
    assert (await _call(http, slack_standin, "auth.test", token=None))[1] == {"ok": False, "error": "not_authed"}


async def test_wrong_token_is_invalid_auth(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """A bearer token that is not the configured one answers invalid_auth, and the token is not recorded."""
    assert (await _call(http, slack_standin, "auth.test", token="xoxb-nope"))[1]["error"] == "invalid_auth"
    [recorded] = slack_standin.recorder.requests
    assert recorded.sent_token and "xoxb-nope" not in repr(recorded)


async def test_token_in_a_form_body_is_accepted(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """Like Slack, a `token` form field authenticates too, and is dropped from the recorded body."""
    async with http.post(slack_standin.url + "auth.test", data={"token": slack_standin.token}) as response:
        assert (await response.json())["ok"] is True
    assert "token" not in slack_standin.recorder.requests[-1].body


async def test_unknown_method(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """A method the stand-in does not implement answers unknown_method rather than pretending."""
    assert (await _call(http, slack_standin, "chat.meMessage", channel="C1", text="x"))[1]["error"] == "unknown_method"


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
async def test_both_encodings_post_with_blocks(slack_standin: SlackStandIn, http: aiohttp.ClientSession, form: bool) -> None:
    """chat.postMessage accepts JSON bodies and form bodies with blocks as a JSON string, storing the same message."""
    status, answer, _ = await _call(http, slack_standin, "chat.postMessage", form=form, channel="C1", text="hi", blocks=[_section("hi")])
    assert status == 200 and answer["ok"] is True and answer["channel"] == "C1"
    [message] = slack_standin.recorder.messages("C1")
    assert message.blocks == [_section("hi")] and message.ts == answer["ts"]


async def test_ts_increase_and_replies_keep_their_thread(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """Timestamps look like Slack's and increase; thread_ts puts a message in that thread."""
    parent = (await _call(http, slack_standin, "chat.postMessage", channel="C1", text="parent"))[1]["ts"]
    reply = (await _call(http, slack_standin, "chat.postMessage", channel="C1", text="reply", thread_ts=parent))[1]["ts"]
    assert parent == "1700000000.000100" and float(reply) > float(parent)
    assert [m.text for m in slack_standin.recorder.thread("C1", parent)] == ["reply"]


BIG_ACTIONS = {"type": "actions", "elements": [_button() for _ in range(26)]}


@pytest.mark.parametrize(
    ("text", "blocks", "error"),
    [
        ("x", [{"type": "divider"}] * 51, "invalid_blocks"),
        ("x", [_section("s" * 3001)], "invalid_blocks"),
        ("x", [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "invalid_blocks"),
        ("t" * 40_001, None, "msg_too_long"),
        ("x", {"type": "section"}, "invalid_blocks"),
        ("x", [{"text": "no type"}], "invalid_blocks"),
        ("x", ["divider"], "invalid_blocks"),
        ("x", "[not json", "invalid_blocks"),
        ("x", [{"type": "actions", "elements": [_button("v" * 2001)]}], "invalid_blocks"),
        ("x", [BIG_ACTIONS], "invalid_blocks"),
        ("x", [{"type": "no_such_block"}], "invalid_blocks"),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "text-40001",
        "not-a-list",
        "no-type",
        "not-objects",
        "bad-json",
        "button-value-2001",
        "26-actions",
        "unknown-type",
    ],
)
async def test_block_kit_limits(slack_standin: SlackStandIn, http: aiohttp.ClientSession, text: str, blocks: Any, error: str) -> None:
    """Messages over Slack's limits are refused with Slack's error code and nothing is stored."""
    body: dict[str, Any] = {"channel": "C1", "text": text}
    if blocks is not None:
        body["blocks"] = blocks
    _, answer, _ = await _call(http, slack_standin, "chat.postMessage", **body)
    assert answer["ok"] is False and answer["error"] == error
    assert slack_standin.recorder.messages("C1") == []


async def test_limits_at_the_edge_are_accepted(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """Exactly 50 blocks, a 3000-character section, a 150-character header and 25 buttons are fine."""
    blocks = [_section("s" * 3000), {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
              {"type": "actions", "elements": [_button("v" * 2000) for _ in range(25)]}] + [{"type": "divider"}] * 47  # fmt: skip
    _, answer, _ = await _call(http, slack_standin, "chat.postMessage", channel="C1", text="t" * 40_000, blocks=blocks)
    assert answer["ok"] is True


async def test_invalid_blocks_carry_a_pointer(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """Like Slack, invalid_blocks explains itself in response_metadata.messages with a JSON pointer."""
    _, answer, _ = await _call(http, slack_standin, "chat.postMessage", channel="C1", text="x", blocks=[{"type": "divider"}, _section("s" * 3001)])
    assert answer["response_metadata"]["messages"] == ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


async def test_configured_channels_reject_others(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """With a channel list, any other channel is channel_not_found; without one, any channel works."""
    assert (await _call(http, slack_standin, "chat.postMessage", channel="C9", text="x"))[1]["ok"] is True
    slack_standin.channels = {"C1"}
    assert (await _call(http, slack_standin, "chat.postMessage", channel="C9", text="x"))[1]["error"] == "channel_not_found"
    assert (await _call(http, slack_standin, "chat.postEphemeral", channel="C9", user="U1", text="x"))[1]["error"] == "channel_not_found"


async def test_update_keeps_history_and_refuses_unknown_ts(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """chat.update records each edit; an unknown ts is message_not_found; blocks over the limits are refused."""
    slack_standin.rate_per_second = None
    ts = (await _call(http, slack_standin, "chat.postMessage", channel="C1", text="v1"))[1]["ts"]
    assert (await _call(http, slack_standin, "chat.update", channel="C1", ts=ts, text="v2"))[1]["ok"] is True
    assert (await _call(http, slack_standin, "chat.update", channel="C1", ts="1.000000", text="v3"))[1]["error"] == "message_not_found"
    assert (await _call(http, slack_standin, "chat.update", channel="C1", ts=ts, text="v4", blocks=[_section("s" * 3001)]))[1]["error"] == "invalid_blocks"
    assert slack_standin.recorder.updates_of("C1", ts) == [{"text": "v2", "blocks": None}]
    assert slack_standin.recorder.message("C1", ts).text == "v2"


async def test_posts_above_the_channel_rate_get_429(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """A burst beyond the bucket answers HTTP 429, Retry-After and ratelimited; another channel is unaffected."""
    answers = [await _call(http, slack_standin, "chat.postMessage", channel="C1", text=str(i)) for i in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429, 429]
    _, body, headers = answers[3]
    assert body == {"ok": False, "error": "ratelimited"} and int(headers["Retry-After"]) >= 1
    assert (await _call(http, slack_standin, "chat.postMessage", channel="C2", text="other"))[0] == 200
    assert len(slack_standin.recorder.messages("C1")) == 3


async def test_rate_limit_is_configurable(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """rate_per_second=None turns pacing off; ephemerals never count against the channel."""
    slack_standin.rate_per_second = None
    answers = [await _call(http, slack_standin, "chat.postMessage", channel="C1", text=str(i)) for i in range(6)]
    assert {status for status, _, _ in answers} == {200}
    slack_standin.rate_per_second = 1.0
    answers = [await _call(http, slack_standin, "chat.postEphemeral", channel="C2", user="U1", text=str(i)) for i in range(6)]
    assert {status for status, _, _ in answers} == {200}


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("429", 429)])
async def test_fault_injection_answers(slack_standin: SlackStandIn, http: aiohttp.ClientSession, kind: Any, status: int) -> None:
    """fail_next makes the next call of a method fail with the chosen status, then calls succeed again."""
    slack_standin.fail_next("auth.test", kind=kind, retry_after=2)
    got, _, headers = await _call(http, slack_standin, "auth.test")
    assert got == status and (headers.get("Retry-After") == "2") == (kind == "429")
    assert (await _call(http, slack_standin, "auth.test"))[0] == 200


async def test_fault_injection_resets_the_connection(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """A "reset" fault drops the connection without an answer."""
    slack_standin.fail_next("auth.test", kind="reset")
    with pytest.raises(aiohttp.ClientConnectionError):
        await _call(http, slack_standin, "auth.test")
    assert slack_standin.recorder.requests[0].status == 0


async def test_external_upload_pair(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """getUploadURLExternal issues a URL on the stand-in; the bytes POSTed there are shared by completeUploadExternal."""
    issued = (await _call(http, slack_standin, "files.getUploadURLExternal", form=True, filename="a.log", length=5))[1]
    assert issued["upload_url"].startswith(slack_standin.url.removesuffix("api/"))
    incomplete = await _call(http, slack_standin, "files.completeUploadExternal", files=[{"id": issued["file_id"]}], channel_id="C1")
    assert incomplete[1]["error"] == "file_not_found"
    async with http.post(issued["upload_url"], data=b"hello") as response:
        assert response.status == 200 and (await response.text()) == "OK - 5"
    _, done, _ = await _call(
        http, slack_standin, "files.completeUploadExternal", form=True, files=[{"id": issued["file_id"], "title": "A"}], channel_id="C1", thread_ts="1.0"
    )
    assert done["files"][0]["title"] == "A"
    assert slack_standin.recorder.files[issued["file_id"]].content == b"hello"
    assert slack_standin.recorder.thread("C1", "1.0")[0].files == [issued["file_id"]]


async def test_usergroups_and_views(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """usergroups.users.list answers members or no_such_subteam; views.open checks the modal and the trigger."""
    slack_standin.usergroups["S1"] = ["U1"]
    auth = {"Authorization": f"Bearer {slack_standin.token}"}
    async with http.get(slack_standin.url + "usergroups.users.list", params={"usergroup": "S1"}, headers=auth) as r:
        assert (await r.json())["users"] == ["U1"]
    assert (await _call(http, slack_standin, "usergroups.users.list", usergroup="S2"))[1]["error"] == "no_such_subteam"
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}
    assert (await _call(http, slack_standin, "views.open", trigger_id="t", view=modal))[1]["view"]["id"].startswith("V")
    too_long = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    assert (await _call(http, slack_standin, "views.open", trigger_id="t", view=too_long))[1]["error"] == "invalid_arguments"
    slack_standin.expired_trigger_ids.add("old")
    assert (await _call(http, slack_standin, "views.open", trigger_id="old", view=modal))[1]["error"] == "expired_trigger_id"


async def test_every_request_is_recorded(slack_standin: SlackStandIn, http: aiohttp.ClientSession) -> None:
    """The recorder keeps method, parsed body, headers with the token redacted, arrival time, status and error."""
    await _call(http, slack_standin, "chat.postMessage", channel="C1", text="one")
    await _call(http, slack_standin, "chat.postMessage", channel="C1", text="x" * 40_001)
    ok, refused = slack_standin.recorder.of("chat.postMessage")
    assert ok.body == {"channel": "C1", "text": "one"} and ok.error is None and ok.status == 200
    assert refused.error == "msg_too_long" and refused.at >= ok.at
    assert slack_standin.token not in repr(slack_standin.recorder.requests)
