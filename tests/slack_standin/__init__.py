"""A Slack Web API stand-in for tests: real HTTP on loopback, Slack's checks, and a recorder.

The bot's `SlackChatClient` points at `SlackStandIn.url` through its `base_url`; the fixtures in
`tests.slack_standin.fixtures` start one per test.
"""

from tests.slack_standin.server import DEFAULT_TOKEN, Message, RecordedRequest, Recorder, SlackStandIn, UploadedFile

__all__ = ["DEFAULT_TOKEN", "Message", "RecordedRequest", "Recorder", "SlackStandIn", "UploadedFile"]
