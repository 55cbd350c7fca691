"""Redaction: secret values never leave this process in evidence, output, logs or prompts.

Two layers. `mask(text)` removes what looks secret in free text (bearer tokens, passwords in
URLs, key=value credentials, private keys, well-known token shapes, and any value a Redactor was
told is secret). `redact_object(obj)` walks a Kubernetes object and replaces Secret data, env values
whose names look secret, and credentials inside strings. Marker text is fixed so tests can look for it.

It masks values, never the words around them: object names (`auth-service`, `token-exchange`),
image references (`oauth2-proxy:v7.6.0`), counts and the kubelet's, scheduler's and controllers'
own message words (`secret "api-keys" not found`) are the evidence a diagnosis rests on. So a
credential key must *end* with a credential word (`db_password`, `clientSecret`, not
`auth-service`), `key: value` needs a space or a quoted key (an image's `name:tag` has neither),
Go's ` : ` between a volume and its error is no separator, and a token must look like one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

MARKER = "[REDACTED]"

# The last word of a name that holds a credential: DB_PASSWORD, clientSecret, API_KEY, auth.
_CREDENTIAL_WORD = (
    r"passw(?:or)?d|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
    r"secret[_-]?key|signing[_-]?key|credentials?|auth|cookie|session[_-]?id|dsn|"
    r"conn(?:ection)?[_-]?str(?:ing)?"
)
# Env var / key names whose values are secret by convention: judged by the name's last word(s).
_SECRET_NAME = re.compile(rf"(?i:{_CREDENTIAL_WORD})$|(?i:(?:^|[_.-])key)$|[a-z0-9]Key$")

# A value that looks like a token: long, or with a digit in it (so "token expired" stays readable).
_TOKENISH = r"(?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{24,}"

_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # An Authorization header's whole value, whatever its scheme (Basic's base64 looks like a word).
    (
        re.compile(r"(?i)\b(authorization)([\"']?\s*[:=]\s*)(?:(bearer|basic|digest|token|negotiate)\s+)?[^\s\"',;]+"),
        lambda m: f"{m[1]}{m[2]}{m[3] + ' ' if m[3] else ''}{MARKER}",
    ),
    # PEM private keys, whole block.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
        MARKER,
    ),
    # Authorization schemes and bearer tokens: the scheme word stays, the credential goes.
    (re.compile(rf"\b(bearer|basic|token)(\s+)({_TOKENISH})", re.IGNORECASE), rf"\1\2{MARKER}"),
    # user:password@host in URLs (keep the user, drop the password).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@"), rf"\1:{MARKER}@"),
    # key=value, "key": value, key: value for keys that end with a credential word. A colon needs a
    # quoted key or a following space (image `auth:v1` has neither); Go's `"vol" : secret` is no key.
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]*(?:{_CREDENTIAL_WORD}))"
            r"(\s*=\s*|[\"']:\s*|:\s+)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}]+)"
        ),
        rf"\1\2{MARKER}",
    ),
    # Well-known token shapes: JWTs, Slack tokens, AWS access key ids, GitHub tokens, Stripe-style keys.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MARKER),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"), MARKER),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), MARKER),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MARKER),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"), MARKER),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), MARKER),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b"), MARKER),
]

# Object fields that hold names, references and counts, never a credential: kept as they are.
_VERBATIM_FIELDS = frozenset(
    {"name", "namespace", "generateName", "uid", "resourceVersion", "kind", "apiVersion", "image", "imageID",
     "containerID", "nodeName", "serviceAccountName", "serviceAccount", "hostIP", "podIP", "claimName",
     "secretName", "storageClassName", "volumeName", "labels", "matchLabels", "selector", "ownerReferences"}
)  # fmt: skip

# A known secret value this plain (a word, a number, a host name) would mask ordinary evidence
# wherever it appears (a Secret holding DB_HOST=postgres, USER=admin); it is masked only where a
# credential pattern puts it, not verbatim everywhere.
_PLAIN_VALUE = re.compile(r"^(?:[A-Za-z]+|[0-9]+|[a-z0-9-]+(?:\.[a-z0-9-]+)+|true|false)$")


def _parts_of(value: str) -> list[str]:
    """Pieces of a secret value that apps print on their own: the password inside a URL."""
    parts = []
    for match in re.finditer(r"[a-z][a-z0-9+.-]*://[^\s:/@]*:([^\s@/]+)@", value, re.IGNORECASE):
        parts.append(match.group(1))
    return parts


# A strong credential word anywhere in a name (SECRET_KEY_BASE, GITHUB_TOKEN_VALUE) makes it secret,
# unless the name's last word says the value is about the credential, not the credential itself.
_STRONG_WORD = re.compile(
    r"(?i)(?:^|[_.-]|(?<=[a-z0-9])(?=[A-Z]))(?:passw(?:or)?d|passwd|secret|token|api[_-]?key|private[_-]?key|credentials?)(?=$|[_.-]|[A-Z])"
)
_ABOUT_SUFFIX = re.compile(
    r"(?i)(?:^|[_.-]|(?<=[a-z0-9])(?=[A-Z]))(?:url|uri|name|file|path|dir|ttl|timeout|host|port|endpoint|enabled|type|length|"
    r"expiry|expires|version|header|mode|seconds|ms|minutes|hours|days|size|count|ref|location|audience|issuer|scope|refs?)$"
)


def is_secret_name(name: str) -> bool:
    """True when a variable or key name conventionally holds a secret: its last word says so, or it carries a
    strong credential word and does not end in a word saying the value is about it (a URL, a file, a TTL)."""
    name = name.strip()
    return bool(_SECRET_NAME.search(name)) or (bool(_STRONG_WORD.search(name)) and not _ABOUT_SUFFIX.search(name))


def _is_verbatim_worthy(value: str) -> bool:
    return len(value) >= 6 and not _PLAIN_VALUE.match(value)


class Redactor:
    """Masks secret-looking text plus any literal values it has been told are secret."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        values = {part for s in known_secrets for part in (s, *_parts_of(s))}
        self._known = sorted({v for v in values if _is_verbatim_worthy(v)}, key=len, reverse=True)
        # Whole values only: a secret "s3cr3t-x" must not eat part of "s3cr3t-xy-service".
        self._known_re = re.compile("|".join(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])" for v in self._known)) if self._known else None

    def with_secrets(self, values: Iterable[str]) -> Redactor:
        return Redactor([*self._known, *values])

    def mask(self, text: str) -> str:
        if self._known_re is not None:
            text = self._known_re.sub(MARKER, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of a Kubernetes object with every secret value replaced by MARKER."""
        out = copy.deepcopy(obj)
        if out.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if isinstance(out.get(field), dict):
                    out[field] = {key: MARKER for key in out[field]}
        annotations = out.get("metadata", {}).get("annotations")
        if isinstance(annotations, dict):
            # last-applied-configuration repeats the whole object, Secret data included.
            annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        redacted: dict[str, Any] = self._walk(out)
        return redacted

    def _walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            if "name" in node and "value" in node and isinstance(node.get("name"), str):
                # An env var entry: mask by name, and mask credentials inside any value.
                node = dict(node)
                if is_secret_name(node["name"]) and node["value"] not in (None, ""):
                    node["value"] = MARKER
            return {key: (value if key in _VERBATIM_FIELDS and _is_plain(value) else self._walk(value)) for key, value in node.items()}
        if isinstance(node, list):
            return [self._walk(item) for item in node]
        if isinstance(node, str):
            return self.mask(node)
        return node


def _is_plain(value: Any) -> bool:
    """Names, references and label maps: strings (or maps/lists of them) with no spaces or URLs."""
    if isinstance(value, str):
        return "://" not in value and not any(ch.isspace() for ch in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float)


_default = Redactor()


def mask(text: str) -> str:
    """Mask secret-looking text with the default (pattern-only) redactor."""
    return _default.mask(text)


def redact_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Redact a Kubernetes object with the default (pattern-only) redactor."""
    return _default.redact_object(obj)
