"""rbac_forbidden: the workload's ServiceAccount lacks a permission its calls to the Kubernetes API need.

Signal: the API server's refusal, as clients print it (`pods is forbidden: User
"system:serviceaccount:NS:SA" cannot list resource "pods" in API group "" in the namespace "NS"`,
also JSON-escaped inside a client exception), in the logs of the focus pod or in an event, for the
ServiceAccount the pod runs as. A 403 from any other HTTP service, or a refusal naming another
user, is not this.

No patch: AEGIS patches workloads, not RBAC, and granting a permission is a security decision. The
manual steps name the ServiceAccount, the verb, the resource and API group, and the Role (bound to
the ServiceAccount by an existing RoleBinding) to extend, or the Role and RoleBinding to create.
"""

from __future__ import annotations

import json

from aegis.core import objects
from aegis.core.analyzers.base import Context, Finding
from aegis.core.analyzers.signals import container_states
from aegis.core.evidence import netlog
from aegis.core.models import Category, KubeObject


def analyze(ctx: Context) -> Finding | None:
    pod = ctx.pod
    if pod is None:
        return None
    account = str(objects.pod_spec(pod).get("serviceAccountName") or objects.pod_spec(pod).get("serviceAccount") or "default")
    ns = objects.namespace(pod) or ctx.bundle.namespace
    for refusal, key, container in reversed(_refusals(ctx)):
        if refusal.service_account == (ns, account):
            return _finding(ctx, refusal, key, container, ns, account)
    return None


def _refusals(ctx: Context) -> list[tuple[netlog.Forbidden, str, str]]:
    """(refusal, evidence key, container) from the focus pod's logs and the events, oldest first."""
    found: list[tuple[netlog.Forbidden, str, str]] = []
    for state in container_states(ctx):
        for previous in (True, False):
            text = ctx.bundle.log(state.pod_name, state.name, previous=previous)
            if text:
                key = f"log:{state.pod_name}/{state.name}:{'previous' if previous else 'current'}"
                found += [(r, key, state.name) for r in netlog.forbidden(text)]
    for event in ctx.bundle.events:
        found += [(r, f"event:{event.get('reason')}", "") for r in netlog.forbidden(str(event.get("message") or ""))]
    return found


def _finding(ctx: Context, refusal: netlog.Forbidden, key: str, container: str, ns: str, account: str) -> Finding:
    resource, group = refusal.resource, refusal.group
    where = f"in namespace {refusal.namespace}" if refusal.namespace else "at cluster scope"
    api = f'API group "{group}"' if group else "the core API group"
    bindings = [b for b in ctx.bundle.role_bindings if _binds(b, ns, account)]
    binding_keys = [f"config:RoleBinding/{objects.name(b)}" for b in bindings]
    status_key = next((s.key for s in container_states(ctx) if s.name == container), f"status:pod:{objects.name(ctx.pod or {})}")
    steps = [
        f"The API server refuses requests of ServiceAccount {ns}/{account}: it cannot {refusal.verb} {resource} ({api}) {where}: "
        f"'{refusal.line[:220]}'{ctx.cite(key, status_key)}",
        f"Pod {objects.name(ctx.pod or {})} runs as ServiceAccount {account}{ctx.cite(status_key, f'status:pod:{objects.name(ctx.pod or {})}')}",
    ]
    rule = {"apiGroups": [group], "resources": [resource], "verbs": [refusal.verb]}
    manual: list[str] = []
    role = _bound_role(ctx, bindings) if refusal.namespace else None
    if refusal.namespace is None:
        name = f"{account}-{resource.replace('/', '-')}"
        steps.append(f"The request is cluster-scoped: only a ClusterRole bound by a ClusterRoleBinding can allow it{ctx.cite(key)}")
        manual += [
            f"Create ClusterRole {name} allowing {refusal.verb} on {resource} ({api}) and bind it to ServiceAccount {ns}/{account}: "
            f"`kubectl create clusterrole {name} --verb={refusal.verb} --resource={_resource_arg(resource, group)}` then "
            f"`kubectl create clusterrolebinding {name} --clusterrole={name} --serviceaccount={ns}:{account}`",
        ]
        subject = f"a ClusterRole and ClusterRoleBinding granting {refusal.verb} on {resource}"
    elif role is not None:
        binding, role_obj = role
        steps.append(
            f"RoleBinding {objects.name(binding)} binds {account} to Role {objects.name(role_obj)}, whose rules do not include "
            f"{refusal.verb} on {resource}{ctx.cite(f'config:RoleBinding/{objects.name(binding)}')}"
        )
        manual.append(
            f"Add the rule to Role {objects.name(role_obj)} in namespace {refusal.namespace} (bound to {account} by RoleBinding "
            f"{objects.name(binding)}): `kubectl -n {refusal.namespace} patch role {objects.name(role_obj)} --type=json -p "
            f"'{json.dumps([{'op': 'add', 'path': '/rules/-', 'value': rule}], separators=(',', ':'))}'`"
        )
        subject = f"Role {objects.name(role_obj)} (bound by RoleBinding {objects.name(binding)}) lacks {refusal.verb} on {resource}"
    else:
        name = f"{account}-{resource.replace('/', '-')}"
        known = ctx.bundle.knows("RoleBinding")
        steps.append(
            (
                f"No RoleBinding in namespace {refusal.namespace} binds ServiceAccount {account} to a Role"
                if known
                else "AEGIS could not read the namespace's RoleBindings, so which Role to extend is unknown"
            )
            + ctx.cite(*binding_keys, key)
        )
        manual.append(
            f"Create Role {name} in namespace {refusal.namespace} allowing {refusal.verb} on {resource} ({api}) and bind it to "
            f"ServiceAccount {account}: `kubectl -n {refusal.namespace} create role {name} --verb={refusal.verb} "
            f"--resource={_resource_arg(resource, group)}` then `kubectl -n {refusal.namespace} create rolebinding {name} --role={name} "
            f"--serviceaccount={ns}:{account}`"
        )
        subject = f"no Role bound to it grants {refusal.verb} on {resource}"
    steps.append(f"No patch: AEGIS changes workloads, not permissions; granting one is for the namespace's owner{ctx.cite(key, *binding_keys)}")
    manual.append(f"Check with `kubectl auth can-i {refusal.verb} {resource} --as=system:serviceaccount:{ns}:{account} -n {refusal.namespace or ns}`.")
    return Finding(
        category=Category.RBAC_FORBIDDEN,
        confidence=0.92,
        summary=f"ServiceAccount {ns}/{account} may not {refusal.verb} {resource} ({api}) {where}: {subject}.",
        steps=steps,
        evidence_ids=ctx.evidence.ids(key, status_key, *binding_keys),
        manual_steps=manual,
    )


def _binds(binding: KubeObject, ns: str, account: str) -> bool:
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == account and (s.get("namespace") or objects.namespace(binding)) == ns
        for s in binding.get("subjects") or []
    )


def _bound_role(ctx: Context, bindings: list[KubeObject]) -> tuple[KubeObject, KubeObject] | None:
    """The first Role (not ClusterRole) a binding of the account grants: the natural place for one more rule."""
    for binding in bindings:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "Role":
            continue
        role = next((r for r in ctx.bundle.roles if objects.name(r) == ref.get("name")), None)
        if role is not None:
            return binding, role
    return None


def _resource_arg(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource
