"""image_pull_error: a container cannot start because its image cannot be pulled.

Signal: a container (app or init) waiting with ErrImagePull, ImagePullBackOff or InvalidImageName,
read together with the kubelet's `Failed` pull events for it. The registry's answer decides the
fix: 'not found' / 'manifest unknown' / an invalid reference mean the image named does not exist,
and the fix restores the previous revision's image for that container when it differs;
'unauthorized' / 'pull access denied' / 403 mean the node may not read it, and no spec change
AEGIS can make is safe — the manual steps are about imagePullSecrets. Network failures and rate
limits are reported with no patch.
"""

from __future__ import annotations

from aegis.core import objects
from aegis.core.analyzers import signals
from aegis.core.analyzers.base import Context, Finding, FixDraft
from aegis.core.analyzers.signals import ContainerState
from aegis.core.evidence.extract import template_pair
from aegis.core.fixes import patching
from aegis.core.models import Category, Risk

# kubelet's waiting reasons for an image it cannot get (pkg/kubelet/images/types.go).
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable", "ImageInspectError")
_MISSING = ("not found", "manifest unknown", "name unknown", "invalid reference format", "couldn't parse image", "repository does not exist")
_DENIED = ("unauthorized", "authentication required", "no basic auth credentials", "pull access denied", "403 forbidden", "denied:", "forbidden")
_NETWORK = (
    "i/o timeout",
    "no such host",
    "connection refused",
    "tls handshake timeout",
    "toomanyrequests",
    "429 too many requests",
    "connection reset",
    "x509:",
    "server gave http response to https client",
    "context deadline exceeded",
    "network is unreachable",
    "no route to host",
)


def classify(text: str, reason: str) -> str:
    """'missing', 'denied', 'network' or 'other' for a pull failure's messages."""
    low = text.lower()
    if reason in ("InvalidImageName", "ErrImageNeverPull"):
        return "missing"  # a malformed reference; an image absent from a node that may not pull it
    if reason == "RegistryUnavailable":
        return "network"
    # Docker Hub answers "pull access denied ... repository does not exist or may require 'docker login'"
    # for a missing repository too; "not found"/"manifest unknown" is unambiguous, so it is read first.
    if any(w in low for w in ("manifest unknown", ": not found", "not found: manifest", "name unknown")):
        return "missing"
    if any(w in low for w in _DENIED):
        return "denied"
    if any(w in low for w in _MISSING):
        return "missing"
    if any(w in low for w in _NETWORK):
        return "network"
    return "other"


# Docker Hub (and registries copying it) answer this both for a repository that does not exist (a
# misspelt name) and for a private one the node may not read: the words cannot tell them apart.
_EITHER = "repository does not exist or may require"


def _pull_messages(ctx: Context, state: ContainerState) -> list[str]:
    messages = [state.waiting_message] if state.waiting_message else []
    for event in ctx.bundle.events:
        field_path = str((event.get("involvedObject") or {}).get("fieldPath", ""))
        message = str(event.get("message", ""))
        # Events exported without fieldPath still quote the image they failed on.
        image = str(state.spec.get("image", ""))
        ours = field_path.endswith(f"{{{state.name}}}") or (not field_path and bool(image) and f'"{image}"' in message)
        if (
            event.get("reason") in ("Failed", "InspectFailed")
            and ours
            and message.startswith(("Failed to pull image", "Failed to apply default image tag", "Error: InvalidImageName"))
        ):
            messages.append(message)
    return messages


def analyze(ctx: Context) -> Finding | None:
    for state in signals.container_states(ctx):
        if state.waiting_reason in PULL_REASONS:
            return _finding(ctx, state)
    return None


def _finding(ctx: Context, state: ContainerState) -> Finding:
    messages = _pull_messages(ctx, state)
    kind = classify("\n".join(messages), state.waiting_reason)
    image = str(state.spec.get("image", state.status.get("image", "")))
    label = "init container" if state.init else "container"
    detail = next((m for m in messages if m.startswith("Failed to")), messages[0] if messages else state.waiting_reason)
    meaning = {
        "missing": "the image reference does not exist in the registry",
        "denied": "the registry refuses the node's credentials for this image",
        "network": "the node cannot reach the registry",
        "other": "the pull fails for a reason AEGIS does not recognize",
    }[kind]
    steps = [
        f"{label.capitalize()} {state.name} of pod {state.pod_name} is waiting with {state.waiting_reason} for image {image}{ctx.cite(state.key)}",
        f"The kubelet's pull error: '{_shorten(detail)}' — {meaning}{ctx.cite('event:Failed', 'event:BackOff', state.key)}",
    ]
    previous_image = _previous_image(ctx, state)
    if previous_image:
        steps.append(f"The last rollout changed its image from {previous_image} to {image}{ctx.cite('change:rollout')}")
    if kind == "denied" and previous_image and any(_EITHER in m for m in messages) and _same_pull_secrets(ctx):
        # The previous image was pulled with the same credentials: restoring it heals whichever of the two it is.
        kind = "either"
        meaning = "the registry says the repository does not exist or needs credentials the node lacks"
        steps[-1] = f"The kubelet's pull error: '{_shorten(detail)}' — {meaning}{ctx.cite('event:Failed', 'event:BackOff', state.key)}"
    draft, manual, verdict = _fix(ctx, state, kind, image, previous_image)
    # The verdict rests on the pull error (why no patch) or on the rollout (what to restore).
    steps.append(verdict + ctx.cite("change:rollout" if draft else "event:Failed", state.key))
    confidence = {"missing": 0.93, "denied": 0.9, "either": 0.88, "network": 0.7, "other": 0.65}[kind]
    return Finding(
        category=Category.IMAGE_PULL_ERROR,
        confidence=confidence,
        summary=f"{label.capitalize()} {state.name} cannot start: {meaning} ({image}).",
        steps=steps,
        evidence_ids=ctx.evidence.ids(state.key, "event:Failed", "event:BackOff", "change:rollout"),
        fix=draft,
        manual_steps=manual,
    )


def _shorten(text: str, limit: int = 220) -> str:
    """Long pull errors keep their start (the image) and their end (the registry's answer)."""
    return text if len(text) <= limit else f"{text[:90]} … {text[-(limit - 93) :]}"


def _same_pull_secrets(ctx: Context) -> bool:
    """Whether the last rollout left imagePullSecrets (and the ServiceAccount that may carry them) as they were."""
    current, previous = template_pair(ctx.bundle)
    if not current or not previous:
        return False
    now, then = current.get("spec") or {}, previous.get("spec") or {}
    return all(now.get(f) == then.get(f) for f in ("imagePullSecrets", "serviceAccountName"))


def _previous_image(ctx: Context, state: ContainerState) -> str | None:
    current, previous = template_pair(ctx.bundle)
    if not current or not previous:
        return None
    old = objects.find_container(previous.get("spec") or {}, state.name)
    now = objects.find_container(current.get("spec") or {}, state.name)
    if not old or not now or old[0].get("image") == now[0].get("image") or not old[0].get("image"):
        return None
    return str(old[0]["image"])


def _fix(ctx: Context, state: ContainerState, kind: str, image: str, previous_image: str | None) -> tuple[FixDraft | None, list[str], str]:
    workload = ctx.workload
    index = signals.workload_container_index(ctx, state.name, init=state.init)
    secrets = [str(s.get("name")) for s in (objects.pod_spec(workload or state.pod).get("imagePullSecrets") or [])]
    host = image.split("/", maxsplit=1)[0]
    registry = host if "/" in image and ("." in host or ":" in host) else "docker.io"
    if kind == "denied":
        missing = [s for s in secrets if ctx.bundle.knows("Secret") and ctx.bundle.find("Secret", s) is None]
        return (
            None,
            [
                f"The registry {registry} refuses to serve {image} to the node: credentials are missing or wrong, "
                "which AEGIS cannot fix by editing the workload.",
                (
                    f"The pod uses imagePullSecrets {', '.join(secrets)}"
                    + (f"; {', '.join(missing)} does not exist in namespace {ctx.bundle.namespace}" if missing else "")
                    + ": check that the secret is a kubernetes.io/dockerconfigjson for this registry with a valid, unexpired token."
                )
                if secrets
                else f"The pod has no imagePullSecrets: create one (kubectl create secret docker-registry … --docker-server={registry}) "
                "and reference it from the pod template or the ServiceAccount.",
                "Check that the account behind the credentials may pull this repository, then delete the failing pod to retry.",
            ],
            "No fix — access to the registry is a credentials problem, not a spec change",
        )
    if kind == "network":
        return (
            None,
            [
                f"The node cannot reach {registry} (network, DNS or rate limit). Check the node's egress and DNS, or mirror the image.",
                "The pull is retried automatically once the registry is reachable.",
            ],
            "No fix — the image reference may be right; the registry is unreachable",
        )
    if workload is None or index is None or not previous_image:
        return (
            None,
            [
                f"Check that {image} exists (the tag or digest may be mistyped or not pushed yet) and set the image of {state.name} to one that does.",
                "No earlier revision with a different image is known, so AEGIS has nothing safe to restore.",
            ],
            "No fix — no earlier image to restore",
        )
    base = patching.container_path(workload, index, init=state.init)
    current_image = objects.containers(objects.pod_spec(workload), init=state.init)[index].get("image")
    summary = f"set the image of {'init container' if state.init else 'container'} {state.name} back to {previous_image}"
    return (
        FixDraft(
            ops=[patching.test(f"{base}/name", state.name), *patching.replace(f"{base}/image", current_image, previous_image)],
            summary=summary,
            rationale=(
                f"{image} cannot be pulled ({_why(kind)}), so no pod of "
                f"this revision can start. The previous revision ran {previous_image}, which the nodes pulled before; restoring it "
                "for this one container brings the workload back while the new image is published or corrected."
            ),
            risk=Risk.MEDIUM if not state.init else Risk.LOW,
            risk_notes=f"Runs the older {previous_image} again: whatever the new release was meant to ship is deferred until the image exists.",
            alternatives_rejected=[
                "Waiting: the back-off retries the same reference, which will not appear by itself.",
                "Guessing a nearby tag: only the previous revision's image is known to work.",
            ],
        ),
        [],
        f"Fix: {summary}",
    )


def _why(kind: str) -> str:
    if kind == "missing":
        return "the reference does not exist"
    if kind == "either":
        return "the registry answers that the repository does not exist or needs credentials, and the previous image pulled with the same ones"
    return "the pull fails"
