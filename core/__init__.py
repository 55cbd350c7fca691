"""AEGIS core: everything that is not Slack and can run from a CLI or a test."""
