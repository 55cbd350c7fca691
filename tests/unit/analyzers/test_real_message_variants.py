"""Real message variants: each failure class is recognized in the words Kubernetes, runtimes and libraries really print.

Each case rewrites one recorded incident (or a hand-built context) with another real phrasing of the
same failure and checks the category and the decisive facts (object, host, verb, tag) the report states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.core import objects
from aegis.core.analyzers import bad_command, image_pull_error, missing_env_var
from aegis.core.analyzers import unschedulable_resources as ur
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence import netlog
from aegis.core.evidence.bundle import ContainerLogs, ObjectBundle
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, Diagnosis
from tests.unit.analyzers.contexts import deployment_context, snapshot_bundle


def _report(diagnosis: Diagnosis) -> str:
    """Everything a person reads: summary, steps, manual steps, fix summary."""
    fix = diagnosis.fix.summary if diagnosis.fix else ""
    return "\n".join([diagnosis.rca.summary, *diagnosis.rca.analysis_steps, *diagnosis.manual_steps, fix])


def _rewrite(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_rewrite(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new) for k, v in value.items()}
    return value


def _swap(bundle: ObjectBundle, old: str, new: str) -> ObjectBundle:
    """The bundle with every quoted message (events, conditions, statuses, logs) saying `new` where it said `old`."""
    fields = ("pods", "events", "replicasets", "jobs", "nodes")
    update: dict[str, Any] = {f: _rewrite(getattr(bundle, f), old, new) for f in fields}
    update["workload"] = _rewrite(bundle.workload, old, new)
    update["logs"] = [log.model_copy(update={"text": log.text.replace(old, new)}) for log in bundle.logs]
    return bundle.model_copy(update=update)


def _with_log(bundle: ObjectBundle, container: str, text: str) -> ObjectBundle:
    pod = objects.name(bundle.pods[0])
    bundle.logs = [ContainerLogs(pod=pod, container=container, previous=True, text=text)]
    return bundle


def _crashed(name: str, code: int, reason: str = "Error", message: str = "") -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code, "reason": reason}
    if message:
        term["message"] = message
    return {"name": name, "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": term}}


# --- connectivity: how Go, Java, Python, Node, Ruby, libpq, MySQL, busybox say it -----------------

_NET = [
    ("dial tcp 10.0.0.5:5432: connect: connection refused", "refused", "10.0.0.5", 5432),
    ("dial tcp: lookup db.svc on 10.96.0.10:53: no such host", "dns", "db.svc", None),
    ('Get "http://api:8080/x": dial tcp 10.0.0.7:8080: i/o timeout', "timeout", "api", 8080),
    ("java.net.UnknownHostException: db: Name or service not known", "dns", "db", None),
    ("Error: getaddrinfo ENOTFOUND db", "dns", "db", None),
    ("Error: connect ECONNREFUSED 10.0.0.5:5432", "refused", "10.0.0.5", 5432),
    ("Error: connect ETIMEDOUT 10.0.0.5:5432", "timeout", "10.0.0.5", 5432),
    ('psycopg2.OperationalError: could not translate host name "postgres" to address: Name or service not known', "dns", "postgres", None),
    ("dial tcp: lookup db on 10.96.0.10:53: read udp 10.244.1.5:43210->10.96.0.10:53: i/o timeout", "dns_timeout", "db", None),
    # Failed before: the host was in a phrasing no pattern read, or the failure kind was not recognized.
    ("redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.", "refused", "redis", 6379),
    ("redis.exceptions.ConnectionError: Error -2 connecting to redis:6379. Name or service not known.", "dns", "redis", 6379),
    ("Error: Redis connection to redis:6379 failed - connect ECONNREFUSED 10.96.1.2:6379", "refused", "redis", 6379),
    ("pymongo.errors.ServerSelectionTimeoutError: mongo:27017: [Errno -2] Name or service not known", "dns", "mongo", 27017),
    ("pymongo.errors.ServerSelectionTimeoutError: mongo:27017: [Errno 111] Connection refused", "refused", "mongo", 27017),
    ("org.postgresql.util.PSQLException: Connection to db:5432 refused. Check that the hostname and port are correct", "refused", "db", 5432),
    ("curl: (7) Failed to connect to api port 8080 after 3 ms: Connection refused", "refused", "api", 8080),
    ('Errno::ECONNREFUSED: Connection refused - connect(2) for "db" port 5432', "refused", "db", 5432),
    ("Failed to open TCP connection to api:443 (getaddrinfo: Name or service not known)", "dns", "api", 443),
    ("wget: bad address 'config-server'", "dns", "config-server", None),
    ("nc: bad address 'db'", "dns", "db", None),
    ("nslookup: can't resolve 'db'", "dns", "db", None),
    ("** server can't find db.shop.svc.cluster.local: NXDOMAIN", "dns", "db.shop.svc.cluster.local", None),
    ("MySQLdb.OperationalError: (2005, \"Unknown MySQL server host 'mysql' (-2)\")", "dns", "mysql", None),
    ("ERROR 2003 (HY000): Can't connect to MySQL server on 'mysql:3306' (111)", "refused", "mysql", 3306),
    ("dial tcp 10.0.0.5:5432: connect: no route to host", "unreachable", "10.0.0.5", 5432),
    ("Error: connect EHOSTUNREACH 10.0.0.5:5432", "unreachable", "10.0.0.5", 5432),
    ("pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'mysql' ([Errno 111] Connection refused)\")", "refused", "mysql", None),
]


@pytest.mark.parametrize(("line", "kind", "host", "port"), _NET, ids=[n[0][:48] for n in _NET])
def test_network_failure_lines_name_kind_host_and_port(line: str, kind: str, host: str, port: int | None) -> None:
    """Each runtime's phrasing of a failed lookup or connection gives its kind and the host (and port) it names."""
    found = netlog.failures(line)
    assert found, line
    assert (found[0].kind, found[0].host, found[0].port) == (kind, host, port)


def test_libpq_multiline_refusal_takes_the_host_from_the_hint() -> None:
    """libpq's 'Connection refused' with 'Is the server running on host "db"' on the next line names db."""
    text = 'could not connect to server: Connection refused\n\tIs the server running on host "db" (10.1.1.1) and accepting\n\tTCP/IP connections on port 5432?'
    found = netlog.failures(text)
    assert found and found[0].kind == "refused" and found[0].host == "db"


_DNS_LOGS = [
    'FATAL: cannot reach ledgr: Get "http://ledgr:8080/": dial tcp: lookup ledgr on 10.96.0.10:53: no such host',
    'Exception in thread "main" java.net.UnknownHostException: ledgr: Name or service not known',
    "Error: getaddrinfo ENOTFOUND ledgr\n    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
    "requests.exceptions.ConnectionError: HTTPConnectionPool(host='ledgr', port=8080): Max retries exceeded with url: / "
    "(Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f>: Failed to resolve 'ledgr' "
    '([Errno -3] Temporary failure in name resolution)"))',
    "redis.exceptions.ConnectionError: Error -2 connecting to ledgr:8080. Name or service not known.",
    "wget: bad address 'ledgr:8080'",
]


@pytest.mark.parametrize("line", _DNS_LOGS, ids=range(len(_DNS_LOGS)))
async def test_dns_failure_in_any_runtime_names_the_host(line: str) -> None:
    """orders cannot resolve ledgr, in Go, Java, Node, Python and busybox words: dns_resolution_failure naming ledgr."""
    bundle = _with_log(await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders"), "orders", f"INFO starting\n{line}\n")
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DNS_RESOLUTION_FAILURE, _report(diagnosis)
    assert "ledgr" in diagnosis.rca.summary


_REFUSED_LOGS = [
    'FATAL: cannot reach ledger: Get "http://ledger:8080/": dial tcp 10.96.91.19:8080: connect: connection refused',
    "java.net.ConnectException: Connection refused: ledger/10.96.91.19:8080",
    "Error: connect ECONNREFUSED 10.96.91.19:8080\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
    "requests.exceptions.ConnectionError: HTTPConnectionPool(host='ledger', port=8080): Max retries exceeded with url: / "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: "
    "[Errno 111] Connection refused'))",
    "curl: (7) Failed to connect to ledger port 8080 after 2 ms: Connection refused",
    "redis.exceptions.ConnectionError: Error 111 connecting to ledger:8080. Connection refused.",
]


@pytest.mark.parametrize("line", _REFUSED_LOGS, ids=range(len(_REFUSED_LOGS)))
async def test_refused_connection_in_any_runtime_names_the_service(line: str) -> None:
    """invoicer's calls to ledger are refused, in Go, Java, Node, Python, curl and redis-py words: dependency_unavailable on ledger."""
    bundle = _with_log(await snapshot_bundle("invoicer-ledger-refused", "Deployment", "billing", "invoicer"), "invoicer", f"INFO starting\n{line}\n")
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DEPENDENCY_UNAVAILABLE, _report(diagnosis)
    assert "ledger" in _report(diagnosis)


# --- missing env var, as each language's config loader reports it ---------------------------------

_ENV = [
    "KeyError: 'DATABASE_URL'",
    "environment variable DATABASE_URL is required",
    "panic: required env DATABASE_URL not set",
    'Error: Missing required environment variable "DATABASE_URL"',
    "envconfig: required key DATABASE_URL missing value",
    "thread 'main' panicked at src/main.rs:10:38:\nDATABASE_URL must be set: NotPresent",
    "Caused by: java.lang.IllegalArgumentException: Could not resolve placeholder 'DATABASE_URL' in value \"${DATABASE_URL}\"",
    # Failed before.
    "/entrypoint.sh: line 3: DATABASE_URL: unbound variable",
    "/docker-entrypoint.sh: 5: DATABASE_URL: parameter not set",
    "sh: DATABASE_URL: parameter null or not set",
    "Error: environment variable not found: DATABASE_URL",
    'Error: Environment variable not found: DATABASE_URL.\n  -->  schema.prisma:10\n   |\n 10 |   url      = env("DATABASE_URL")',
    "decouple.UndefinedValueError: DATABASE_URL not found. Declare it as envvar or define a default value.",
    "django.core.exceptions.ImproperlyConfigured: Set the DATABASE_URL environment variable",
    'Error: Config validation error: "DATABASE_URL" is required',
    "❌ Invalid environment variables: { DATABASE_URL: [ 'Required' ] }",
    "Error: Missing DATABASE_URL",
    'Error: Missing "DATABASE_URL" environment variable',
    "panic: DATABASE_URL environment variable is empty",
    "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings\ndatabase_url\n"
    "  Field required [type=missing, input_value={}, input_type=dict]",
]


@pytest.mark.parametrize("line", _ENV, ids=range(len(_ENV)))
def test_missing_env_phrasings_name_the_variable(line: str) -> None:
    """Shells, Python, Go, Rust, Node, Java and Prisma say DATABASE_URL is missing: missing_env_var naming it."""
    spec = {"containers": [{"name": "api", "image": "api:2", "env": [{"name": "LOG_LEVEL", "value": "info"}]}]}
    ctx = deployment_context(spec, statuses=[_crashed("api", 1)], logs={("api", True): f"starting\n{line}\n"})
    assert missing_env_var.missing_vars(line)[:1] == ["DATABASE_URL"]
    diagnosis = diagnose(ctx.bundle)
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR, _report(diagnosis)
    assert "DATABASE_URL" in diagnosis.rca.summary


@pytest.mark.parametrize("line", ["Error: Missing HTTP header", "Missing ID in request", "BODY is empty", "Error: Missing Authorization"])
def test_upper_case_words_that_are_not_variables_are_not_read_as_missing(line: str) -> None:
    """'Missing HTTP header', 'Missing ID in request': the upper-case word does not end the statement, so no variable is read."""
    assert missing_env_var.missing_vars(line) == []


def test_env_var_that_is_defined_is_not_blamed() -> None:
    """A log naming a variable the container does define (a value problem, not absence) is not missing_env_var."""
    spec = {"containers": [{"name": "api", "image": "api:2", "env": [{"name": "DATABASE_URL", "value": "postgres://db/app"}]}]}
    ctx = deployment_context(spec, statuses=[_crashed("api", 1)], logs={("api", True): "/entrypoint.sh: line 3: DATABASE_URL: unbound variable\n"})
    assert missing_env_var.analyze(ctx) is None


# --- bad command: runtime, runc-in-container, shells, interpreters ----------------------------------

_CMD: list[tuple[str, list[str], dict[str, Any], str | None, str]] = [
    (
        "containerd: not in $PATH",
        ["foo"],
        _crashed(
            "app",
            128,
            "StartError",
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container "
            'process: exec: "foo": executable file not found in $PATH: unknown',
        ),
        None,
        "foo",
    ),
    ("dash exit 127", ["/bin/sh", "-c", "gunicorn app"], _crashed("app", 127), "/bin/sh: 1: gunicorn: not found\n", "gunicorn"),
    ("bash exit 127", ["/bin/bash", "-c", "gunicorn app"], _crashed("app", 127), "/bin/bash: line 1: gunicorn: command not found\n", "gunicorn"),
    ("perm exit 126", ["/bin/sh", "-c", "/app/start.sh"], _crashed("app", 126), "/bin/sh: 1: /app/start.sh: Permission denied\n", "/app/start.sh"),
    # Failed before.
    (
        "CRI-O escaped quotes",
        ["foo"],
        {
            "name": "app",
            "restartCount": 0,
            "state": {
                "waiting": {
                    "reason": "CreateContainerError",
                    "message": 'container create failed: time="2024-01-01T00:00:00Z" level=error msg="runc create failed: unable to start container '
                    'process: exec: \\"foo\\": executable file not found in $PATH"\n',
                }
            },
        },
        None,
        "foo",
    ),
    ("runc in-container exec, exit 1", ["/app/start.sh"], _crashed("app", 1), "exec /app/start.sh: no such file or directory\n", "/app/start.sh"),
    ("exec format error, exit 1", ["/app/server"], _crashed("app", 1), "exec /app/server: exec format error\n", "/app/server"),
    ("env shebang, exit 127", ["/app/run.py"], _crashed("app", 127), "/usr/bin/env: 'python': No such file or directory\n", "python"),
    ("bash script missing, exit 127", ["bash", "/app/start.sh"], _crashed("app", 127), "bash: /app/start.sh: No such file or directory\n", "/app/start.sh"),
    (
        "python script missing, exit 2",
        ["python", "/app/mian.py"],
        _crashed("app", 2),
        "python: can't open file '/app/mian.py': [Errno 2] No such file or directory\n",
        "/app/mian.py",
    ),
    (
        "node entry missing, exit 1",
        ["node", "/app/serve.js"],
        _crashed("app", 1),
        "node:internal/modules/cjs/loader:1080\n  throw err;\n  ^\n\nError: Cannot find module '/app/serve.js'\n    at Module._resolveFilename "
        "(node:internal/modules/cjs/loader:1077:15)\n  code: 'MODULE_NOT_FOUND',\n  requireStack: []\n}\n",
        "/app/serve.js",
    ),
    ("java -jar missing, exit 1", ["java", "-jar", "/app/ap.jar"], _crashed("app", 1), "Error: Unable to access jarfile /app/ap.jar\n", "/app/ap.jar"),
    (
        "busybox sh script missing, exit 2",
        ["sh", "/app/start.sh"],
        _crashed("app", 2),
        "sh: can't open '/app/start.sh': No such file or directory\n",
        "/app/start.sh",
    ),
]


@pytest.mark.parametrize(("case", "command", "status", "log", "exe"), _CMD, ids=[c[0] for c in _CMD])
def test_command_failures_name_the_executable(case: str, command: list[str], status: dict[str, Any], log: str | None, exe: str) -> None:
    """The runtime's, runc's, the shell's or the interpreter's words for a command that cannot run: bad_command naming it."""
    spec = {"containers": [{"name": "app", "image": "app:1", "command": command}]}
    ctx = deployment_context(spec, statuses=[status], logs={("app", True): log} if log else None)
    finding = bad_command.analyze(ctx)
    assert finding is not None and finding.category is Category.BAD_COMMAND, case
    assert exe in finding.summary
    assert diagnose(ctx.bundle).rca.category is Category.BAD_COMMAND


def test_a_missing_module_the_command_does_not_name_is_not_a_bad_command() -> None:
    """Node failing to load a dependency ('express') the command does not name is the app's problem, not its command."""
    spec = {"containers": [{"name": "app", "image": "app:1", "command": ["node", "/app/server.js"]}]}
    log = "Error: Cannot find module 'express'\nRequire stack:\n- /app/server.js\n"
    assert bad_command.analyze(deployment_context(spec, statuses=[_crashed("app", 1)], logs={("app", True): log})) is None


# --- image pulls: containerd, Docker, registries ------------------------------------------------

_PULL = [
    (
        'Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:1.99": '
        'failed to resolve reference "docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found',
        "missing",
    ),
    (
        'Failed to pull image "nginx:1.99": rpc error: code = Unknown desc = Error response from daemon: '
        "manifest for nginx:1.99 not found: manifest unknown: manifest unknown",
        "missing",
    ),
    (
        'Failed to pull image "acme/private:1": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/acme/private:1": failed to resolve '
        'reference "docker.io/acme/private:1": pull access denied, repository does not exist or may require authorization: server message: '
        "insufficient_scope: authorization failed",
        "denied",
    ),
    (
        'Failed to pull image "quay.io/acme/app:1": rpc error: code = Unknown desc = Error reading manifest 1 in quay.io/acme/app: '
        "unauthorized: authentication required",
        "denied",
    ),
    # Failed before: a registry the node does not trust was 'other'.
    (
        'Failed to pull image "registry.internal/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "registry.internal/app:1": '
        'failed to resolve reference "registry.internal/app:1": failed to do request: Head "https://registry.internal/v2/app/manifests/1": '
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        "network",
    ),
]


@pytest.mark.parametrize(("message", "kind"), _PULL, ids=range(len(_PULL)))
def test_pull_failures_are_classified(message: str, kind: str) -> None:
    """containerd's, Docker's and registries' answers map to missing / denied / network."""
    assert image_pull_error.classify(message, "ErrImagePull") == kind


def test_pull_event_without_field_path_is_read_by_its_image() -> None:
    """An exported Failed event with no involvedObject.fieldPath still counts when it quotes the container's image: the tag is named."""
    spec = {"containers": [{"name": "web", "image": "nginx:1.99"}]}
    status = {"name": "web", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nginx:1.99"'}}}
    event = {
        "type": "Warning",
        "reason": "Failed",
        "involvedObject": {"kind": "Pod", "name": "app-h2-x1"},
        "message": _PULL[0][0],
    }
    ctx = deployment_context(spec, statuses=[status], events=[event], previous={"containers": [{"name": "web", "image": "nginx:1.27"}]})
    diagnosis = diagnose(ctx.bundle)
    assert diagnosis.rca.category is Category.IMAGE_PULL_ERROR
    assert "nginx:1.99" in _report(diagnosis) and "does not exist" in _report(diagnosis)
    assert diagnosis.fix is not None and any(op.value == "nginx:1.27" for op in diagnosis.fix.patch if op.op == "replace")


# --- scheduling: old and new scheduler wordings -----------------------------------------------------

_SCHED = [
    ("0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.", ur.RESOURCES),
    (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ur.CONSTRAINTS,
    ),
    (
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ur.CONSTRAINTS,
    ),
    (
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        ur.VOLUME,
    ),
    # Failed before: pre-1.25 taint wording split in two, pre-1.22 selector wording, WaitForFirstConsumer without PVs.
    ("0/3 nodes are available: 3 node(s) had taint {dedicated: gpu}, that the pod didn't tolerate.", ur.CONSTRAINTS),
    ("0/3 nodes are available: 3 node(s) didn't match node selector.", ur.CONSTRAINTS),
    ("0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.", ur.VOLUME),
]


@pytest.mark.parametrize(("message", "kind"), _SCHED, ids=range(len(_SCHED)))
def test_scheduler_wordings_are_classified(message: str, kind: str) -> None:
    """Every node the scheduler rejects is put in the class that explains it, in old and new wordings."""
    total, reasons = ur.parse_message(message)
    assert total == 3 and reasons
    assert {ur.classify(reason) for _, reason in reasons} == {kind}


async def test_pre_125_taint_wording_is_diagnosed_as_a_constraint_naming_the_taint() -> None:
    """media's thumbnailer pending on 'had taint {dedicated: media}, that the pod didn't tolerate': unschedulable_constraints naming the taint."""
    bundle = await snapshot_bundle("media-thumbnailer-launch", "Pod", "media", "thumbnailer-glpprr772n-s8p2h")
    bundle = _swap(
        bundle,
        "2 node(s) didn't match Pod's node affinity/selector",
        "2 node(s) had taint {dedicated: media}, that the pod didn't tolerate",
    )
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.UNSCHEDULABLE_CONSTRAINTS, _report(diagnosis)
    assert "dedicated" in _report(diagnosis)


# --- events as events.k8s.io/v1 and typed lists ------------------------------------------------------


async def test_events_k8s_io_events_and_typed_lists_are_read(tmp_path: Path) -> None:
    """A snapshot holding a PodList (items without kind) and events.k8s.io/v1 Events (regarding, note, series) is read as core/v1."""
    docs = [
        {"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "p", "namespace": "ns"}, "spec": {}, "status": {}}]},
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "p.1", "namespace": "ns"},
            "regarding": {"kind": "Pod", "name": "p", "namespace": "ns"},
            "note": "0/3 nodes are available: 3 Insufficient memory.",
            "reason": "FailedScheduling",
            "type": "Warning",
            "eventTime": "2026-12-01T00:00:00.000000Z",
            "series": {"count": 7, "lastObservedTime": "2026-12-01T00:05:00.000000Z"},
        },
    ]
    (tmp_path / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    gateway = SnapshotGateway.open(tmp_path)
    pods = await gateway.list_objects("Pod", "ns")
    events = await gateway.list_objects("Event", "ns")
    assert [objects.name(p) for p in pods] == ["p"]
    event = events[0]
    assert event["involvedObject"]["name"] == "p" and event["message"].startswith("0/3") and event["count"] == 7
    assert event["lastTimestamp"] == "2026-12-01T00:05:00.000000Z"


# --- ConfigMaps and Secrets: kubelet's object cache wording ------------------------------------------


def _failed_mount(message: str) -> dict[str, Any]:
    return {"type": "Warning", "reason": "FailedMount", "involvedObject": {"kind": "Pod", "name": "app-h2-x1"}, "message": message}


def test_not_registered_configmap_volume_is_a_missing_config_reference() -> None:
    """'object "ns"/"app-config" not registered' for a configMap volume whose ConfigMap is absent names app-config."""
    spec = {
        "containers": [{"name": "api", "image": "api:1", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]}],
        "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}],
    }
    event = _failed_mount('MountVolume.SetUp failed for volume "cfg" : object "ns"/"app-config" not registered')
    ctx = deployment_context(spec, statuses=[{"name": "api", "state": {"waiting": {"reason": "ContainerCreating"}}}], events=[event], configmaps={})
    diagnosis = diagnose(ctx.bundle)
    assert diagnosis.rca.category is Category.MISSING_CONFIG_REFERENCE, _report(diagnosis)
    assert "ConfigMap app-config" in diagnosis.rca.summary


def test_not_registered_for_an_object_that_exists_is_not_blamed() -> None:
    """The same words for kube-root-ca.crt, which exists (the kubelet's cache lagging at start): no missing reference."""
    spec = {
        "containers": [{"name": "api", "image": "api:1"}],
        "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}]}}],
    }
    event = _failed_mount('MountVolume.SetUp failed for volume "kube-api-access-x" : object "ns"/"kube-root-ca.crt" not registered')
    ctx = deployment_context(
        spec, statuses=[{"name": "api", "state": {"waiting": {"reason": "ContainerCreating"}}}], events=[event], configmaps={"kube-root-ca.crt": ["ca.crt"]}
    )
    assert diagnose(ctx.bundle).rca.category is not Category.MISSING_CONFIG_REFERENCE


# --- full volumes: each database's and runtime's words for ENOSPC --------------------------------------

_WAL = "FATAL failed to append segment: write /var/lib/ledger/wal/000000000000000F.seg: no space left on device"
_DISK = [
    "Error: ENOSPC: no space left on device, write",
    'PANIC:  could not write to file "pg_wal/xlogtemp.123": No space left on device',
    'ERROR:  could not extend file "base/16384/16385": No space left on device',
    "OSError: [Errno 28] No space left on device: '/var/lib/ledger/wal/x'",
    "java.io.IOException: No space left on device",
    # Failed before: InnoDB's own wording, and a volume's quota (EDQUOT).
    "[ERROR] [MY-012639] [InnoDB] Write to file /var/lib/ledger/ibtmp1 failed at offset 0, 1048576 bytes should have been written, "
    "only 0 were written. Operating system error number 28.",
    "write /var/lib/ledger/wal/x: disk quota exceeded",
]


@pytest.mark.parametrize("line", _DISK, ids=range(len(_DISK)))
async def test_full_volume_in_any_wording_names_the_claim(line: str) -> None:
    """The ledger's WAL volume is full, said by Node, PostgreSQL, Python, Java, InnoDB or EDQUOT: disk_full naming claim ledger-wal."""
    bundle = _swap(await snapshot_bundle("ledger-wal-disk-full", "Deployment", "ledger", "orders-ledger"), _WAL, line)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DISK_FULL, _report(diagnosis)
    assert "ledger-wal" in diagnosis.rca.summary


# --- probes: kubelet's prober words (these held; kept as a guard) -----------------------------------

_HTTP_PROBE = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 1}


def _probe_event(reason: str, message: str, *, field_path: bool = True) -> dict[str, Any]:
    involved = {"kind": "Pod", "name": "app-h2-x1"} | ({"fieldPath": "spec.containers{web}"} if field_path else {})
    return {"type": "Warning", "reason": reason, "involvedObject": involved, "message": message, "count": 6}


_LIVENESS = [
    ("Liveness probe failed: HTTP probe failed with statuscode: 404", "/healthz"),
    ('Liveness probe failed: Get "http://10.1.2.3:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)', "/healthz"),
    ('Liveness probe failed: Get "http://10.1.2.3:8080/healthz": dial tcp 10.1.2.3:8080: connect: connection refused', "8080"),
]


@pytest.mark.parametrize(("message", "fact"), _LIVENESS, ids=range(len(_LIVENESS)))
@pytest.mark.parametrize("exit_code", [137, 143, 0])
def test_liveness_kills_in_kubelet_words(message: str, fact: str, exit_code: int) -> None:
    """Unhealthy + Killing events; the container ended 137, 143 or 0 (it handled SIGTERM): liveness_probe_failure naming the probe."""
    spec = {"containers": [{"name": "web", "image": "web:2", "ports": [{"containerPort": 8080}], "livenessProbe": _HTTP_PROBE}]}
    status = {
        "name": "web",
        "restartCount": 6,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}},
    }
    events = [_probe_event("Unhealthy", message), _probe_event("Killing", "Container web failed liveness probe, will be restarted")]
    diagnosis = diagnose(deployment_context(spec, statuses=[status], events=events).bundle)
    assert diagnosis.rca.category is Category.LIVENESS_PROBE_FAILURE, _report(diagnosis)
    assert fact in _report(diagnosis)


_READINESS = [
    ('Readiness probe failed: Get "http://10.1.2.3:8080/healthz": dial tcp 10.1.2.3:8080: connect: connection refused', "8080"),
    ("Readiness probe failed: HTTP probe failed with statuscode: 503", "503"),
]


@pytest.mark.parametrize(("message", "fact"), _READINESS, ids=range(len(_READINESS)))
@pytest.mark.parametrize("field_path", [True, False])
def test_readiness_failures_in_kubelet_words(message: str, fact: str, field_path: bool) -> None:
    """A running container never Ready with the prober's words, with or without the event's fieldPath: readiness_probe_failure."""
    spec = {"containers": [{"name": "web", "image": "web:2", "ports": [{"containerPort": 8080}], "readinessProbe": _HTTP_PROBE}]}
    status = {"name": "web", "restartCount": 0, "ready": False, "state": {"running": {"startedAt": "2026-11-25T00:00:00Z"}}}
    diagnosis = diagnose(deployment_context(spec, statuses=[status], events=[_probe_event("Unhealthy", message, field_path=field_path)]).bundle)
    assert diagnosis.rca.category is Category.READINESS_PROBE_FAILURE, _report(diagnosis)
    assert fact in _report(diagnosis)


# --- RBAC: client-go, kubectl, the Python client's JSON body, fabric8 -------------------------------

_SA = 'User "system:serviceaccount:warehouse:stock-sync"'
_RBAC = [
    (f'nodes is forbidden: {_SA} cannot list resource "nodes" in API group "" at the cluster scope', "list", "nodes"),
    (f'deployments.apps "web" is forbidden: {_SA} cannot get resource "deployments" in API group "apps" in the namespace "warehouse"', "get", "deployments"),
    (f'Error from server (Forbidden): pods is forbidden: {_SA} cannot list resource "pods" in API group "" in the namespace "warehouse"', "list", "pods"),
    (
        'kubernetes.client.exceptions.ApiException: (403)\nReason: Forbidden\nHTTP response body: {"kind":"Status","apiVersion":"v1","metadata":{},'
        '"status":"Failure","message":"configmaps is forbidden: User \\"system:serviceaccount:warehouse:stock-sync\\" cannot watch resource '
        '\\"configmaps\\" in API group \\"\\" in the namespace \\"warehouse\\"","reason":"Forbidden","details":{"kind":"configmaps"},"code":403}',
        "watch",
        "configmaps",
    ),
    (
        "io.fabric8.kubernetes.client.KubernetesClientException: Failure executing: GET at: https://10.96.0.1/api/v1/namespaces/warehouse/pods. "
        "Message: Forbidden!Configured service account doesn't have access. Service account may have been revoked. pods is forbidden: "
        f'{_SA} cannot list resource "pods" in API group "" in the namespace "warehouse".',
        "list",
        "pods",
    ),
    (
        f'error retrieving resource lock warehouse/stock-sync: leases.coordination.k8s.io "stock-sync" is forbidden: {_SA} cannot get resource '
        '"leases" in API group "coordination.k8s.io" in the namespace "warehouse"',
        "get",
        "leases",
    ),
]


@pytest.mark.parametrize(("line", "verb", "resource"), _RBAC, ids=range(len(_RBAC)))
async def test_forbidden_in_any_client_names_verb_and_resource(line: str, verb: str, resource: str) -> None:
    """The API server's refusal as each client prints it: rbac_forbidden naming the ServiceAccount, verb and resource."""
    bundle = _with_log(await snapshot_bundle("stock-sync-forbidden", "Deployment", "warehouse", "stock-sync"), "sync", f"INFO starting\n{line}\n")
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.RBAC_FORBIDDEN, _report(diagnosis)
    assert f"may not {verb} {resource}" in diagnosis.rca.summary and "stock-sync" in diagnosis.rca.summary


# --- quotas: the admission plugin's verdicts --------------------------------------------------------

_QUOTA_OLD = "exceeded quota: catalog-compute, requested: requests.cpu=500m, used: requests.cpu=1, limited: requests.cpu=1"
_QUOTA = [
    ("exceeded quota: catalog-compute, requested: limits.memory=1Gi, used: limits.memory=3500Mi, limited: limits.memory=4Gi", "limits.memory"),
    ("exceeded quota: catalog-compute, requested: pods=1, used: pods=10, limited: pods=10", "pods"),
    ("failed quota: catalog-compute: must specify limits.cpu for: api; limits.memory for: api", "limits.cpu"),
]


@pytest.mark.parametrize(("verdict", "resource"), _QUOTA, ids=range(len(_QUOTA)))
async def test_quota_verdicts_name_quota_and_resource(verdict: str, resource: str) -> None:
    """Memory, pod-count and must-specify refusals: quota_exceeded naming catalog-compute and the resource."""
    bundle = _swap(await snapshot_bundle("catalog-api-2-7-rollout", "Deployment", "catalog", "catalog-api"), _QUOTA_OLD, verdict)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.QUOTA_EXCEEDED, _report(diagnosis)
    assert "catalog-compute" in diagnosis.rca.summary and resource in diagnosis.rca.summary


# --- nslookup reports the search-domain expansions it tried ------------------------------------------

_NSLOOKUP = [
    "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n** server can't find mydb.ns.svc.cluster.local: NXDOMAIN\n\n"
    "** server can't find mydb.svc.cluster.local: NXDOMAIN\n\nwaiting for mydb\n",
    "nslookup: can't resolve 'mydb'\nwaiting for mydb\n",
]


@pytest.mark.parametrize("log", _NSLOOKUP, ids=["busybox-1.36", "busybox-old"])
def test_init_container_waiting_on_an_unresolvable_name_names_it_as_written(log: str) -> None:
    """An init container looping on `nslookup mydb`: the host reported is mydb (as the command writes it), not a search expansion."""
    spec = {
        "initContainers": [
            {"name": "wait-db", "image": "busybox:1.36", "command": ["sh", "-c", "until nslookup mydb; do echo waiting for mydb; sleep 2; done"]}
        ],
        "containers": [{"name": "app", "image": "app:1"}],
    }
    init = {"name": "wait-db", "restartCount": 0, "ready": False, "state": {"running": {"startedAt": "2026-11-24T23:00:00Z"}}}
    app = {"name": "app", "restartCount": 0, "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}
    diagnosis = diagnose(deployment_context(spec, statuses=[app], init_statuses=[init], logs={("wait-db", False): log * 3}).bundle)
    assert diagnosis.rca.category is Category.DNS_RESOLUTION_FAILURE, _report(diagnosis)
    assert "host mydb " in diagnosis.rca.summary


# --- evictions: every message kubelet's eviction manager writes ---------------------------------------

_EVICTED_OLD = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 87212Ki. "
_EVICTIONS = [
    (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 3Gi. Container cart was using 6Gi, request is 0, "
        "has larger consumption of ephemeral-storage. ",
        "ran low on ephemeral-storage",
    ),
    ('Container cart exceeded its local ephemeral storage limit "1Gi". ', "container cart exceeded its ephemeral-storage limit 1Gi"),
    # Failed before: these three named no resource ('an unknown resource', or node pressure where a limit was enforced).
    ("Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ", "total ephemeral-storage limit 1Gi"),
    ('Usage of EmptyDir volume "cache" exceeds the limit "500Mi". ', "emptyDir volume cache exceeded its sizeLimit 500Mi"),
    ("The node had condition: [DiskPressure]. ", "ran low on ephemeral-storage"),
]


@pytest.mark.parametrize(("message", "fact"), _EVICTIONS, ids=range(len(_EVICTIONS)))
async def test_eviction_messages_say_what_was_exhausted(message: str, fact: str) -> None:
    """Node pressure, a container's, the pod's or an emptyDir's local-storage limit, admission under pressure: evicted, saying which."""
    bundle = await snapshot_bundle("cart-capacity-drop", "Pod", "cart", "cart-service-grvcdt8pwg-r9fkd")
    bundle = _swap(_swap(bundle, _EVICTED_OLD, message), "The node was low on resource: memory", message)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.EVICTED, _report(diagnosis)
    assert fact in diagnosis.rca.summary


_TIMEOUT_LOGS = [
    ('FATAL: cannot reach payments-api: Get "http://payments-api:8080/v1": dial tcp 10.96.78.49:8080: i/o timeout', "time out"),
    ("Error: connect ETIMEDOUT 10.96.78.49:8080", "time out"),
    (
        "requests.exceptions.ConnectTimeout: HTTPConnectionPool(host='payments-api', port=8080): Max retries exceeded with url: /v1 "
        "(Caused by ConnectTimeoutError(<urllib3.connection.HTTPConnection object at 0x7f>, 'Connection to payments-api timed out. (connect timeout=5)'))",
        "time out",
    ),
    ("curl: (28) Failed to connect to payments-api port 8080 after 130000 ms: Connection timed out", "time out"),
    # Failed before: a CNI that rejects (ICMP host unreachable) rather than drops was not read at all.
    ('Get "http://payments-api:8080/v1": dial tcp 10.96.78.49:8080: connect: no route to host', "no route to host"),
]


@pytest.mark.parametrize(("line", "how"), _TIMEOUT_LOGS, ids=range(len(_TIMEOUT_LOGS)))
async def test_calls_a_policy_blocks_are_read_in_any_runtime(line: str, how: str) -> None:
    """refunds' calls to payments-api fail under an ingress policy, in Go, Node, Python and curl words: network_policy_blocked, saying how."""
    bundle = await snapshot_bundle("refunds-payments-timeout", "Deployment", "payments", "refunds")
    pod = objects.name(bundle.pods[0])
    bundle.logs = [log for log in bundle.logs if log.container != "refunds"]
    bundle.logs.append(ContainerLogs(pod=pod, container="refunds", previous=True, text=f"INFO starting\n{line}\n"))
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED, _report(diagnosis)
    assert "payments-api-ingress" in diagnosis.rca.summary and how in diagnosis.rca.summary


_HUB_EITHER = (
    'failed to pull and unpack image "docker.io/acme/ngnix:1": failed to resolve reference "docker.io/acme/ngnix:1": pull access denied, '
    "repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"
)


def test_hub_either_answer_after_a_rollout_restores_the_previous_image() -> None:
    """Docker Hub's 'does not exist or may require authorization' after a rollout that changed only the image: restore the image pulled before."""
    status = {"name": "web", "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": _HUB_EITHER}}}
    spec = {"containers": [{"name": "web", "image": "acme/ngnix:1"}]}
    diagnosis = diagnose(deployment_context(spec, statuses=[status], previous={"containers": [{"name": "web", "image": "acme/nginx:1"}]}).bundle)
    assert diagnosis.rca.category is Category.IMAGE_PULL_ERROR
    assert "does not exist or needs credentials" in diagnosis.rca.summary and "acme/ngnix:1" in diagnosis.rca.summary
    assert diagnosis.fix is not None and any(op.value == "acme/nginx:1" for op in diagnosis.fix.patch if op.op == "replace")


def test_hub_either_answer_when_the_rollout_changed_pull_secrets_proposes_nothing() -> None:
    """The same answer after a rollout that also changed imagePullSecrets: credentials may be the cause, so no image patch."""
    status = {"name": "web", "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": _HUB_EITHER}}}
    spec = {"containers": [{"name": "web", "image": "acme/ngnix:1"}], "imagePullSecrets": [{"name": "hub-new"}]}
    previous = {"containers": [{"name": "web", "image": "acme/nginx:1"}], "imagePullSecrets": [{"name": "hub"}]}
    diagnosis = diagnose(deployment_context(spec, statuses=[status], previous=previous).bundle)
    assert diagnosis.rca.category is Category.IMAGE_PULL_ERROR and diagnosis.fix is None
    assert any("hub-new" in step for step in diagnosis.manual_steps)


# --- claims: scheduler wordings before 1.22 carry no node count ----------------------------------------

_PREEMPT_2 = " preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
_CLAIM_NOW = '0/2 nodes are available: persistentvolumeclaim "report-archive" not found.' + _PREEMPT_2
_CLAIM_WORDINGS = [
    '0/2 nodes are available: 2 persistentvolumeclaim "report-archive" not found.',
    # Failed before: no 'N/M nodes are available' count, so the reason weighed nothing.
    'persistentvolumeclaim "report-archive" not found',
    'error while running "VolumeBinding" prefilter plugin for pod "report-builder-x": persistentvolumeclaim "report-archive" not found',
]


@pytest.mark.parametrize("message", _CLAIM_WORDINGS, ids=range(len(_CLAIM_WORDINGS)))
async def test_missing_claim_in_any_scheduler_wording_is_a_volume_failure(message: str) -> None:
    """report-builder's claim report-archive is missing, said by schedulers old and new: volume_failure naming it."""
    bundle = _swap(await snapshot_bundle("reporting-builder-deploy", "Deployment", "reporting", "report-builder"), _CLAIM_NOW, message)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.VOLUME_FAILURE, _report(diagnosis)
    assert "report-archive" in diagnosis.rca.summary


_UNBOUND_NOW = "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims." + _PREEMPT_2


@pytest.mark.parametrize(
    "message",
    [
        "0/2 nodes are available: 2 pod has unbound immediate PersistentVolumeClaims.",
        'error while running "VolumeBinding" prefilter plugin for pod "pg-ledger-0": pod has unbound immediate PersistentVolumeClaims',
        'running "VolumeBinding" filter plugin for pod "pg-ledger-0": pod has unbound immediate PersistentVolumeClaims',
    ],
    ids=range(3),
)
async def test_unbound_claim_in_any_scheduler_wording_names_claim_and_class(message: str) -> None:
    """pg-ledger-0 waits for its claim (StorageClass fast-ssd missing), in old and new scheduler words: volume_failure naming both."""
    bundle = _swap(await snapshot_bundle("ledger-postgres-bootstrap", "Pod", "ledger", "pg-ledger-0"), _UNBOUND_NOW, message)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.VOLUME_FAILURE, _report(diagnosis)
    assert "data-pg-ledger-0" in diagnosis.rca.summary and "fast-ssd" in _report(diagnosis)


def test_image_never_pulled_is_an_image_pull_error_restoring_the_previous_image() -> None:
    """ErrImageNeverPull ('not present with pull policy of Never') after a rollout: image_pull_error, the image pulled before is restored."""
    status = {
        "name": "web",
        "restartCount": 0,
        "state": {"waiting": {"reason": "ErrImageNeverPull", "message": 'Container image "acme/web:dev" is not present with pull policy of Never'}},
    }
    spec = {"containers": [{"name": "web", "image": "acme/web:dev", "imagePullPolicy": "Never"}]}
    previous = {"containers": [{"name": "web", "image": "acme/web:1.4", "imagePullPolicy": "Never"}]}
    diagnosis = diagnose(deployment_context(spec, statuses=[status], previous=previous).bundle)
    assert diagnosis.rca.category is Category.IMAGE_PULL_ERROR, _report(diagnosis)
    assert "acme/web:dev" in diagnosis.rca.summary
    assert diagnosis.fix is not None and any(op.value == "acme/web:1.4" for op in diagnosis.fix.patch if op.op == "replace")


# --- structured (JSON) logs: the same words inside escaped strings ---------------------------------

_JSON_ENV = [
    r'{"level":"fatal","msg":"required environment variable \"DATABASE_URL\" is not set"}',
    r'{"level":"error","error":"env: required environment variable \"DATABASE_URL\" is not set"}',
    r'{"message":"KeyError: \u0027DATABASE_URL\u0027"}',
    r'{"level":50,"msg":"config error","err":{"message":"\"DATABASE_URL\" is required"}}',
    r'{"level":"error","exc_info":"Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\nKeyError: \u0027DATABASE_URL\u0027"}',
]


@pytest.mark.parametrize("line", _JSON_ENV, ids=range(len(_JSON_ENV)))
def test_missing_env_in_json_logs_names_the_variable(line: str) -> None:
    """zap, zerolog, pino and structlog escape the quotes (and newlines) of the message: the variable is still read."""
    spec = {"containers": [{"name": "api", "image": "api:2"}]}
    diagnosis = diagnose(deployment_context(spec, statuses=[_crashed("api", 1)], logs={("api", True): f"{line}\n"}).bundle)
    assert diagnosis.rca.category is Category.MISSING_ENV_VAR, _report(diagnosis)
    assert "DATABASE_URL" in diagnosis.rca.summary


async def test_dns_failure_in_a_json_log_names_the_host() -> None:
    """A JSON-logged libpq error with escaped quotes around the host: dns_resolution_failure naming ledgr."""
    line = r'{"level":"error","error":"could not translate host name \"ledgr\" to address: Name or service not known"}'
    bundle = _with_log(await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders"), "orders", f"{line}\n")
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DNS_RESOLUTION_FAILURE, _report(diagnosis)
    assert "ledgr" in diagnosis.rca.summary


def test_java_trace_in_one_json_field_borrows_the_host_from_its_cause_line() -> None:
    """A stack trace logged as one JSON field ('\\n' escapes): the refused call's host comes from the 'Caused by' line, as in plain text."""
    text = (
        r'{"level":"error","stack":"java.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.connect0(Native Method)'
        + r'\nCaused by: orders/10.96.0.12:8080"}'
    )
    found = netlog.failures(text)
    assert found and (found[0].kind, found[0].host, found[0].port) == ("refused", "orders", 8080)


async def test_endpoint_slices_stand_in_for_endpoints(tmp_path: Path) -> None:
    """A snapshot that collected EndpointSlices but no Endpoints (deprecated since 1.33) still answers which Services have addresses."""
    docs = [
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": "web-1"}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "api-xyz", "namespace": "ns", "labels": {"kubernetes.io/service-name": "api"}},
            "addressType": "IPv4",
            "endpoints": None,
        },
    ]
    (tmp_path / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    (tmp_path / "snapshot.yaml").write_text(yaml.safe_dump({"kinds": ["EndpointSlice", "Service", "Pod"]}))
    gateway = SnapshotGateway.open(tmp_path)
    assert gateway.collected("Endpoints")
    by_name = {objects.name(e): e for e in await gateway.list_objects("Endpoints", "ns")}
    assert by_name["web"]["subsets"][0]["addresses"] == [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "web-1"}}]
    assert by_name["web"]["subsets"][0]["notReadyAddresses"] == [{"ip": "10.0.0.2"}]
    assert by_name["api"]["subsets"] == []


# --- startup probes kill like liveness probes -------------------------------------------------------


def _startup_context(log: str | None = None, message: str = "Startup probe failed: HTTP probe failed with statuscode: 503") -> Any:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10, "failureThreshold": 3}
    spec = {"containers": [{"name": "web", "image": "web:2", "ports": [{"containerPort": 8080}], "startupProbe": probe}]}
    status = {
        "name": "web",
        "restartCount": 6,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "Error"}},
    }
    events = [_probe_event("Unhealthy", message), _probe_event("Killing", "Container web failed startup probe, will be restarted")]
    return deployment_context(spec, statuses=[status], events=events, logs={("web", True): log} if log else None)


def test_startup_probe_kills_are_diagnosed_naming_the_probe() -> None:
    """Before, 'Startup probe failed' + 'failed startup probe, will be restarted' was unknown: now the startup probe is named."""
    diagnosis = diagnose(_startup_context().bundle)
    assert diagnosis.rca.category is Category.LIVENESS_PROBE_FAILURE, _report(diagnosis)
    assert "startup probe (GET /healthz on port 8080)" in diagnosis.rca.summary


def test_slow_start_under_a_startup_probe_raises_its_failure_threshold() -> None:
    """A logged 75 s start-up against a 30 s startup budget (3 × 10 s): failureThreshold 3 → 12, initialDelaySeconds untouched."""
    ctx = _startup_context(
        log="INFO booting\nINFO Started App in 75.2 seconds\n",
        message='Startup probe failed: Get "http://10.1.2.3:8080/healthz": dial tcp 10.1.2.3:8080: connect: connection refused',
    )
    diagnosis = diagnose(ctx.bundle)
    assert diagnosis.fix is not None
    ops = [op.model_dump(exclude_none=True) for op in diagnosis.fix.patch]
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/startupProbe/failureThreshold", "value": 12} in ops
    assert not any("initialDelaySeconds" in op["path"] for op in ops)


# --- Jobs: every reason the Job controller gives ----------------------------------------------------

_JOB_REASONS = [
    ("BackoffLimitExceeded", "Job has reached the specified backoff limit", "backoffLimit 1"),
    ("DeadlineExceeded", "Job was active longer than specified deadline", "activeDeadlineSeconds"),
    # Before, both read 'backoffLimit 1', a limit that did not end the Job.
    ("PodFailurePolicy", "Container export for pod billing/invoice-export-fjrwh failed with exit code 1 matching FailJob rule at index 0", "podFailurePolicy"),
    ("FailedIndexes", "Job has failed indexes", "backoffLimitPerIndex"),
]


@pytest.mark.parametrize(("reason", "message", "limit"), _JOB_REASONS, ids=[r[0] for r in _JOB_REASONS])
async def test_job_failure_names_the_limit_that_ended_it(reason: str, message: str, limit: str) -> None:
    """invoice-export failed for each of the controller's reasons: job_failed naming the reason, the limit behind it and the pod's exit."""
    bundle = await snapshot_bundle("invoice-export-job", "Job", "billing", "invoice-export")
    for condition in bundle.jobs[-1]["status"]["conditions"]:
        if condition["type"] == "Failed":
            condition.update(reason=reason, message=message)
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.JOB_FAILED, _report(diagnosis)
    assert reason in diagnosis.rca.summary and limit in diagnosis.rca.summary and "exit code 1" in diagnosis.rca.summary


async def test_taken_host_port_is_a_placement_constraint_naming_the_port() -> None:
    """'didn't have free ports for the requested pod ports' (a hostPort every node has given away): unschedulable_constraints naming it."""
    bundle = await snapshot_bundle("media-thumbnailer-launch", "Pod", "media", "thumbnailer-glpprr772n-s8p2h")
    bundle = _swap(bundle, "2 node(s) didn't match Pod's node affinity/selector", "2 node(s) didn't have free ports for the requested pod ports")
    for holder in (bundle.pods[0], bundle.workload or {}):
        objects.pod_spec(holder).pop("nodeSelector", None)
        objects.pod_spec(holder)["containers"][0]["ports"] = [{"containerPort": 8080, "hostPort": 8080}]
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.UNSCHEDULABLE_CONSTRAINTS, _report(diagnosis)
    assert "hostPort 8080/TCP" in _report(diagnosis)


# --- a resolver that does not answer is not a name that does not exist ------------------------------

_RESOLVER_DOWN = [
    "Error: getaddrinfo EAI_AGAIN ledger\n    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)",
    "socket.gaierror: [Errno -3] Temporary failure in name resolution\nredis.exceptions.ConnectionError: Error -3 connecting to ledger:8080. "
    "Temporary failure in name resolution.",
]


def _deny_egress_but_http(bundle: ObjectBundle) -> ObjectBundle:
    labels = {"app": objects.labels(bundle.pods[0])["app"]}
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "orders-egress", "namespace": "orders"},
        "spec": {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"], "egress": [{"ports": [{"protocol": "TCP", "port": 8080}]}]},
    }
    return bundle.model_copy(update={"network_policies": [policy], "uncollected_kinds": [k for k in bundle.uncollected_kinds if k != "NetworkPolicy"]})


@pytest.mark.parametrize("line", _RESOLVER_DOWN, ids=["node", "python"])
async def test_lookups_a_policy_starves_of_dns_blame_the_policy(line: str) -> None:
    """EAI_AGAIN / 'Temporary failure in name resolution' under an egress policy without port 53: network_policy_blocked, not a bad name."""
    bundle = _with_log(await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders"), "orders", f"INFO starting\n{line}\n")
    diagnosis = diagnose(_deny_egress_but_http(bundle))
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED, _report(diagnosis)
    assert "orders-egress" in diagnosis.rca.summary and "DNS" in diagnosis.rca.summary


@pytest.mark.parametrize("line", _RESOLVER_DOWN, ids=["node", "python"])
async def test_resolver_trouble_without_a_policy_is_still_a_lookup_failure(line: str) -> None:
    """The same words with no policy in the way: dns_resolution_failure naming the host, as before."""
    bundle = _with_log(await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders"), "orders", f"INFO starting\n{line}\n")
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DNS_RESOLUTION_FAILURE, _report(diagnosis)
    assert "ledger" in diagnosis.rca.summary
