"""The bearer token `aegis mcp --http` requires (AEGIS_MCP_TOKEN), checked by the MCP SDK's own middleware.

The SDK's resource-server plumbing answers 401 with a WWW-Authenticate header when the token is
missing or wrong; here is only the verifier (a constant-time comparison with the one configured
token) and the start-up rule: serving HTTP without a token is refused, naming the variable.
"""

from __future__ import annotations

import hmac

from mcp.server.auth.provider import AccessToken

from aegis.core.config import Settings
from aegis.core.errors import ConfigError

CLIENT_ID = "aegis-mcp-client"
MIN_TOKEN_LENGTH = 16


class StaticTokenVerifier:
    """Accepts exactly the configured token (the SDK's TokenVerifier protocol)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id=CLIENT_ID, scopes=[])
        return None


def required_token(settings: Settings) -> str:
    """The token HTTP clients must send; ConfigError naming AEGIS_MCP_TOKEN when it is unset or weak."""
    token = settings.mcp_token.get_secret_value().strip() if settings.mcp_token else ""
    if not token:
        raise ConfigError(
            "AEGIS_MCP_TOKEN: required with `aegis mcp --http` (clients send it as 'Authorization: Bearer TOKEN'); "
            "set it, e.g. to the output of `openssl rand -hex 32`, or use stdio (no --http)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"AEGIS_MCP_TOKEN: too short ({len(token)} characters); use at least {MIN_TOKEN_LENGTH}, e.g. `openssl rand -hex 32`")
    return token


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[::1]:PORT') → (host, port); UsageError-class ConfigError saying how to write it."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--http: {text!r} is not HOST:PORT (e.g. 127.0.0.1:8765)")
    return host, int(port)
