"""Who may act on incidents: Slack user ids and user groups from the policy in config.

Group membership is resolved through the ChatClient (usergroups.users.list, cached there). An
empty policy allows nobody: acting on production is opt-in.
"""

from __future__ import annotations

from aegis.bot.identity import IdentityMap
from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.incidents.view import Decision
from aegis.core.models import KubeIdentity


class Authorizer:
    """core.incidents.view.Approvals from Slack user ids and user groups, and the identity map for impersonation."""

    def __init__(self, *, approvers: list[str], approver_groups: list[str], chat: ChatClient, identities: IdentityMap | None = None) -> None:
        self._users = frozenset(approvers)
        self._groups = tuple(approver_groups)
        self._chat = chat
        self._identities = identities

    @property
    def impersonates(self) -> bool:
        return self._identities is not None

    async def identity(self, user: str) -> KubeIdentity | None:
        return await self._identities.resolve(user, self._chat) if self._identities is not None else None

    async def check(self, user: str) -> Decision:
        if user in self._users:
            return Decision(True, "listed approver")
        for group in self._groups:
            try:
                members = await self._chat.usergroup_members(group)
            except ChatError as exc:
                # A group we cannot read grants nothing; say so in the log, refuse in Slack.
                telemetry.get_logger(group=group).warning("authz.group.unreadable", error=str(exc))
                continue
            if user in members:
                return Decision(True, f"member of {group}")
        if not self._users and not self._groups:
            return Decision(False, "no approvers configured (AEGIS_APPROVERS / AEGIS_APPROVER_GROUPS)")
        return Decision(False, "not an approver")
