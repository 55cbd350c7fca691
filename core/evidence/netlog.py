"""Read network and API-permission failures out of application logs and events: pure text parsing.

What the runtimes really print, not one example's wording:
- DNS: Go's net package (`dial tcp: lookup HOST on 10.96.0.10:53: no such host`, `lookup HOST: i/o
  timeout`, `server misbehaving`), glibc through Python, Ruby, Rust and libpq (`Name or service not
  known`, `Temporary failure in name resolution`, `No address associated with hostname`, urllib3's
  `Failed to resolve 'HOST'`, libpq's `could not translate host name "HOST" to address`), Java's
  `UnknownHostException: HOST`, Node's `getaddrinfo ENOTFOUND HOST` / `EAI_AGAIN`, curl's
  `Could not resolve host: HOST`, .NET's `No such host is known`, and NXDOMAIN.
- refused: `connect: connection refused`, `[Errno 111] Connection refused`, `ECONNREFUSED`,
  `java.net.ConnectException: Connection refused`.
- unreachable: `connect: no route to host`, `EHOSTUNREACH`, `[Errno 113] Host is unreachable`.
- timeout: Go's `dial tcp IP:PORT: i/o timeout` / `connect: connection timed out`, `[Errno 110]`,
  urllib3's `ConnectTimeoutError` / `Connection to HOST timed out`, `ETIMEDOUT`,
  `SocketTimeoutException: connect timed out`, `context deadline exceeded` on a dial.
- forbidden: the API server's `User "system:serviceaccount:NS:SA" cannot VERB resource "R" in API
  group "G" in the namespace "NS"` (or `at the cluster scope`), also JSON-escaped inside a client's
  exception text.
Hosts and ports are taken from the same line: URLs, `host='H', port=P` (urllib3), `dial tcp H:P`,
`ECONNREFUSED H:P`, `connection to server at "H" …, port P` (libpq), Java's `H/IP:PORT`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# dns: the name does not resolve; dns_timeout: the resolver itself does not answer (blocked port 53);
# unreachable: an ICMP host-unreachable came back (a policy that rejects rather than drops, a peer IP that is gone).
FailureKind = Literal["dns", "dns_timeout", "refused", "timeout", "unreachable"]

_DNS = re.compile(
    r"no such host|name or service not known|temporary failure in name resolution|no address associated with hostname|"
    r"nodename nor servname provided|unknownhostexception|getaddrinfo (?:enotfound|eai_again)|could not resolve host|"
    r"failed to resolve|could not translate host name|no such host is known|nxdomain|name does not resolve|"
    r"lookup \S+(?: on \S+)?: (?:server misbehaving|i/o timeout|read udp)|"
    r"bad address '|can't resolve '|unknown (?:mysql )?server host '",
    re.IGNORECASE,
)
_DNS_TIMEOUT = re.compile(r"lookup \S+(?: on \S+)?: (?:read udp \S+: )?i/o timeout|no servers could be reached", re.IGNORECASE)
_REFUSED = re.compile(
    r"connection refused|econnrefused|errno 111\b|error 111 connecting|connection to \S+ refused|server on '[^']+' \(111\)",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(r"no route to host|ehostunreach|host is unreachable|errno 113\b", re.IGNORECASE)
_TIMEOUT = re.compile(
    r"i/o timeout|connection timed out|connect timed out|connecttimeout|etimedout|errno 110\b|"
    r"connection to \S+ timed out|timed out (?:after \S+ )?(?:while )?connecting|context deadline exceeded",
    re.IGNORECASE,
)

# Where the host (and port) is named, most specific first. Each pattern has groups host and maybe port.
_HOST_PATTERNS = [
    re.compile(r"lookup ([A-Za-z0-9_.-]+)(?: on [0-9.:\[\]a-f]+)?:"),
    re.compile(r"(?:bad address|can't resolve|server can't find) '?([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)'?"),
    re.compile(r"Unknown (?:MySQL )?server host '([A-Za-z0-9_.-]+)'"),
    re.compile(r"(?:[Cc]onnection to|connecting to|TCP connection to) ([A-Za-z0-9_.-]+):(\d+)"),
    re.compile(r"Can't connect to (?:MySQL )?server on '([A-Za-z0-9_.-]+)(?::(\d+))?'"),
    re.compile(r"connect\(2\) for \"?([A-Za-z0-9_.-]+)\"? port (\d+)"),
    re.compile(r"[Ff]ailed to connect to ([A-Za-z0-9_.-]+) port (\d+)"),
    re.compile(r"running on host \"([A-Za-z0-9_.-]+)\""),
    re.compile(r"reach database server at `([A-Za-z0-9_.-]+)`:`(\d+)`"),
    re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*):(\d+): \[Errno"),
    re.compile(r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) ([A-Za-z0-9_.-]+)"),
    re.compile(r"UnknownHostException: ([A-Za-z0-9_.-]+)"),
    re.compile(r"[Ff]ailed to resolve '([A-Za-z0-9_.-]+)'"),
    re.compile(r"[Cc]ould not resolve host:? '?([A-Za-z0-9_.-]+)"),
    re.compile(r"could not translate host name \"([A-Za-z0-9_.-]+)\""),
    re.compile(r"host='([A-Za-z0-9_.-]+)', port=(\d+)"),
    re.compile(r"connection to server at \"([A-Za-z0-9_.-]+)\"(?: \([0-9a-f.:]+\))?, port (\d+)"),
    re.compile(r"Connection to ([A-Za-z0-9_.-]+) timed out"),
    re.compile(r"[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?([A-Za-z0-9_.-]+)(?::(\d+))?"),
    re.compile(r"(?:dial tcp|dial udp|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|[Cc]onnect to) \[?([A-Za-z0-9_.-]+?)\]?:(\d+)"),
    re.compile(r"([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)/[0-9.]+:(\d+)"),  # Java: host/10.96.0.12:8080
    re.compile(r"No such host is known\.? \(([A-Za-z0-9_.-]+)(?::(\d+))?\)"),
]

_FORBIDDEN = re.compile(
    r"(?:(?P<what>[a-z0-9.-]+(?:/[a-z0-9.-]+)?)(?: \\?\"(?P<obj>[^\"\\]+)\\?\")? is forbidden: )?"
    r"User \\?\"(?P<user>[^\"\\]+)\\?\" cannot (?P<verb>[a-z]+) resource \\?\"(?P<resource>[^\"\\]+)\\?\""
    r" in API group \\?\"(?P<group>[^\"\\]*)\\?\"(?: in the namespace \\?\"(?P<namespace>[^\"\\]+)\\?\"| (?P<cluster>at the cluster scope))?"
)


@dataclass(frozen=True)
class NetFailure:
    """One failed connection or name lookup an application logged."""

    kind: FailureKind
    host: str  # as logged: a name, an FQDN or an IP ("" when the line names none)
    port: int | None
    line: str
    host_from: str = ""  # when the line named no host: the configuration that names the only peer (see `attribute`)

    @property
    def provenance(self) -> str:
        """How the host was known, for a report: empty when the log line names it."""
        return f" (the log names no host; {self.host_from} names the container's only peer)" if self.host_from else ""


@dataclass(frozen=True)
class Forbidden:
    """One request the API server refused: who, which verb, which resource, where."""

    user: str
    verb: str
    resource: str  # may carry a subresource: pods/log
    group: str
    namespace: str | None  # None: cluster scope
    name: str | None  # the object's name when the request named one
    line: str

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when the user is a ServiceAccount."""
        parts = self.user.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            return parts[2], parts[3]
        return None


_JSON_ESCAPES = {'\\"': '"', "\\u0027": "'", "\\u003c": "<", "\\u003e": ">", "\\u0026": "&", "\\t": " ", "\\/": "/", "\\n": "\n"}


def plain(line: str) -> str:
    """A log line as its writer meant it: the string escapes a JSON logger (zap, zerolog, logrus, pino, structlog) adds undone.

    An escaped newline (a traceback logged as one JSON field) becomes a real one: callers split the result into lines.
    """
    if "\\" not in line:
        return line
    for escaped, char in _JSON_ESCAPES.items():
        line = line.replace(escaped, char)
    return line


# glibc's EAI_AGAIN ("Temporary failure in name resolution", Node's EAI_AGAIN) and Go's "server misbehaving"
# (SERVFAIL) say the resolver did not answer usefully, not that the name does not exist (EAI_NONAME, NXDOMAIN).
_RESOLVER_TROUBLE = re.compile(r"temporary failure in name resolution|eai_again|server misbehaving|\[errno -3\]|servfail", re.IGNORECASE)


def resolver_trouble(line: str) -> bool:
    """Whether a failed lookup blames the resolver (no answer, SERVFAIL) rather than the name."""
    return bool(_RESOLVER_TROUBLE.search(line))


def classify(line: str) -> FailureKind | None:
    """The kind of failure a line reports, or None. A lookup that times out is the resolver's, not the peer's."""
    if _DNS_TIMEOUT.search(line):
        return "dns_timeout"
    if _DNS.search(line):
        return "dns"
    if _REFUSED.search(line):
        return "refused"
    if _UNREACHABLE.search(line):
        return "unreachable"
    if _TIMEOUT.search(line) and (_host_port(line)[0] or "dial" in line or "connect" in line.lower()):
        return "timeout"
    return None


def _host_port(line: str) -> tuple[str, int | None]:
    for pattern in _HOST_PATTERNS:
        match = pattern.search(line)
        if match:
            host = match.group(1).rstrip(".")
            port = int(match.group(2)) if match.lastindex and match.lastindex >= 2 and match.group(2) else None
            if host.lower() in ("localhost", "tcp", "udp"):
                continue
            return host, port
    return "", None


def failures(text: str) -> list[NetFailure]:
    """Every network failure in a log, in order; a line without a host borrows one from the lines just before."""
    found: list[NetFailure] = []
    lines = [line for raw in text.splitlines() for line in plain(raw).splitlines()]
    for i, line in enumerate(lines):
        kind = classify(line)
        if kind is None:
            continue
        host, port = _host_port(line)
        if not host:
            # Python tracebacks and Java "Caused by" chains name the host a few lines earlier or later.
            for near in [*reversed(lines[max(0, i - 4) : i]), *lines[i + 1 : i + 3]]:
                host, port = _host_port(near)
                if host:
                    break
        found.append(NetFailure(kind=kind, host=host, port=port, line=line.strip()[:400]))
    return found


# A peer in a container's configuration: a URL, or host:port, as an env value or an argument.
_CONFIG_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^\s/@]*@)?([A-Za-z0-9_.-]+)(?::(\d+))?(?:[/?#]\S*)?$")
_CONFIG_HOST_PORT = re.compile(r"^([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*):(\d{1,5})$")
_CONFIG_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*$")
_HOST_VARIABLE = re.compile(r"(?:^|_)(?:HOST|HOSTNAME|ADDR|ADDRESS|SERVER|ENDPOINT|URL|URI|DSN)$", re.IGNORECASE)
_LOCAL = ("localhost", "127.0.0.1", "0.0.0.0", "::1")  # noqa: S104  # addresses a peer is not, nothing binds here


def configured_peers(container: dict[str, Any]) -> dict[str, tuple[int | None, str]]:
    """host -> (port, where) for each peer a container's env values and arguments name.

    URLs and host:port anywhere; a bare host name only in a variable named like one (DB_HOST,
    PAYMENTS_ADDR), its port from the sibling …_PORT. Values from Secrets or ConfigMaps are not
    read here (valueFrom), nor are local addresses.
    """
    env = [e for e in container.get("env") or [] if isinstance(e, dict)]
    values = {str(e.get("name")): e["value"].strip() for e in env if isinstance(e.get("value"), str)}
    peers: dict[str, tuple[int | None, str]] = {}

    def note(host: str, port: int | None, where: str) -> None:
        if host.lower() not in _LOCAL and host not in peers:
            peers[host] = (port, where)

    for name, value in values.items():
        url = _CONFIG_URL.match(value) or _CONFIG_HOST_PORT.match(value)
        if url:
            note(url.group(1), int(url.group(2)) if url.group(2) else None, f"env {name}")
        elif _HOST_VARIABLE.search(name) and _CONFIG_HOST.match(value) and not value.isdigit():
            port = values.get(re.sub(r"(?:HOST|HOSTNAME|ADDR|ADDRESS|SERVER)$", "PORT", name, flags=re.IGNORECASE), "")
            note(value, int(port) if port.isdigit() else None, f"env {name}")
    for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
        for word in re.split(r"[\s=,]+", str(arg)):
            url = _CONFIG_URL.match(word) or _CONFIG_HOST_PORT.match(word)
            if url:
                note(url.group(1), int(url.group(2)) if url.group(2) else None, "the container's arguments")
    return peers


def attribute(found: list[NetFailure], peers: Mapping[str, tuple[int | None, str]]) -> list[NetFailure]:
    """Failed connections whose line names no host, credited to the container's only configured peer.

    A Java `SocketTimeoutException: Connect timed out` or curl's `(28) Connection timed out after
    5001 milliseconds` names no host; a container configured with exactly one peer can only have
    been calling that one. With several peers (or none) the failure stays host-less: AEGIS does not guess.
    """
    if len(peers) != 1:
        return found
    ((host, (port, where)),) = peers.items()
    return [
        NetFailure(kind=f.kind, host=host, port=port, line=f.line, host_from=where) if not f.host and f.kind in ("refused", "timeout", "unreachable") else f
        for f in found
    ]


def forbidden(text: str) -> list[Forbidden]:
    """Every API request refusal in a text (logs or event messages)."""
    out = []
    for line in text.splitlines():
        for match in _FORBIDDEN.finditer(line):
            out.append(
                Forbidden(
                    user=match["user"],
                    verb=match["verb"],
                    resource=match["resource"],
                    group=match["group"],
                    namespace=None if match["cluster"] else match["namespace"],
                    name=match["obj"],
                    line=line.strip()[:400],
                )
            )
    return out


def service_of(host: str, namespace: str, cluster_domain: str = "cluster.local") -> tuple[str, str] | None:
    """(namespace, service) an in-cluster host name points at: svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local."""
    parts = host.lower().rstrip(".").split(".")
    if not parts or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", parts[0]) or parts[0].isdigit():
        return None
    suffix = ["svc", *cluster_domain.split(".")]
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2:
        return parts[1], parts[0]
    if parts[2:] == suffix[: len(parts) - 2]:
        return parts[1], parts[0]
    return None


def is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", host)) or ":" in host
