"""manifest.yaml declares the /aegis command, interactivity, socket mode and exactly the scopes the Web API calls need."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
# Slack's scope for each Web API method AEGIS calls (views.open and auth.test need none).
SCOPE_OF = {
    "chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
    "files.getUploadURLExternal": "files:write", "files.completeUploadExternal": "files:write",
    "usergroups.users.list": "usergroups:read", "views.open": None, "auth.test": None, "users.info": "users:read.email",
}  # fmt: skip


def test_manifest_matches_what_the_code_calls() -> None:
    """Every method the Slack client calls is covered by a declared scope, and no scope is declared without a use."""
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    source = (ROOT / "bot" / "slack_client.py").read_text()
    called = {m for m in SCOPE_OF if re.search(rf"\b{re.escape(m)}\b|{re.escape(m.replace('.', '_'))}", source)}
    assert called >= {"chat.postMessage", "chat.update", "chat.postEphemeral", "usergroups.users.list", "views.open"}
    needed = {SCOPE_OF[m] for m in called} - {None} | {"commands"}
    if "users:read.email" in needed:
        needed.add("users:read")  # Slack grants users:read.email only with users:read
    assert scopes == needed
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/aegis"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
