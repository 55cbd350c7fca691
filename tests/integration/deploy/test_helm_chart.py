"""The Helm chart: renders with every option, keeps RBAC and the admission policy identical to deploy/, and passes a server-side dry-run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis.bot.identity import IdentityMap
from tests.cluster.controlplane import resource_path, wait_until
from tests.integration.conftest import Cluster
from tests.integration.deploy.helm import ROOT, render

pytestmark = pytest.mark.integration

ALL_ON = (
    "secrets.existingSecret=aegis-tokens", "serviceMonitor.enabled=true", "prometheusRule.enabled=true", "persistence.enabled=true",
    "identityMap.users.U0123ABC.user=alice", "identityMap.users.U0123ABC.groups={sre}", "identityMap.groups.S0456DEF={platform-admins}",
)  # fmt: skip
IDENTITIES = {
    "users": {"U0123ABC": {"user": "alice", "groups": ["sre"]}, "bob@example.com": {"user": "bob"}, "U0999": {"user": "alice"}},
    "groups": {"S0456DEF": ["platform-admins", "sre"]},
}
MONITORING = {"ServiceMonitor": "servicemonitors", "PrometheusRule": "prometheusrules"}


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


def test_cluster_role_is_deploy_rbac() -> None:
    """The chart's ClusterRole rules are exactly deploy/rbac/clusterrole.yaml's (one source of truth)."""
    role = by_kind(render("aegis-system"))["ClusterRole"]
    shipped = yaml.safe_load((ROOT / "deploy" / "rbac" / "clusterrole.yaml").read_text())
    assert role["rules"] == shipped["rules"]


def test_admission_policy_is_deploy_admission() -> None:
    """The default install renders deploy/admission's policy and binding unchanged; another release gets its own names in them."""
    docs = by_kind(render("aegis-system"))
    for kind, f in (("ValidatingAdmissionPolicy", "policy.yaml"), ("ValidatingAdmissionPolicyBinding", "binding.yaml")):
        shipped = yaml.safe_load((ROOT / "deploy" / "admission" / f).read_text())
        assert docs[kind]["spec"] == shipped["spec"] and docs[kind]["metadata"]["name"] == shipped["metadata"]["name"]
    other = render("ops", "serviceAccount.name=bot")
    policy = by_kind(other)["ValidatingAdmissionPolicy"]
    assert policy["spec"]["matchConditions"] == [{"name": "is-aegis", "expression": "request.userInfo.username == 'system:serviceaccount:ops:bot'"}]
    lease = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "leaderLease")
    assert "variables.space == 'ops'" in lease and "'aegis-leader'" in lease
    assert "aegis-system" not in yaml.safe_dump(policy)
    assert not any(d["kind"].startswith("ValidatingAdmission") for d in render("x", "admission.create=false"))


def test_secret_reads_only_in_the_listed_namespaces() -> None:
    """No Secrets in the ClusterRole; a Role and RoleBinding granting get/list on Secrets in each listed namespace, and none by default."""
    docs = render("aegis-system", "rbac.secretNamespaces={shop,payments}")
    cluster_role = by_kind(docs)["ClusterRole"]
    # (it still creates Secrets: the copies in a shadow namespace, which the admission policy keeps there)
    assert not any("secrets" in r["resources"] and {"get", "list", "watch"} & set(r["verbs"]) for r in cluster_role["rules"])
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "aegis-secrets-reader"}
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "aegis-secrets-reader"}
    assert set(roles) == set(bindings) == {"shop", "payments"}
    for ns in ("shop", "payments"):
        assert roles[ns]["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
        assert bindings[ns]["subjects"] == [{"kind": "ServiceAccount", "name": "aegis", "namespace": "aegis-system"}]
        assert bindings[ns]["roleRef"]["name"] == "aegis-secrets-reader"
    assert not [d for d in render("aegis-system") if d["kind"] == "Role" and "secrets" in str(d["rules"])]


def test_impersonation_only_on_the_mapped_users_and_groups(tmp_path: Path) -> None:
    """The identity map in values becomes AEGIS_IDENTITY_MAP (a ConfigMap mounted read-only) and a ClusterRole granting
    `impersonate` on exactly the users and groups it names (resourceNames from the same map); no map, no impersonate at all."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"identityMap": IDENTITIES, "trust": {"mode": "verify", "namespaceModes": "prod-*=suggest", "fourEyes": True}}))
    docs = render("aegis-system", values=values)
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "aegis-identity-map")
    mapped = IdentityMap.model_validate(yaml.safe_load(config_map["data"]["identities.yaml"]))
    assert mapped == IdentityMap.model_validate(IDENTITIES)  # what AEGIS loads is what values say
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "aegis-impersonate")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": mapped.kubernetes_users()},
        {"apiGroups": [""], "resources": ["groups"], "verbs": ["impersonate"], "resourceNames": mapped.kubernetes_groups()},
    ]
    assert mapped.kubernetes_users() == ["alice", "bob"] and mapped.kubernetes_groups() == ["platform-admins", "sre"]
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == "aegis-impersonate")
    assert binding["roleRef"]["name"] == "aegis-impersonate"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "aegis", "namespace": "aegis-system"}]
    pod = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["AEGIS_IDENTITY_MAP"] == "/etc/aegis/identity/identities.yaml"
    assert (env["AEGIS_MODE"], env["AEGIS_NAMESPACE_MODES"], env["AEGIS_FOUR_EYES"]) == ("verify", "prod-*=suggest", "true")
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "identity-map")
    assert mount["mountPath"] == "/etc/aegis/identity" and mount["readOnly"] is True
    assert {"name": "identity-map", "configMap": {"name": "aegis-identity-map"}} in pod["volumes"]
    # Without a map nothing may be impersonated: no rule anywhere grants the verb.
    plain = render("aegis-system")
    assert not [d for d in plain if "impersonate" in yaml.safe_dump(d.get("rules") or [])]
    assert "AEGIS_IDENTITY_MAP" not in yaml.safe_dump(plain)


def test_prometheus_rule_is_the_tested_alert_file() -> None:
    """The PrometheusRule carries deploy/docker/prometheus-alerts.yaml's groups unchanged (templating left alone)."""
    rule = by_kind(render("aegis-system", *ALL_ON))["PrometheusRule"]
    shipped = yaml.safe_load((ROOT / "deploy" / "docker" / "prometheus-alerts.yaml").read_text())
    assert rule["spec"]["groups"] == shipped["groups"]
    assert "{{ $labels.namespace }}" in yaml.safe_dump(rule)


def test_modes_choose_the_slack_secret() -> None:
    """Socket Mode reads SLACK_APP_TOKEN, HTTP mode SLACK_SIGNING_SECRET and passes --http; tokens only by secretKeyRef."""
    socket = by_kind(render("x"))["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    http = by_kind(render("x", "slackMode=http"))["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"] for e in socket["env"]} >= {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"} and socket["args"] == ["serve"]
    assert "SLACK_SIGNING_SECRET" in {e["name"] for e in http["env"]} and http["args"] == ["serve", "--http"]
    for env in socket["env"] + http["env"]:
        if "TOKEN" in env["name"] or "SECRET" in env["name"] or "KEY" in env["name"]:
            assert "valueFrom" in env and "value" not in env, env


def _crd(kind: str, plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
            ],
        },
    }


def test_rendered_manifests_pass_server_side_dry_run(control_plane: Cluster) -> None:
    """Every rendered manifest, the optional prometheus-operator ones included, is accepted by the API server (dryRun=All)."""
    api = control_plane.api
    for kind, plural in MONITORING.items():
        api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _crd(kind, plural), exist_ok=True)
        wait_until(
            f"CRD {plural} established",
            lambda p=plural: any(
                c["type"] == "Established" and c["status"] == "True"
                for c in (api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{p}.monitoring.coreos.com").get("status") or {}).get("conditions")
                or []
            ),
            timeout=30,
        )
    ns = control_plane.create_namespace("aegis-chart")
    docs = render(ns, *ALL_ON, "slackMode=http")
    assert {d["kind"] for d in docs} >= {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment", "PersistentVolumeClaim", "ConfigMap",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", *MONITORING,
    }  # fmt: skip
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] in MONITORING:
            path = f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/{MONITORING[doc['kind']]}/{name}"
        else:
            path = resource_path(doc["kind"], ns, name)
        accepted = api.patch(path, doc, kind="apply", params={"dryRun": "All", "fieldManager": "aegis-chart-check", "force": "true"})
        assert accepted["kind"] == doc["kind"] and accepted["metadata"]["name"] == name
    # dry-run only: nothing was created
    assert api.get_or_none(resource_path("Deployment", ns, "aegis")) is None
