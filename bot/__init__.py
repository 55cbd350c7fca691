"""AEGIS bot: the surfaces people touch (CLI now; Slack app and listeners later)."""
