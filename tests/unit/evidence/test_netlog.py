"""Network and API-permission failures are read from what real runtimes print, with the host, port and permission they name."""

from __future__ import annotations

import pytest

from aegis.core.evidence import netlog

DNS = [
    # Go net package
    ("dial tcp: lookup paymnets-api on 10.96.0.10:53: no such host", "paymnets-api"),
    ('Get "http://ledgr:8080/v1": dial tcp: lookup ledgr on 10.96.0.10:53: no such host', "ledgr"),
    ("lookup redis.cache.svc.cluster.local: no such host", "redis.cache.svc.cluster.local"),
    ("dial tcp: lookup catalog on 10.96.0.10:53: server misbehaving", "catalog"),
    # Python: urllib3 2.x / requests, socket, psycopg (libpq)
    (
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='ledger', port=8080): Max retries exceeded with url: /x "
        "(Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f2>: Failed to resolve 'ledger' "
        '([Errno -2] Name or service not known)"))',
        "ledger",
    ),
    ('psycopg2.OperationalError: could not translate host name "pg-primary" to address: Temporary failure in name resolution', "pg-primary"),
    # Java
    ("java.net.UnknownHostException: orders-db: Name or service not known", "orders-db"),
    ("Caused by: java.net.UnknownHostException: kafka-0.kafka-headless", "kafka-0.kafka-headless"),
    # Node.js
    ("Error: getaddrinfo ENOTFOUND redis-master", "redis-master"),
    ("Error: getaddrinfo EAI_AGAIN search-api", "search-api"),
    # curl, .NET
    ("curl: (6) Could not resolve host: search-api", "search-api"),
    ("System.Net.Http.HttpRequestException: No such host is known. (inventory:80)", "inventory"),
]


@pytest.mark.parametrize(("line", "host"), DNS)
def test_name_resolution_failures(line: str, host: str) -> None:
    """A failed lookup is 'dns' and names the host that did not resolve."""
    found = netlog.failures(line)
    assert [(f.kind, f.host) for f in found] == [("dns", host)]


def test_python_gaierror_borrows_the_host_from_the_traceback() -> None:
    """socket.gaierror names no host; the URL a few lines earlier does."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "/app/client.py", line 12, in fetch\n'
        "    resp = urlopen('http://pricing-engine:9000/quote')\n"
        "socket.gaierror: [Errno -2] Name or service not known\n"
    )
    assert [(f.kind, f.host, f.port) for f in netlog.failures(text)] == [("dns", "pricing-engine", 9000)]


@pytest.mark.parametrize(
    ("line", "kind", "host", "port"),
    [
        ('Get "http://payments-api:8080/charge": dial tcp 10.96.12.7:8080: connect: connection refused', "refused", "payments-api", 8080),
        ("dial tcp 10.96.12.7:8080: connect: connection refused", "refused", "10.96.12.7", 8080),
        ("Error: connect ECONNREFUSED 10.96.3.4:6379", "refused", "10.96.3.4", 6379),
        (
            "urllib3.exceptions.NewConnectionError: <urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "
            "connection: [Errno 111] Connection refused (host='inventory', port=8000)",
            "refused",
            "inventory",
            8000,
        ),
        ('psql: error: connection to server at "postgres" (10.96.0.5), port 5432 failed: Connection refused', "refused", "postgres", 5432),
        ("java.net.ConnectException: Connection refused: catalog/10.96.1.1:8080", "refused", "catalog", 8080),
        ('Post "http://ledger:8080/entries": dial tcp 10.96.5.6:8080: i/o timeout', "timeout", "ledger", 8080),
        ("dial tcp 10.96.5.6:8080: connect: connection timed out", "timeout", "10.96.5.6", 8080),
        ("Error: connect ETIMEDOUT 10.96.3.4:6379", "timeout", "10.96.3.4", 6379),
        (
            "urllib3.exceptions.ConnectTimeoutError: (<urllib3.connection.HTTPConnection object at 0x7f>, "
            "'Connection to inventory timed out. (connect timeout=5)')",
            "timeout",
            "inventory",
            None,
        ),
        ("lookup ledger on 10.96.0.10:53: read udp 10.244.0.5:41234->10.96.0.10:53: i/o timeout", "dns_timeout", "ledger", None),
    ],
)
def test_refused_and_timed_out_connections(line: str, kind: str, host: str, port: int | None) -> None:
    """Refusals, connect timeouts and resolver timeouts are told apart, with host and port."""
    found = netlog.failures(line)
    assert [(f.kind, f.host, f.port) for f in found] == [(kind, host, port)]


@pytest.mark.parametrize(
    "line",
    [
        "INFO connected to payments-api:8080",
        "WARN request took 5s; the upstream answered 504 Gateway Timeout",
        "INFO cache miss for key orders:1234, fetching",
        "ERROR order 42 rejected: card declined",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    ],
)
def test_ordinary_lines_are_not_network_failures(line: str) -> None:
    """Lines that merely mention hosts, timeouts or errors are not connection failures."""
    assert netlog.failures(line) == []


def test_forbidden_from_client_go_python_and_events() -> None:
    """The API server's refusal is read with its user, verb, resource, group and scope, escaped or not."""
    go = (
        'E1204 reflector.go:166] "Unhandled Error" err="failed to list *v1.Pod: pods is forbidden: User '
        '\\"system:serviceaccount:shop:pod-watcher\\" cannot list resource \\"pods\\" in API group \\"\\" in the namespace \\"shop\\""'
    )
    python = (
        'kubernetes.client.exceptions.ApiException: (403) Reason: Forbidden HTTP response body: {"kind":"Status","message":'
        '"leases.coordination.k8s.io \\"leader\\" is forbidden: User \\"system:serviceaccount:shop:elector\\" cannot update resource '
        '\\"leases\\" in API group \\"coordination.k8s.io\\" in the namespace \\"shop\\"","reason":"Forbidden","code":403}'
    )
    cluster = 'nodes is forbidden: User "system:serviceaccount:monitoring:agent" cannot list resource "nodes" in API group "" at the cluster scope'
    sub = 'pods "web-0" is forbidden: User "system:serviceaccount:ops:debugger" cannot create resource "pods/exec" in API group "" in the namespace "ops"'
    got = [netlog.forbidden(t)[0] for t in (go, python, cluster, sub)]
    assert [(f.service_account, f.verb, f.resource, f.group, f.namespace) for f in got] == [
        (("shop", "pod-watcher"), "list", "pods", "", "shop"),
        (("shop", "elector"), "update", "leases", "coordination.k8s.io", "shop"),
        (("monitoring", "agent"), "list", "nodes", "", None),
        (("ops", "debugger"), "create", "pods/exec", "", "ops"),
    ]
    assert got[1].name == "leader"


def test_forbidden_ignores_other_403s() -> None:
    """A 403 from another HTTP service is not a Kubernetes RBAC refusal."""
    assert netlog.forbidden("HTTP 403 Forbidden: AccessDenied: User: arn:aws:sts::1:assumed-role/x is not authorized to perform: s3:PutObject") == []
    assert netlog.forbidden('{"error": "forbidden", "user": "alice"}') == []


@pytest.mark.parametrize(
    ("host", "service"),
    [
        ("ledger", ("shop", "ledger")),
        ("ledger.billing", ("billing", "ledger")),
        ("ledger.billing.svc", ("billing", "ledger")),
        ("ledger.billing.svc.cluster.local", ("billing", "ledger")),
        ("api.example.com", None),
        ("10.96.0.1", None),
    ],
)
def test_service_of(host: str, service: tuple[str, str] | None) -> None:
    """In-cluster names map to (namespace, Service); outside names and IPs do not."""
    assert netlog.service_of(host, "shop") == service
