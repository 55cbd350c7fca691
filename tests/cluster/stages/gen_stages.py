# ruff: noqa: E501  (Go templates and jq programs read best on one line)
"""Generate tests/cluster/stages/aegis-failures.yaml: KWOK Stages that make pods fail
the way a real kubelet + containerd would, *because of their spec*.

Each failure class has a jq selector (does some container of the pod violate what the
simulated app declares in its `sim.aegis.dev/*` annotations?) and a Go template that
recomputes the same rule per container to write the status, plus events applied as
real v1 Event objects (so their messages name the container, like kubelet's).

Run `python tests/cluster/stages/gen_stages.py` after editing; the YAML is committed.
The contract is documented in tests/cluster/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

OUT = Path(__file__).with_name("aegis-failures.yaml")
A = "sim.aegis.dev/"

# --------------------------------------------------------------------------- jq
JQ_ANN = '((.metadata.annotations // {})["' + A + 'KEY"] // "{}" | fromjson)'
JQ_BYTES = (
    'def bytes: capture("^(?<n>[0-9.]+)(?<s>[a-zA-Z]*)$") | (.n | tonumber) * '
    '({"": 1, "k": 1000, "K": 1000, "M": 1000000, "G": 1000000000, "T": 1000000000000, '
    '"Ki": 1024, "Mi": 1048576, "Gi": 1073741824, "Ti": 1099511627776}[.s] // 1); '
)


def jq_ann(key: str) -> str:
    return JQ_ANN.replace("KEY", key)


def jq_probe_mismatch(probe: str, path_key: str) -> str:
    return (
        jq_ann("serves")
        + " as $s | [.spec.containers[] | . as $c | $s[$c.name] as $sv"
        + f" | ($c.{probe}.httpGet // null) as $g"
        + " | $sv != null and $g != null and ("
        + '($g.port | if type == "string" then ([($c.ports // [])[] | select(.name == $g.port)'
        + " | .containerPort][0] // -1) else . end) != $sv.port"
        + f' or ($g.path // "/") != ($sv.{path_key} // "/"))] | any'
    )


JQ = {
    "env": jq_ann("requires-env") + " as $r | [.spec.containers[] | . as $c | ((($r[$c.name] // []) - [($c.env // [])[].name]) | length > 0)] | any",
    "init-env": jq_ann("requires-env")
    + " as $r | [(.spec.initContainers // [])[] | . as $c | ((($r[$c.name] // []) - [($c.env // [])[].name]) | length > 0)] | any",
    "memory": JQ_BYTES
    + jq_ann("memory-floor")
    + " as $f | [.spec.containers[] | . as $c | $f[$c.name] as $floor"
    + " | ($c.resources.limits.memory? // null) as $lim"
    + " | $floor != null and $lim != null and (($lim | bytes) < ($floor | bytes))] | any",
    "image": '(.metadata.annotations // {})["'
    + A
    + 'images"] as $l | $l != null and '
    + '(($l | split(",") | map(gsub("^\\\\s+|\\\\s+$"; ""))) as $ok'
    + " | [.spec.containers[].image as $i | ($ok | any(.[]; . == $i)) | not] | any)",
    "bad-command": jq_ann("bad-command")
    + " as $b | [.spec.containers[] | . as $c | (($c.command // [])[0]) as $c0"
    + " | $c0 != null and (($b[$c.name] // []) | any(.[]; . == $c0))] | any",
    "readiness": jq_probe_mismatch("readinessProbe", "readyPath"),
    "liveness": jq_probe_mismatch("livenessProbe", "livePath"),
    "crash-when": jq_ann("crash-when") + " as $w | [.spec.containers[] | . as $c | ($w[$c.name].image // null) == $c.image] | any",
}

# ------------------------------------------------------------------ Go template
HEADER = """{{ $now := Now }}
{{ $root := . }}
{{ $ann := or .metadata.annotations dict }}
"""


def pre_json(var: str, key: str) -> str:
    return f'{{{{ ${var} := fromJson (or (index $ann "{A}{key}") "{{}}") }}}}\n'


def tpl_bytes(out: str, src: str) -> str:
    """Go-template code setting $<out> to the number of bytes of quantity string <src>."""
    return (
        f'{{{{ $n_{out} := regexFind "^[0-9.]+" {src} }}}}'
        f"{{{{ $s_{out} := trimPrefix $n_{out} {src} }}}}"
        f'{{{{ $m_{out} := index (dict "" 1.0 "k" 1e3 "K" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 '
        f'"Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0) $s_{out} }}}}'
        f"{{{{ ${out} := mulf (float64 $n_{out}) (or $m_{out} 1.0) }}}}"
    )


def check_probe(probe: str, path_key: str) -> str:
    # sets $fail and $detail (the probe failure text kubelet would print)
    return (
        '{{ $fail := false }}{{ $detail := "" }}'
        "{{ $sv := index $serves $c.name }}"
        f"{{{{ if and $sv $c.{probe} }}}}{{{{ with $c.{probe}.httpGet }}}}"
        "{{ $port := .port }}"
        # numbers may arrive as json.Number (a string kind): a named port is non-numeric
        '{{ if not (regexMatch "^[0-9]+$" (toString $port)) }}{{ $pn := toString $port }}{{ $port = -1 }}'
        "{{ range $c.ports }}{{ if eq (toString .name) $pn }}{{ $port = .containerPort }}{{ end }}{{ end }}{{ end }}"
        '{{ $path := or .path "/" }}'
        "{{ if ne (toString $port) (toString $sv.port) }}{{ $fail = true }}"
        '{{ $detail = printf "Get \\"http://%s:%v%s\\": dial tcp %s:%v: connect: connection refused" '
        '(or $root.status.podIP "127.0.0.1") $port $path (or $root.status.podIP "127.0.0.1") $port }}'
        f'{{{{ else if ne $path (or (index $sv "{path_key}") "/") }}}}{{{{ $fail = true }}}}'
        '{{ $detail = "HTTP probe failed with statuscode: 404" }}{{ end }}'
        "{{ end }}{{ end }}"
    )


CHECK = {
    "env": (
        "{{ $missing := list }}"
        "{{ range (index $req $c.name) }}{{ $v := . }}{{ $found := false }}"
        "{{ range $c.env }}{{ if eq .name $v }}{{ $found = true }}{{ end }}{{ end }}"
        "{{ if not $found }}{{ $missing = append $missing $v }}{{ end }}{{ end }}"
        "{{ $fail := gt (len $missing) 0 }}"
        '{{ $detail := "" }}{{ if $fail }}{{ $detail = printf "FATAL: required environment variable %s is not set" (first $missing) }}{{ end }}'
    ),
    "memory": (
        '{{ $fail := false }}{{ $detail := "" }}'
        "{{ $floor := index $floors $c.name }}"
        '{{ $limit := "" }}{{ with $c.resources }}{{ with .limits }}{{ with .memory }}{{ $limit = toString . }}{{ end }}{{ end }}{{ end }}'
        "{{ if and $floor $limit }}"
        + tpl_bytes("fb", "(toString $floor)")
        + tpl_bytes("lb", "$limit")
        + "{{ if lt $lb $fb }}{{ $fail = true }}{{ end }}{{ end }}"
    ),
    "image": ('{{ $fail := not (has $c.image $images) }}{{ $detail := "" }}'),
    "bad-command": (
        '{{ $fail := false }}{{ $detail := "" }}'
        "{{ with $c.command }}{{ $c0 := first . }}"
        "{{ if has $c0 (or (index $bad $c.name) list) }}{{ $fail = true }}"
        '{{ if contains "/" $c0 }}{{ $detail = printf "exec: \\"%s\\": stat %s: no such file or directory" $c0 $c0 }}'
        '{{ else }}{{ $detail = printf "exec: \\"%s\\": executable file not found in $PATH" $c0 }}{{ end }}'
        "{{ end }}{{ end }}"
    ),
    "readiness": check_probe("readinessProbe", "readyPath"),
    "liveness": check_probe("livenessProbe", "livePath"),
    "crash-when": (
        '{{ $fail := false }}{{ $detail := "" }}'
        "{{ with index $crash $c.name }}{{ if eq (toString .image) $c.image }}{{ $fail = true }}"
        '{{ $detail = printf "panic: unrecoverable error after upgrade to %s" $c.image }}{{ end }}{{ end }}'
    ),
    "missing-refs": ('{{ $fail := hasKey $refs $c.name }}{{ $detail := "" }}{{ if $fail }}{{ $detail = toString (index $refs $c.name) }}{{ end }}'),
}
CHECK["init-env"] = CHECK["env"]

PRE = {
    "env": pre_json("req", "requires-env"),
    "init-env": pre_json("req", "requires-env"),
    "memory": pre_json("floors", "memory-floor"),
    "image": (f'{{{{ $images := list }}}}{{{{ range splitList "," (index $ann "{A}images") }}}}{{{{ $images = append $images (trim .) }}}}{{{{ end }}}}\n'),
    "bad-command": pre_json("bad", "bad-command"),
    "readiness": pre_json("serves", "serves"),
    "liveness": pre_json("serves", "serves"),
    "crash-when": pre_json("crash", "crash-when"),
    "missing-refs": pre_json("refs", "missing-refs"),
}

PREV = "{{ $prev := dict }}{{ range $root.status.CS }}{{ if eq .name $c.name }}{{ $prev = . }}{{ end }}{{ end }}{{ $rc := int64 (or $prev.restartCount 0) }}"

BACKOFF = '{{ $bo := "5m0s" }}{{ if lt $rc 5 }}{{ $bo = index (list "10s" "20s" "40s" "1m20s" "2m40s") (int $rc) }}{{ end }}'

IPS = """
{{ if not .status.podIP }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ end }}
startTime: {{ or .status.startTime $now | Quote }}
"""


def conditions(initialized: bool, ready_reason: str = "ContainersNotReady", probe_time: bool = False) -> str:
    """Pod conditions for a pod whose containers listed in $failing are not ready."""
    init = (
        """- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
"""
        if initialized
        else """- type: Initialized
  status: "False"
  reason: ContainersNotInitialized
  message: {{ printf "containers with incomplete status: [%s]" (join " " $failing) | Quote }}
  lastTransitionTime: {{ $since | Quote }}
"""
    )
    return (
        """{{ $since := $now }}{{ range $root.status.conditions }}{{ if and (eq .type "Ready") (eq .status "False") }}{{ $since = .lastTransitionTime }}{{ end }}{{ end }}
conditions:
"""
        + init
        + """- type: Ready
  status: "False"
"""
        + ("  lastProbeTime: {{ $now | Quote }}\n" if probe_time else "")
        + """  reason: """
        + ready_reason
        + """
  message: {{ printf "containers with unready status: [%s]" (join " " $notready) | Quote }}
  lastTransitionTime: {{ $since | Quote }}
- type: ContainersReady
  status: "False"
  reason: """
        + ready_reason
        + """
  message: {{ printf "containers with unready status: [%s]" (join " " $notready) | Quote }}
  lastTransitionTime: {{ $since | Quote }}
"""
    )


def running_ok(cs_list: str = "containerStatuses") -> str:
    return """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: true
  started: true
  restartCount: {{ $rc }}
  state:
    running:
      startedAt: {{ or $root.status.startTime $now | Quote }}
"""


def crash_status(exit_code: str, reason: str, message: bool) -> str:
    msg = "      message: {{ $tmsg | Quote }}\n" if message else ""
    return (
        BACKOFF
        + """
- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: {{ add1 $rc }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off %s restarting failed container=%s pod=%s_%s(%s)" $bo $c.name $root.metadata.name $root.metadata.namespace $root.metadata.uid | Quote }}
  lastState:
    terminated:
      exitCode: """
        + exit_code
        + """
      reason: """
        + reason
        + """
"""
        + msg
        + """      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
"""
    )


@dataclass
class Event:
    suffix: str  # event name suffix (stable: re-applied events aggregate via count)
    type: str
    reason: str
    message: str  # Go template expression (printf …) using $t (failing container), $detail
    count: str = "{{ add1 $rc }}"


@dataclass
class Failure:
    name: str
    klass: str  # key into JQ / CHECK / PRE
    doc: str
    kind: str  # crash | ready | waiting | init-crash
    weight: int
    exit_code: str = "1"
    reason: str = "Error"
    tmsg: str = ""  # Go template expression for lastState.terminated.message ("" = none)
    waiting_reason: str = ""
    waiting_message: str = ""
    events: list[Event] = field(default_factory=list)
    extra_selector: list[dict[str, object]] = field(default_factory=list)
    delay_ms: int = 4000
    jitter_ms: int = 7000


BACKOFF_EVENT = Event(
    "backoff",
    "Warning",
    "BackOff",
    '{{ printf "Back-off restarting failed container %s in pod %s_%s(%s)" $t.name $root.metadata.name $root.metadata.namespace $root.metadata.uid | Quote }}',
)

FAILURES = [
    Failure(
        "aegis-missing-env",
        "env",
        "container crash-loops (exit 1) unless every variable in sim.aegis.dev/requires-env is in its env",
        "crash",
        100,
        events=[BACKOFF_EVENT],
    ),
    Failure(
        "aegis-init-missing-env",
        "init-env",
        "init container crash-loops (exit 1, Init:CrashLoopBackOff) unless its required env is defined",
        "init-crash",
        100,
        events=[BACKOFF_EVENT],
    ),
    Failure(
        "aegis-oom-killed",
        "memory",
        "container is OOMKilled (exit 137) while its memory limit is below sim.aegis.dev/memory-floor",
        "crash",
        100,
        exit_code="137",
        reason="OOMKilled",
        events=[BACKOFF_EVENT],
    ),
    Failure(
        "aegis-bad-command",
        "bad-command",
        "container cannot start (StartError, exit 128) while command[0] is in sim.aegis.dev/bad-command",
        "crash",
        1000,
        exit_code="128",
        reason="StartError",
        tmsg='{{ printf "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: %s: unknown" $detail }}',
        events=[
            Event(
                "failed",
                "Warning",
                "Failed",
                '{{ printf "Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: %s: unknown" $detail | Quote }}',
            ),
            BACKOFF_EVENT,
        ],
    ),
    Failure(
        "aegis-liveness-failure",
        "liveness",
        "container is killed (exit 143) and restarted while its livenessProbe misses the port/path it serves",
        "crash",
        100,
        exit_code="143",
        reason="Error",
        events=[
            Event(
                "unhealthy-liveness",
                "Warning",
                "Unhealthy",
                '{{ printf "Liveness probe failed: %s" $detail | Quote }}',
                "{{ mul 3 (add1 $rc) }}",
            ),
            Event(
                "killing",
                "Normal",
                "Killing",
                '{{ printf "Container %s failed liveness probe, will be restarted" $t.name | Quote }}',
            ),
            BACKOFF_EVENT,
        ],
        delay_ms=6000,
        jitter_ms=10000,
    ),
    Failure(
        "aegis-app-error-after-rollout",
        "crash-when",
        "container crash-loops (exit 1) while it runs the image named in sim.aegis.dev/crash-when",
        "crash",
        100,
        events=[BACKOFF_EVENT],
        # a pod that is never restarted ends Failed instead (aegis-job-pod-failed)
        extra_selector=[{"jq": {"key": '.spec.restartPolicy // "Always"', "operator": "NotIn", "values": ["Never"]}}],
    ),
    Failure(
        "aegis-readiness-failure",
        "readiness",
        "pod Running but not Ready while its readinessProbe misses the port/path it serves",
        "ready",
        100,
        events=[
            Event(
                "unhealthy-readiness",
                "Warning",
                "Unhealthy",
                '{{ printf "Readiness probe failed: %s" $detail | Quote }}',
                "{{ $n }}",
            )
        ],
        delay_ms=8000,
        jitter_ms=12000,
    ),
    Failure(
        "aegis-image-pull-error",
        "image",
        "ErrImagePull while a container image is not in sim.aegis.dev/images (first attempt / after back-off)",
        "waiting",
        100000,
        waiting_reason="ErrImagePull",
        waiting_message='{{ printf "rpc error: code = NotFound desc = failed to pull and unpack image \\"docker.io/%s\\": failed to resolve reference \\"docker.io/%s\\": docker.io/%s: not found" $c.image $c.image $c.image }}',
        events=[
            Event(
                "pulling",
                "Normal",
                "Pulling",
                '{{ printf "Pulling image \\"%s\\"" $t.image | Quote }}',
                "{{ $n }}",
            ),
            Event(
                "failed-pull",
                "Warning",
                "Failed",
                '{{ printf "Failed to pull image \\"%s\\": rpc error: code = NotFound desc = failed to pull and unpack image \\"docker.io/%s\\": failed to resolve reference \\"docker.io/%s\\": docker.io/%s: not found" $t.image $t.image $t.image $t.image | Quote }}',
                "{{ $n }}",
            ),
            Event("failed-errimagepull", "Warning", "Failed", '"Error: ErrImagePull"', "{{ $n }}"),
        ],
        extra_selector=[
            {
                "jq": {
                    "key": '[(.status.containerStatuses // [])[].state.waiting.reason] | any(. == "ErrImagePull")',
                    "operator": "NotIn",
                    "values": ["true"],
                }
            }
        ],
        delay_ms=1000,
        jitter_ms=2000,
    ),
    Failure(
        "aegis-image-pull-backoff",
        "image",
        "ImagePullBackOff after ErrImagePull",
        "waiting",
        100000,
        waiting_reason="ImagePullBackOff",
        waiting_message='{{ printf "Back-off pulling image \\"%s\\": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image \\"docker.io/%s\\": not found" $c.image $c.image }}',
        events=[
            Event(
                "backoff-pull",
                "Normal",
                "BackOff",
                '{{ printf "Back-off pulling image \\"%s\\"" $t.image | Quote }}',
                "{{ $n }}",
            ),
            Event("failed-imagepullbackoff", "Warning", "Failed", '"Error: ImagePullBackOff"', "{{ $n }}"),
        ],
        extra_selector=[
            {
                "jq": {
                    "key": '[(.status.containerStatuses // [])[].state.waiting.reason] | any(. == "ErrImagePull")',
                    "operator": "In",
                    "values": ["true"],
                }
            }
        ],
        delay_ms=5000,
        jitter_ms=10000,
    ),
    Failure(
        "aegis-missing-config-reference",
        "missing-refs",
        "CreateContainerConfigError while the harness watcher stamps sim.aegis.dev/missing-refs",
        "waiting",
        10000,
        waiting_reason="CreateContainerConfigError",
        waiting_message="{{ $detail }}",
        # the harness watcher posts the kubelet-style "Failed" events itself
        events=[],
        delay_ms=500,
        jitter_ms=1000,
    ),
]

FAILURES.append(
    Failure(
        "aegis-volume-failure",
        "missing-volumes",
        "ContainerCreating while the harness watcher stamps sim.aegis.dev/missing-volumes",
        "waiting",
        1000000,
        waiting_reason="ContainerCreating",
        waiting_message='""',
        events=[],
        delay_ms=500,
        jitter_ms=1000,
    )
)
# issue 14 (i14a): the app's calls to its dependencies or the Kubernetes API fail (tests/cluster/simnet.py
# decides from the real Services, Endpoints, NetworkPolicies and RBAC, and stamps the line it prints):
# it exits 1 and crash-loops while the stamp is there; it recovers in place once the stamp is cleared.
JQ["dependency"] = jq_ann("dependency-failures") + " as $d | [.spec.containers[] | .name as $n | $d | has($n)] | any"
CHECK["dependency"] = '{{ $fail := hasKey $depf $c.name }}{{ $detail := "" }}{{ if $fail }}{{ $detail = toString (index $depf $c.name) }}{{ end }}'
PRE["dependency"] = pre_json("depf", "dependency-failures")
FAILURES.append(
    Failure(
        "aegis-dependency-failure",
        "dependency",
        "container crash-loops (exit 1) while the harness stamps sim.aegis.dev/dependency-failures (a call that fails)",
        "crash",
        100,
        events=[BACKOFF_EVENT],
    )
)

# eviction: the app writes sim.aegis.dev/ephemeral-storage-usage to its container's disk;
# evicted when that exceeds the container's ephemeral-storage limit, or (node disk pressure)
# its request; protected when request >= usage and no lower limit.
# Or its node runs out of memory because of other tenants: sim.aegis.dev/node-memory-available
# (what the node has left while this pod runs, e.g. "87212Ki") below the kubelet's 100Mi
# eviction threshold evicts the pod with the kubelet's message for a pod within its requests
# (no container named). Nothing in the pod's spec can prevent that: its diagnosis has no fix.
EVICT_CHECK = (
    '{{ $fail := false }}{{ $detail := "" }}'
    "{{ $use := index $usage $c.name }}"
    "{{ if $use }}"
    '{{ $lim := "" }}{{ $req := "0" }}'
    '{{ with $c.resources }}{{ with .limits }}{{ with index . "ephemeral-storage" }}{{ $lim = toString . }}{{ end }}{{ end }}'
    '{{ with .requests }}{{ with index . "ephemeral-storage" }}{{ $req = toString . }}{{ end }}{{ end }}{{ end }}'
    + tpl_bytes("ub", "(toString $use)")
    + tpl_bytes("rb", "$req")
    + "{{ if $lim }}"
    + tpl_bytes("lbb", "$lim")
    + "{{ if gt $ub $lbb }}{{ $fail = true }}"
    + '{{ $detail = printf "Container %s exceeded its local ephemeral storage limit \\"%s\\". " $c.name $lim }}{{ end }}{{ end }}'
    + "{{ if and (not $fail) (lt $rb $ub) }}{{ $fail = true }}"
    + '{{ $detail = printf "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 3Gi. Container %s was using %s, request is %s, has larger consumption of ephemeral-storage. " $c.name (toString $use) $req }}{{ end }}'
    + "{{ end }}"
    + '{{ $memfree := or (index $ann "sim.aegis.dev/node-memory-available") "" }}'
    + "{{ if and (not $fail) $memfree }}"
    + tpl_bytes("mfb", "$memfree")
    + "{{ if lt $mfb 104857600.0 }}{{ $fail = true }}"
    + '{{ $detail = printf "The node was low on resource: memory. Threshold quantity: 100Mi, available: %s. " $memfree }}{{ end }}'
    + "{{ end }}"
)
CHECK["evict"] = EVICT_CHECK
PRE["evict"] = pre_json("usage", "ephemeral-storage-usage")
JQ["evict"] = (
    JQ_BYTES
    + ". as $pod | (("
    + jq_ann("ephemeral-storage-usage")
    + " as $u | [.spec.containers[] | . as $c | $u[$c.name] as $use"
    + ' | ($c.resources.limits["ephemeral-storage"]? // null) as $lim'
    + ' | ($c.resources.requests["ephemeral-storage"]? // "0") as $req'
    + " | $use != null and (($lim != null and (($use | bytes) > ($lim | bytes))) or (($req | bytes) < ($use | bytes)))] | any)"
    + ' or ((($pod.metadata.annotations // {})["'
    + A
    + 'node-memory-available"] // "") as $m | $m != "" and (($m | bytes) < 104857600)))'
)
EVICTED_EVENT = Event(
    "evicted",
    "Warning",
    "Evicted",
    "{{ $detail | Quote }}",
    "1",
)
FAILURES.append(
    Failure(
        "aegis-evicted-start",
        "evict",
        "pods that will be evicted start, not Ready yet",
        "evict-run",
        100,
        events=[],
        extra_selector=[{"jq": {"key": ".status.phase", "operator": "In", "values": ["Pending"]}}],
        delay_ms=1000,
        jitter_ms=1500,
    )
)
FAILURES.append(
    Failure(
        "aegis-evicted",
        "evict",
        "evicted (phase Failed, reason Evicted) while ephemeral-storage usage exceeds the container's limit or request, or node memory runs out",
        "evict",
        100,
        events=[EVICTED_EVENT, Event("killing-evicted", "Normal", "Killing", '{{ printf "Stopping container %s" $t.name | Quote }}', "1")],
        extra_selector=[{"jq": {"key": ".status.phase", "operator": "In", "values": ["Running"]}}],
        delay_ms=2500,
        jitter_ms=4000,
    )
)
CHECK["missing-volumes"] = '{{ $fail := true }}{{ $detail := "" }}'
PRE["missing-volumes"] = ""
JQ["missing-volumes"] = '(.metadata.annotations // {})["' + A + 'missing-volumes"] // "" | length > 0'
JQ["missing-refs"] = jq_ann("missing-refs") + " as $m | [.spec.containers[] | .name as $n | $m | has($n)] | any"
JQ["init-missing-refs"] = jq_ann("missing-refs") + " as $m | [(.spec.initContainers // [])[] | .name as $n | $m | has($n)] | any"
CHECK["init-missing-refs"] = CHECK["missing-refs"]
PRE["init-missing-refs"] = PRE["missing-refs"]
FAILURES.append(
    Failure(
        "aegis-init-missing-config-reference",
        "init-missing-refs",
        "Init:CreateContainerConfigError while an init container references a missing ConfigMap/Secret (key)",
        "init-waiting",
        20000,
        waiting_reason="CreateContainerConfigError",
        waiting_message="{{ $detail }}",
        events=[],
        delay_ms=500,
        jitter_ms=1000,
    )
)

# A Job's pod (restartPolicy Never) running the image named in sim.aegis.dev/crash-when exits 1
# and ends Failed: the Job controller retries up to backoffLimit, then fails the Job
# (BackoffLimitExceeded). Outweighs KWOK's pod-complete (Job pods succeed) and the crash-loop stage.
FAILURES.append(
    Failure(
        "aegis-job-pod-failed",
        "crash-when",
        "a Job's pod (restartPolicy Never) exits 1 and ends Failed while it runs the image named in sim.aegis.dev/crash-when",
        "job-fail",
        100000,
        events=[],
        extra_selector=[
            {"jq": {"key": '[(.metadata.ownerReferences // [])[].kind] | any(. == "Job")', "operator": "In", "values": ["true"]}},
            {"jq": {"key": ".spec.restartPolicy", "operator": "In", "values": ["Never"]}},
            {"jq": {"key": ".status.phase", "operator": "In", "values": ["Running"]}},
        ],
        delay_ms=1500,
        jitter_ms=2000,
    )
)

# A full volume: the harness watcher stamps sim.aegis.dev/disk-full ({container: ENOSPC line}) on a
# pod whose sim.aegis.dev/writes need more than the claim mounted at that path holds; the container
# crash-loops (exit 1) until the claim is expanded and the stamp is cleared.
JQ["disk-full"] = jq_ann("disk-full") + " as $d | [.spec.containers[] | .name as $n | $d | has($n)] | any"
CHECK["disk-full"] = '{{ $fail := hasKey $full $c.name }}{{ $detail := "" }}{{ if $fail }}{{ $detail = toString (index $full $c.name) }}{{ end }}'
PRE["disk-full"] = pre_json("full", "disk-full")
FAILURES.append(
    Failure(
        "aegis-disk-full",
        "disk-full",
        "container crash-loops (exit 1) while the harness watcher stamps sim.aegis.dev/disk-full (its claim is smaller than what it writes)",
        "crash",
        5000,
        events=[BACKOFF_EVENT],
    )
)


def status_template(f: Failure) -> str:
    t = HEADER + PRE[f.klass]
    cs = "initContainerStatuses" if f.kind.startswith("init-") else "containerStatuses"
    loop_list = ".spec.initContainers" if f.kind.startswith("init-") else ".spec.containers"
    t += "{{ $failing := list }}{{ $notready := list }}{{ $blocked := false }}\n"
    t += f"{cs}:\n"
    t += f"{{{{ range $i, $c := {loop_list} }}}}\n"
    t += PREV.replace("CS", cs) + CHECK[f.klass] + "\n"
    if f.tmsg:
        t += "{{ $tmsg := " + f.tmsg.strip("{} ") + " }}\n"
    if f.kind == "crash":
        t += "{{ if $fail }}{{ $failing = append $failing $c.name }}{{ $notready = append $notready $c.name }}"
        t += crash_status(f.exit_code, f.reason, bool(f.tmsg))
        t += "{{ else }}\n" + running_ok() + "{{ end }}\n{{ end }}\n"
        t += conditions(True) + "phase: Running\n" + IPS
    elif f.kind in ("init-crash", "init-waiting"):
        # init containers before the failing one completed, the failing one crash-loops,
        # those after it wait; app containers wait in PodInitializing
        t += "{{ if $blocked }}\n"
        t += """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: PodInitializing
"""
        t += "{{ else if $fail }}{{ $blocked = true }}{{ $failing = append $failing $c.name }}"
        if f.kind == "init-crash":
            t += crash_status(f.exit_code, f.reason, bool(f.tmsg))
        else:
            t += (
                """
- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: {{ $rc }}
  state:
    waiting:
      reason: """
                + f.waiting_reason
                + """
      message: {{ """
                + f.waiting_message.strip("{} ")
                + """ | Quote }}
"""
            )
        t += """{{ else }}
- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: true
  started: false
  restartCount: {{ $rc }}
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ or $root.status.startTime $now | Quote }}
      finishedAt: {{ or $root.status.startTime $now | Quote }}
{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}{{ $notready = append $notready .name }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: PodInitializing
{{ end }}
"""
        t += conditions(False) + "phase: Pending\n" + IPS
    elif f.kind == "ready":
        t += "{{ if $fail }}{{ $failing = append $failing $c.name }}{{ $notready = append $notready $c.name }}{{ end }}\n"
        t += """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: {{ not $fail }}
  started: true
  restartCount: {{ $rc }}
  state:
    running:
      startedAt: {{ or $root.status.startTime $now | Quote }}
{{ end }}
"""
        # lastProbeTime changes, so the stage re-fires and the Unhealthy event count grows
        t += conditions(True, probe_time=True) + "phase: Running\n" + IPS
    elif f.kind == "waiting":
        t += "{{ $notready = append $notready $c.name }}{{ if $fail }}{{ $failing = append $failing $c.name }}{{ end }}\n"
        t += (
            """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: {{ $rc }}
  state:
    waiting:
{{ if $fail }}
      reason: """
            + f.waiting_reason
            + """
      message: {{ """
            + f.waiting_message.strip("{} ")
            + """ | Quote }}
{{ else }}
      reason: ContainerCreating
{{ end }}
{{ end }}
"""
        )
        t += conditions(True) + "phase: Pending\n" + IPS
    elif f.kind == "evict-run":
        # started, not Ready yet: the app is warming up (and filling its disk)
        t += "{{ $notready = append $notready $c.name }}\n"
        t += """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ or $root.status.startTime $now | Quote }}
{{ end }}
"""
        t += conditions(True) + "phase: Running\n" + IPS
    elif f.kind == "evict":
        t += "{{ if and $fail (not $evmsg) }}{{ $evmsg = $detail }}{{ end }}\n"
        t += """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 137
      reason: Error
      startedAt: {{ or $root.status.startTime $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
conditions:
- type: DisruptionTarget
  status: "True"
  reason: TerminationByKubelet
  message: {{ $evmsg | Quote }}
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
phase: Failed
reason: Evicted
message: {{ $evmsg | Quote }}
"""
        t = t.replace("{{ $failing := list }}", '{{ $evmsg := "" }}{{ $failing := list }}', 1)
    elif f.kind == "job-fail":
        # restartPolicy Never: the failed container is not restarted; the pod ends Failed and the
        # Job controller counts it against backoffLimit
        t += "{{ if $fail }}{{ $failing = append $failing $c.name }}{{ end }}{{ $notready = append $notready $c.name }}\n"
        t += (
            """- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: {{ if $fail }}"""
            + f.exit_code
            + """{{ else }}0{{ end }}
      reason: {{ if $fail }}"""
            + f.reason
            + """{{ else }}Completed{{ end }}
      startedAt: {{ or $root.status.startTime $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
conditions:
- type: Ready
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
phase: Failed
"""
        )
    else:
        raise ValueError(f.kind)
    return t


def count_prelude() -> str:
    # $n: a counter that grows about every 10s since the pod started (aggregated events)
    return (
        "{{ $st := or $root.status.startTime $root.metadata.creationTimestamp }}"
        '{{ $n := add1 (div (sub (now | unixEpoch) (toDate "2006-01-02T15:04:05Z07:00" $st | unixEpoch)) 10) }}\n'
    )


def event_template(f: Failure, ev: Event) -> str:
    loop_list = ".spec.initContainers" if f.kind.startswith("init-") else ".spec.containers"
    cs = "initContainerStatuses" if f.kind.startswith("init-") else "containerStatuses"
    t = HEADER + PRE[f.klass] + count_prelude()
    t += '{{ $t := dict }}{{ $rc := int64 0 }}{{ $detail := "" }}\n'
    t += f"{{{{ range $i, $c := {loop_list} }}}}{{{{ if not $t.name }}}}\n"
    t += "{{ $prev := dict }}{{ range $root.status.CS }}{{ if eq .name $c.name }}{{ $prev = . }}{{ end }}{{ end }}".replace("CS", cs)
    t += CHECK[f.klass].replace("{{ $detail := ", "{{ $detail = ").replace('{{ $detail := "" }}', "")
    t += "{{ if $fail }}{{ $t = $c }}{{ $rc = int64 (or $prev.restartCount 0) }}{{ end }}\n{{ end }}{{ end }}\n"
    field = "spec.initContainers" if f.kind.startswith("init-") else "spec.containers"
    t += (
        """apiVersion: v1
kind: Event
metadata:
  name: {{ printf "%s.aegis-sim-%s-"""
        + ev.suffix
        + """" $root.metadata.name $t.name | Quote }}
  namespace: {{ $root.metadata.namespace | Quote }}
involvedObject:
  apiVersion: v1
  kind: Pod
  name: {{ $root.metadata.name | Quote }}
  namespace: {{ $root.metadata.namespace | Quote }}
  uid: {{ $root.metadata.uid | Quote }}
  fieldPath: {{ printf \""""
        + field
        + """{%s}" $t.name | Quote }}
type: """
        + ev.type
        + """
reason: """
        + ev.reason
        + """
message: """
        + ev.message
        + """
source:
  component: kubelet
  host: {{ $root.spec.nodeName | Quote }}
reportingComponent: kubelet
reportingInstance: {{ $root.spec.nodeName | Quote }}
firstTimestamp: {{ $root.metadata.creationTimestamp | Quote }}
lastTimestamp: {{ $now | Quote }}
count: """
        + ev.count
        + "\n"
    )
    return t


def stage(f: Failure) -> dict[str, object]:
    steps: list[dict[str, object]] = [{"patch": {"subresource": "status", "root": "status", "template": status_template(f)}}]
    for ev in f.events:
        steps.append({"apply": {"template": event_template(f, ev)}})
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": f.name, "annotations": {"sim.aegis.dev/doc": f.doc}},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"jq": {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}},
                    {"jq": {"key": ".spec.nodeName", "operator": "Exists"}},
                    {"jq": {"key": JQ[f.klass], "operator": "In", "values": ["true"]}},
                    *f.extra_selector,
                ]
            },
            "weight": f.weight,
            "delay": {
                "durationMilliseconds": f.delay_ms,
                "jitterDurationMilliseconds": f.jitter_ms,
                # first failure quickly, then kubelet-like back-off
                "durationFrom": {"jq": {"expression": FIRST_FIRE}},
                "jitterDurationFrom": {"jq": {"expression": FIRST_FIRE.replace('"500ms"', '"1500ms"')}},
            },
            "steps": steps,
        },
    }


FIRST_FIRE = (
    "if ([(.status.containerStatuses // [])[].restartCount] | add // 0) == 0"
    " and ([(.status.initContainerStatuses // [])[].restartCount] | add // 0) == 0"
    ' and (.status.phase // "Pending") == "Pending" and ([(.status.containerStatuses // [])[].state.waiting.reason] | any(. == "ErrImagePull" or . == "ImagePullBackOff") | not) then "500ms" else null end'
)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the templates) as literal blocks, without touching PyYAML's global state."""


def _literal_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _literal_representer)


def main(out: Path = OUT) -> None:
    docs = [stage(f) for f in FAILURES]
    text = "# GENERATED by tests/cluster/stages/gen_stages.py -- do not edit by hand.\n"
    text += yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=4096)
    out.write_text(text)
    print(f"wrote {out} ({len(docs)} stages)")


if __name__ == "__main__":
    main()
