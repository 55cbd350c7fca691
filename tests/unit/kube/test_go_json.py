"""Request bodies are encoded as kube-apiserver encodes objects, so JSON-patch `test` values match byte for byte."""

from __future__ import annotations

import json

from aegis.core.kube.live import go_json


def test_strings_are_encoded_as_go_writes_them() -> None:
    """UTF-8 kept, <, >, & and the two line separators escaped, control characters as Go writes them; no spaces."""
    assert go_json({"c": "a && b > f <x>"}) == b'{"c":"a \\u0026\\u0026 b \\u003e f \\u003cx\\u003e"}'
    assert go_json(["Zoë", "\u2028\u2029", "\b\f\n\x01"]) == '["Zoë","\\u2028\\u2029","\\b\\f\\n\\u0001"]'.encode()


def test_the_encoding_is_still_the_same_json() -> None:
    value = {"spec": {"replicas": 2, "ratio": 0.5, "paused": False, "note": None, "cmd": ["sh", "-c", "x & y"]}}
    assert json.loads(go_json(value)) == value
