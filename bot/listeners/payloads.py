"""What Slack sends to /slack/events, validated with pydantic before any work is done.

Only the requests AEGIS handles are accepted: the `/aegis` slash command, clicks on its buttons
(block_actions) and the Reject dialog's submission (view_submission), with the fields the listeners
read, each of the type Slack documents. Anything else (a payload that is not a JSON object, a null
or string `user`, a view without state, JSON nested past reason, a huge number) is refused with a
reason: `InvalidRequestError`, which the HTTP route answers 400. Slack itself never sends such requests,
but a proxy, a replay tool or a bug can, and the listeners (and Bolt) must only ever see shapes they
can handle. A button's value is parsed here too (`ButtonValue`), as are the Reject dialog's metadata.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from aegis.bot.render import blocks
from aegis.core.models import IncidentId

COMMAND = "/aegis"
REJECT_MODAL = "aegis.reject_modal"
ACTIONS = (
    blocks.ACTION_REJECT, blocks.ACTION_VERIFY, blocks.ACTION_APPLY, blocks.ACTION_ROLLBACK, blocks.ACTION_REANALYZE,
    blocks.ACTION_ACK, *blocks.ACTION_SILENCE.values(), blocks.ACTION_UNSILENCE,
)  # fmt: skip
_MAX_FORM_FIELDS = 64

SlackId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A user, channel or team id (U…, C…, T…): a non-empty string, never a number or an object."""


class InvalidRequestError(Exception):
    """A signed request AEGIS cannot act on; `reason` says what is wrong (no request content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Payload(BaseModel):
    # strict: a number is not an id and "1" is not a revision; unknown fields are dropped, so what
    # reaches Bolt and the listeners is exactly what is declared here.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class Ref(_Payload):
    id: SlackId


class User(Ref):
    """The person who clicked; Slack also sends their handle, which a silence's createdBy shows."""

    username: str = Field(default="", max_length=255)
    name: str = Field(default="", max_length=255)


class Action(_Payload):
    action_id: Literal[
        "aegis.reject", "aegis.verify", "aegis.apply", "aegis.rollback", "aegis.reanalyze",
        "aegis.ack", "aegis.silence.1h", "aegis.silence.4h", "aegis.silence.24h", "aegis.unsilence",
    ]  # fmt: skip
    block_id: str = Field(default="", max_length=255)
    value: str = Field(default="", max_length=2000)
    type: str = Field(default="button", max_length=64)


class MessageRef(_Payload):
    ts: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=64)


class BlockActions(_Payload):
    """A click on one of AEGIS's buttons in a channel message."""

    type: Literal["block_actions"]
    user: User
    channel: Ref
    team: Ref | None = None
    api_app_id: str = Field(default="", max_length=64)
    trigger_id: str = Field(default="", max_length=255)
    message: MessageRef | None = None
    actions: list[Action] = Field(min_length=1, max_length=25)

    @property
    def action(self) -> Action:
        return self.actions[0]

    @property
    def thread_ts(self) -> str | None:
        """The thread the click was made in: a reply's thread, or the thread under a clicked parent."""
        return (self.message.thread_ts or self.message.ts) if self.message else None


class InputValue(_Payload):
    type: str = Field(default="", max_length=64)
    value: str | None = Field(default=None, max_length=3000)


class ViewState(_Payload):
    values: dict[str, dict[str, InputValue]] = Field(default_factory=dict, max_length=100)


class View(_Payload):
    id: str = Field(default="", max_length=64)
    type: Literal["modal"] = "modal"
    callback_id: Literal["aegis.reject_modal"]
    private_metadata: str = Field(default="", max_length=3000)
    state: ViewState

    def input_value(self, block_id: str, action_id: str) -> str:
        field = self.state.values.get(block_id, {}).get(action_id)
        return (field.value or "").strip() if field else ""


class ViewSubmission(_Payload):
    """The Reject dialog, submitted."""

    type: Literal["view_submission"]
    user: Ref
    team: Ref | None = None
    api_app_id: str = Field(default="", max_length=64)
    trigger_id: str = Field(default="", max_length=255)
    view: View


class SlashCommand(_Payload):
    command: Literal["/aegis"]
    text: str = Field(default="", max_length=40_000)  # Slack's message limit; the parser explains anything odd
    user_id: SlackId
    channel_id: SlackId
    team_id: str = Field(default="", max_length=64)
    api_app_id: str = Field(default="", max_length=64)
    trigger_id: str = Field(default="", max_length=255)


Interactive = Annotated[BlockActions | ViewSubmission, Field(discriminator="type")]
_INTERACTIVE: TypeAdapter[BlockActions | ViewSubmission] = TypeAdapter(Interactive)
SlackRequest = SlashCommand | BlockActions | ViewSubmission


class ButtonValue(_Payload):
    """A button's value, as `blocks.action_value` writes it: {"incident": "INC-1", "rev": 0}."""

    incident: str = Field(min_length=1, max_length=64)
    rev: int = Field(ge=0, le=2**31)


class RejectMetadata(_Payload):
    """The Reject dialog's private_metadata, as `actions.reject_modal` writes it."""

    incident: str = Field(min_length=1, max_length=64)
    rev: int = Field(ge=0, le=2**31)
    channel: str = Field(default="", max_length=255)
    thread: str | None = Field(default=None, max_length=64)


def parse_request(body: str) -> SlackRequest | None:
    """A form-encoded body → the request; None for Slack's `ssl_check` ping; InvalidRequestError otherwise."""
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError:
        raise InvalidRequestError(f"more than {_MAX_FORM_FIELDS} form fields") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequestError(f"form field {key[:40]!r} given twice")
        form[key] = value
    if "payload" in form:
        try:
            return _INTERACTIVE.validate_json(form["payload"])
        except ValidationError as exc:
            raise InvalidRequestError(f"interactive payload: {first_error(exc)}") from None
    if "command" in form:
        try:
            return SlashCommand.model_validate(form)
        except ValidationError as exc:
            raise InvalidRequestError(f"slash command: {first_error(exc)}") from None
    if form.get("ssl_check") == "1":
        return None
    raise InvalidRequestError("neither a slash command nor an interactive payload")


def parse_value(value: str) -> tuple[IncidentId, int] | None:
    """A button's value → (incident, proposal revision); None when it is not one AEGIS wrote."""
    try:
        parsed = ButtonValue.model_validate_json(value)
    except ValidationError:
        return None
    return IncidentId(parsed.incident), parsed.rev


def parse_metadata(metadata: str) -> RejectMetadata | None:
    try:
        return RejectMetadata.model_validate_json(metadata)
    except ValidationError:
        return None


def first_error(exc: ValidationError) -> str:
    """Where and what, without the input: `user: Input should be an object`."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where[:120]}: {first['msg'][:200]}"


def as_bolt_body(request: SlackRequest) -> dict[str, Any]:
    """What Bolt dispatches on: only the validated fields (unknown ones never reach it)."""
    return request.model_dump(mode="json", exclude_none=True)
