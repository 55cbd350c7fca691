"""The Alertmanager client sends what the v2 API expects, with its credentials, and turns every failure into a sentence
that says what to do, without the credentials in it. (httpx's own fake transport; the live test uses the real binary.)"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from aegis.core.alertmanager_api import AlertmanagerApi, AlertmanagerError, AlertmanagerUnavailableError, Matcher

T0 = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)
TOKEN = "am-api-token-7Hq2"
PASSWORD = "am-basic-Zp4x"
MATCHERS = [Matcher(name="namespace", value="shop"), Matcher(name="pod", value="a|b", is_regex=True)]


def api(handler: httpx.MockTransport, **kwargs: object) -> AlertmanagerApi:
    return AlertmanagerApi("http://alertmanager:9093/", transport=handler, **kwargs)  # type: ignore[arg-type]


async def create(client: AlertmanagerApi, replaces: str | None = None) -> str:
    return await client.create_silence(
        MATCHERS, starts_at=T0, ends_at=T0 + timedelta(hours=1), created_by="alice (U1)", comment="[AEGIS INC-3] thread", replaces=replaces
    )


async def test_create_posts_the_silence_with_the_bearer_token() -> None:
    """POST /api/v2/silences with the matchers, times, createdBy and comment; the answer's silenceID is returned."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"silenceID": "5e1f"})

    assert await create(api(httpx.MockTransport(handle), bearer_token=SecretStr(TOKEN))) == "5e1f"
    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/v2/silences")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(request.content)
    assert body["matchers"] == [m.as_json() for m in MATCHERS] and "id" not in body
    assert body["createdBy"] == "alice (U1)" and body["comment"] == "[AEGIS INC-3] thread"
    assert datetime.fromisoformat(body["endsAt"]) - datetime.fromisoformat(body["startsAt"]) == timedelta(hours=1)


async def test_basic_auth_is_sent_when_configured() -> None:
    """Username and password go as HTTP basic auth."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"silenceID": "x"})

    await create(api(httpx.MockTransport(handle), username="aegis", password=SecretStr(PASSWORD)))
    assert seen == ["Basic " + base64.b64encode(f"aegis:{PASSWORD}".encode()).decode()]


async def test_replacing_a_silence_alertmanager_forgot_creates_a_new_one() -> None:
    """Posting with the old id answers 404 when Alertmanager no longer knows it: the silence is created anew."""
    bodies: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if "id" in bodies[-1]:
            return httpx.Response(404, json="silence not found")
        return httpx.Response(200, json={"silenceID": "new"})

    assert await create(api(httpx.MockTransport(handle)), replaces="old") == "new"
    assert [b.get("id") for b in bodies] == ["old", None]


@pytest.mark.parametrize(
    ("status", "body", "error", "fragment"),
    [
        (401, b"unauthorized", AlertmanagerError, "AEGIS_ALERTMANAGER_BEARER_TOKEN or AEGIS_ALERTMANAGER_USERNAME/_PASSWORD"),
        (400, b'"silence invalid: invalid label matcher 0: invalid regular expression"', AlertmanagerError, "HTTP 400: silence invalid: invalid label"),
        (500, b'"boom"', AlertmanagerUnavailableError, "HTTP 500: boom); try again"),
        (200, b"<html>not json</html>", AlertmanagerError, "is AEGIS_ALERTMANAGER_URL an Alertmanager?"),
        (200, b'{"status": "success"}', AlertmanagerError, "without a silenceID"),
    ],
)
async def test_refusals_and_failures_say_what_to_do(status: int, body: bytes, error: type[Exception], fragment: str) -> None:
    """4xx, 5xx and answers that are not Alertmanager's become one sentence with the reason and the next step."""

    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    with pytest.raises(error) as raised:
        await create(api(httpx.MockTransport(handle), bearer_token=SecretStr(TOKEN)))
    assert fragment in str(raised.value) and TOKEN not in str(raised.value)


async def test_an_unreachable_alertmanager_names_the_setting_and_no_secret() -> None:
    """Connection refused: transient, names AEGIS_ALERTMANAGER_URL, and the URL's password is not in the message."""

    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    client = AlertmanagerApi(f"http://aegis:{PASSWORD}@alertmanager:9093", transport=httpx.MockTransport(handle))
    with pytest.raises(AlertmanagerUnavailableError) as raised:
        await create(client)
    assert "AEGIS_ALERTMANAGER_URL" in str(raised.value) and "http://alertmanager:9093" in str(raised.value)
    assert PASSWORD not in str(raised.value) and raised.value.transient


async def test_expire_is_done_also_when_the_silence_already_ended() -> None:
    """DELETE /api/v2/silence/{id}: 200 expired it; 404 and Alertmanager's 'already expired' 500 mean it had ended."""
    answers = {"a": httpx.Response(200), "b": httpx.Response(404, json="silence b not found"), "c": httpx.Response(500, json="silence c already expired")}
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.method} {request.url.path}")
        return answers[request.url.path.rsplit("/", 1)[-1]]

    client = api(httpx.MockTransport(handle))
    assert [await client.expire_silence(s) for s in "abc"] == [True, False, False]
    assert paths == ["DELETE /api/v2/silence/a", "DELETE /api/v2/silence/b", "DELETE /api/v2/silence/c"]


async def test_expire_failing_otherwise_is_an_error() -> None:
    """Any other 500 is a failure the person is told about."""
    client = api(httpx.MockTransport(lambda _: httpx.Response(500, json="no space left on device")))
    with pytest.raises(AlertmanagerUnavailableError, match="no space left on device"):
        await client.expire_silence("a")


def test_silence_links_go_to_the_ui_people_open() -> None:
    """externalURL/#/silences/<id> from the notification; the API URL (without credentials) when none is known."""
    client = AlertmanagerApi(f"http://aegis:{PASSWORD}@alertmanager:9093/")
    assert client.silence_link("5e1f", "https://am.example.com/") == "https://am.example.com/#/silences/5e1f"
    assert client.silence_link("5e1f") == "http://alertmanager:9093/#/silences/5e1f"
