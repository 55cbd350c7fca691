"""Block Kit to plain terminal text: how a Slack message reads, for `aegis demo --live`.

Pure: a message's blocks in, lines out. Slack's mrkdwn escapes are resolved the way the client
shows them (`<url|label>` reads "label", `<@U1>` reads "@U1", a date token reads its fallback);
buttons become `[ Label ]`. Block types this does not know are named, not dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# <!date^1700000000^{date_short_pretty}|fallback>, <url|label>, <@U123>, <#C123|name>, <!here>
_TOKEN = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as a person reads it in the client (formatting marks kept, link syntax resolved)."""

    def resolve(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if label:
            return label
        if target.startswith(("@", "#")):
            return target
        if target.startswith("!"):
            return "@" + target[1:].split("^", 1)[0]
        return target

    resolved = _TOKEN.sub(resolve, text)
    return resolved.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    raw = str(obj.get("text", ""))
    return mrkdwn(raw) if obj.get("type") == "mrkdwn" else raw


def block_lines(block: Mapping[str, Any]) -> list[str]:
    """One block as terminal lines."""
    kind = block.get("type")
    if kind == "header":
        title = _text_of(block.get("text"))
        return [title.upper(), "─" * min(len(title), 72)]
    if kind == "section":
        lines = _text_of(block.get("text")).splitlines()
        fields = [_text_of(f) for f in block.get("fields") or []]
        lines += [f"  {f}" for field in fields for f in field.splitlines()]
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping) and accessory.get("type") == "button":
            lines.append(_button(accessory))
        return lines
    if kind == "context":
        bits = [_text_of(e) if e.get("type") in ("mrkdwn", "plain_text") else f"[{e.get('alt_text', e.get('type'))}]" for e in block.get("elements") or []]
        return ["  " + " · ".join(b for b in bits if b)]
    if kind == "actions":
        return ["  " + "  ".join(_button(e) if e.get("type") == "button" else f"[{e.get('type')}]" for e in block.get("elements") or [])]
    if kind == "divider":
        return ["  " + "┄" * 40]
    if kind == "image":
        return [f"  [image: {block.get('alt_text', '')}]"]
    return [f"  [{kind} block]"]


def _button(element: Mapping[str, Any]) -> str:
    label = _text_of(element.get("text"))
    style = element.get("style")
    return f"[ {label} ]" + (f"({style})" if style else "")


def message_lines(text: str, blocks: Sequence[Mapping[str, Any]] | None) -> list[str]:
    """A whole message: its blocks, or its fallback text when it has none."""
    if not blocks:
        return mrkdwn(text).splitlines() or [""]
    return [line for block in blocks for line in block_lines(block)]
