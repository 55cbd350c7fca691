"""Slack's message limits, checked the way Slack checks them: an error code and pointer messages.

`check_message` returns None when Slack would accept the message, else `(error, messages)`, e.g.
`("invalid_blocks", ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"])`.
The limits are Slack's published Block Kit limits; only those AEGIS can hit are checked.
"""

from __future__ import annotations

import json
from typing import Any

MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
KNOWN_BLOCKS = {
    "actions", "context", "context_actions", "divider", "file", "header", "image", "input",
    "markdown", "rich_text", "section", "table", "video", "call",
}  # fmt: skip

Problem = tuple[str, list[str]]


def parse_blocks(raw: Any) -> tuple[list[dict[str, Any]] | None, Problem | None]:
    """Blocks arrive as a JSON list (JSON bodies) or as a JSON string (form bodies)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, ("invalid_blocks", ["[ERROR] failed to parse blocks as JSON [json-pointer:/blocks]"])
    if not isinstance(raw, list):
        return None, ("invalid_blocks", ["[ERROR] must be an array [json-pointer:/blocks]"])
    for index, block in enumerate(raw):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return None, ("invalid_blocks", [f"[ERROR] missing required field: type [json-pointer:/blocks/{index}]"])
    return raw, None


def check_message(text: Any, blocks: Any, *, max_blocks: int = MAX_BLOCKS) -> Problem | None:
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return "msg_too_long", []
    if blocks is None:
        return None
    parsed, problem = parse_blocks(blocks)
    if problem is not None:
        return problem
    assert parsed is not None
    errors = check_blocks(parsed, max_blocks=max_blocks)
    return ("invalid_blocks", errors) if errors else None


def check_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = MAX_BLOCKS, where: str = "/blocks") -> list[str]:
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:{where}]")
    for index, block in enumerate(blocks):
        errors += _check_block(block, f"{where}/{index}")
    return errors


def _too_long(value: Any, limit: int, pointer: str) -> list[str]:
    if isinstance(value, str) and len(value) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"]
    return []


def _text_of(obj: Any) -> Any:
    return obj.get("text") if isinstance(obj, dict) else None


def _check_block(block: dict[str, Any], at: str) -> list[str]:
    kind = block["type"]
    if kind not in KNOWN_BLOCKS:
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{at}/type]"]
    errors = _too_long(block.get("block_id"), 255, f"{at}/block_id")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"[ERROR] must provide either text or fields [json-pointer:{at}]")
        errors += _too_long(_text_of(block.get("text")), 3000, f"{at}/text/text")
        fields = block.get("fields") or []
        if len(fields) > 10:
            errors.append(f"[ERROR] no more than 10 items allowed [json-pointer:{at}/fields]")
        for i, f in enumerate(fields):
            errors += _too_long(_text_of(f), 2000, f"{at}/fields/{i}/text")
        if isinstance(block.get("accessory"), dict):
            errors += _check_element(block["accessory"], f"{at}/accessory")
    elif kind == "header":
        text = block.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            errors.append(f"[ERROR] must be a plain_text object [json-pointer:{at}/text]")
        errors += _too_long(_text_of(text), 150, f"{at}/text/text")
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements:
            errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{at}/elements]")
        if len(elements) > 25:
            errors.append(f"[ERROR] no more than 25 items allowed [json-pointer:{at}/elements]")
        for i, element in enumerate(elements):
            errors += _check_element(element, f"{at}/elements/{i}")
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > 10:
            errors.append(f"[ERROR] must provide between 1 and 10 items [json-pointer:{at}/elements]")
        for i, element in enumerate(elements):
            errors += _too_long(_text_of(element), 3000, f"{at}/elements/{i}/text")
    return errors


def _check_element(element: Any, at: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"[ERROR] missing required field: type [json-pointer:{at}]"]
    errors = _too_long(element.get("action_id"), 255, f"{at}/action_id")
    if element["type"] == "button":
        errors += _too_long(_text_of(element.get("text")), 75, f"{at}/text/text")
        errors += _too_long(element.get("value"), 2000, f"{at}/value")
        errors += _too_long(element.get("url"), 3000, f"{at}/url")
        confirm = element.get("confirm")
        if isinstance(confirm, dict):
            errors += _too_long(_text_of(confirm.get("title")), 100, f"{at}/confirm/title/text")
            errors += _too_long(_text_of(confirm.get("text")), 300, f"{at}/confirm/text/text")
    return errors
