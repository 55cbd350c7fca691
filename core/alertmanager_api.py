"""Alertmanager's v2 API, the part AEGIS uses: create (or replace) a silence, list silences, expire one.

`POST /api/v2/silences` answers `{"silenceID": …}`; posting with the `id` of a silence replaces it
(Alertmanager updates it in place, or expires it and answers a new id). `DELETE /api/v2/silence/{id}`
expires one; a silence already expired or long gone answers 500 or 404, which for AEGIS means done.
Credentials (AEGIS_ALERTMANAGER_BEARER_TOKEN, or _USERNAME/_PASSWORD) go in headers only and never
into a message or a log line; the URL in messages has any user:password removed. Every failure is an
AlertmanagerError whose message says what to do, since it is shown to the person who clicked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from aegis.core.errors import AegisError

TIMEOUT = httpx.Timeout(10.0, connect=3.0)
_DETAIL = 300  # characters of an error body shown to a person


class AlertmanagerError(AegisError):
    """Alertmanager could not do what was asked; the message says why and what to do next."""


class AlertmanagerUnavailableError(AlertmanagerError):
    """Alertmanager cannot be reached, timed out or failed (5xx): trying again later may work."""

    transient = True


class Matcher(BaseModel):
    """One silence matcher: `name` (=|!=|=~|!~) `value`; Alertmanager anchors a regex at both ends (RE2)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    def __str__(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f'{self.name}{op}"{self.value}"'


class AlertmanagerApi:
    """The silences endpoints of one Alertmanager, with errors translated to AlertmanagerError."""

    def __init__(
        self,
        base_url: str,
        *,
        bearer_token: SecretStr | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self.shown_url = _without_credentials(self._base)
        self._headers = {"Authorization": f"Bearer {bearer_token.get_secret_value()}"} if bearer_token else {}
        self._auth = httpx.BasicAuth(username, password.get_secret_value()) if username and password else None
        self._transport = transport

    def silence_link(self, silence_id: str, external_url: str | None = None) -> str:
        """The silence in Alertmanager's UI: on its externalURL (what people open) when known, else on the API's URL."""
        base = (external_url or self.shown_url).rstrip("/")
        return f"{base}/#/silences/{quote(silence_id, safe='')}"

    async def create_silence(
        self, matchers: list[Matcher], *, starts_at: datetime, ends_at: datetime, created_by: str, comment: str, replaces: str | None = None
    ) -> str:
        """Create a silence (or replace the one `replaces` names) and return its id.

        A `replaces` id Alertmanager no longer knows (expired and garbage-collected) is not an error:
        a new silence is created instead."""
        body: dict[str, Any] = {
            "matchers": [m.as_json() for m in matchers],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        if replaces:
            body["id"] = replaces
        response = await self._request("POST", "/api/v2/silences", json=body)
        if replaces and response.status_code == 404:
            body.pop("id")
            response = await self._request("POST", "/api/v2/silences", json=body)
        payload = self._json(response, "create the silence")
        silence_id = payload.get("silenceID") if isinstance(payload, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise AlertmanagerError(f"Alertmanager at {self.shown_url} answered the silence without a silenceID; is AEGIS_ALERTMANAGER_URL an Alertmanager?")
        return silence_id

    async def silences(self) -> list[dict[str, Any]]:
        """Every silence Alertmanager keeps (active, pending and recently expired), as its API returns them."""
        payload = self._json(await self._request("GET", "/api/v2/silences"), "list silences")
        if not isinstance(payload, list):
            raise AlertmanagerError(
                f"Alertmanager at {self.shown_url} answered the silence list with something else; is AEGIS_ALERTMANAGER_URL an Alertmanager?"
            )
        return [s for s in payload if isinstance(s, dict)]

    async def expire_silence(self, silence_id: str) -> bool:
        """Expire a silence: True when it was running, False when it had already ended or is unknown (done either way)."""
        response = await self._request("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        if response.status_code == 200:
            return True
        if response.status_code == 404 or (response.status_code == 500 and "already expired" in response.text):
            return False
        self._json(response, "expire the silence")  # raises with the reason
        return True

    async def _request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        try:
            async with httpx.AsyncClient(base_url=self._base, headers=self._headers, auth=self._auth, transport=self._transport, timeout=TIMEOUT) as http:
                return await http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise AlertmanagerUnavailableError(
                f"Alertmanager at {self.shown_url} did not answer in time ({type(exc).__name__}); try again in a minute"
            ) from exc
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailableError(
                f"Alertmanager at {self.shown_url} is unreachable ({type(exc).__name__}); check that it runs and that AEGIS_ALERTMANAGER_URL points at it"
            ) from exc

    def _json(self, response: httpx.Response, doing: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise AlertmanagerError(
                f"Alertmanager at {self.shown_url} refused AEGIS's credentials (HTTP {status}) when asked to {doing}; "
                "check AEGIS_ALERTMANAGER_BEARER_TOKEN or AEGIS_ALERTMANAGER_USERNAME/_PASSWORD"
            )
        if status >= 500:
            raise AlertmanagerUnavailableError(
                f"Alertmanager at {self.shown_url} failed to {doing} (HTTP {status}: {_reason(response)}); try again in a minute"
            )
        if status >= 400:
            raise AlertmanagerError(f"Alertmanager at {self.shown_url} refused to {doing} (HTTP {status}: {_reason(response)})")
        try:
            return response.json()
        except ValueError as exc:
            raise AlertmanagerError(
                f"Alertmanager at {self.shown_url} answered HTTP {status} without JSON; is AEGIS_ALERTMANAGER_URL an Alertmanager?"
            ) from exc


def _reason(response: httpx.Response) -> str:
    """The start of an error body (Alertmanager's are a JSON string or a short text), never a request."""
    text = response.text.strip().strip('"').strip()
    return " ".join(text.split())[:_DETAIL] or "no reason given"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
