"""The Slack stand-in fixtures for these tests (the root conftest may load them as a plugin instead)."""

from tests.slack_standin.fixtures import slack_client, slack_standin

__all__ = ["slack_client", "slack_standin"]
