"""Pure rendering: models in, text or Block Kit out. No I/O here."""
