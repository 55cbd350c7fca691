"""The identity map: who a Slack user is in Kubernetes, so Apply and Roll back act as them (impersonation).

AEGIS_IDENTITY_MAP names a YAML file:

    users:                      # Slack user id or email -> Kubernetes identity
      U0123ABC: {user: alice, groups: [sre]}
      bob@example.com: {user: bob}
    groups:                     # Slack user-group id -> Kubernetes groups added for its members
      S0456DEF: [platform-admins]

A person is mapped by their user id first, else by the email on their Slack profile (users.info);
their groups are the entry's plus those of every mapped Slack user group they belong to. Someone in a
mapped group but with no user entry is unmapped: Kubernetes impersonates a user, never a bare group.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aegis.bot.slack_client import ChatClient, ChatError
from aegis.core import telemetry
from aegis.core.errors import ConfigError
from aegis.core.models import KubeIdentity


class IdentityMap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    users: dict[str, KubeIdentity] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> IdentityMap:
        """The map in `path`; ConfigError naming AEGIS_IDENTITY_MAP for a missing file or a bad entry."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except OSError as exc:
            raise ConfigError(f"AEGIS_IDENTITY_MAP: cannot read {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"AEGIS_IDENTITY_MAP: {path} is not YAML: {exc}") from None
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"AEGIS_IDENTITY_MAP: {path}: {where}: {error['msg']}") from None

    def kubernetes_users(self) -> list[str]:
        return sorted({identity.user for identity in self.users.values()})

    def kubernetes_groups(self) -> list[str]:
        return sorted({g for identity in self.users.values() for g in identity.groups} | {g for groups in self.groups.values() for g in groups})

    async def resolve(self, slack_user: str, chat: ChatClient) -> KubeIdentity | None:
        entry = self.users.get(slack_user)
        if entry is None and any("@" in key for key in self.users):
            try:
                email = await chat.user_email(slack_user)
            except ChatError as exc:
                telemetry.get_logger(user=slack_user).warning("identity.email.unreadable", error=str(exc))
                email = None
            entry = self.users.get(email.lower()) if email else None
            entry = entry or (self.users.get(email) if email else None)
        if entry is None:
            return None
        groups = list(entry.groups)
        for slack_group, added in self.groups.items():
            try:
                members = await chat.usergroup_members(slack_group)
            except ChatError as exc:
                # A group we cannot read adds nothing; the API server then decides on what is left.
                telemetry.get_logger(group=slack_group).warning("identity.group.unreadable", error=str(exc))
                continue
            if slack_user in members:
                groups.extend(g for g in added if g not in groups)
        return KubeIdentity(user=entry.user, groups=groups)
