"""The connectivity and permission classes: what each names, and what it proposes, on recorded live states."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from aegis.core import objects
from aegis.core.analyzers import dns_resolution_failure, rbac_forbidden
from aegis.core.analyzers.engine import diagnose
from aegis.core.evidence import snapshot_writer
from aegis.core.evidence.bundle import ContainerLogs, Dependency
from aegis.core.investigator import Investigator
from aegis.core.kube.snapshot import SnapshotGateway
from aegis.core.models import Category, ObjectRef
from tests.incidents import EXAMPLES
from tests.unit.analyzers.contexts import context_of, fix_ops, snapshot_bundle


async def test_dependency_reports_an_upstream_crash_loop_and_its_fix() -> None:
    """invoicer's calls to checkout.shop are refused; checkout crash-loops for a missing env var: that is the root cause, fixed on checkout."""
    caller = await snapshot_bundle("invoicer-ledger-refused", "Deployment", "billing", "invoicer")
    upstream = await snapshot_bundle("crashloop-missing-env", "Deployment", "shop", "checkout")
    pod = objects.name(caller.pods[0])
    caller.logs = [
        ContainerLogs(
            pod=pod,
            container="invoicer",
            previous=True,
            text='INFO starting\nFATAL: cannot reach checkout: Post "http://checkout.shop:80/orders": dial tcp 10.96.7.7:80: connect: connection refused\n',
        )
    ]
    caller.dependencies = [Dependency(host="checkout.shop", service=ObjectRef(kind="Service", namespace="shop", name="checkout"), bundle=upstream)]
    diagnosis = diagnose(caller)
    assert diagnosis.rca.category is Category.DEPENDENCY_UNAVAILABLE
    assert "missing_env_var" in diagnosis.rca.summary and "deployment/checkout" in diagnosis.rca.summary
    assert diagnosis.fix is not None and diagnosis.fix.target == ObjectRef(kind="Deployment", namespace="shop", name="checkout")
    assert any(op.path.endswith("/env/-") or op.path.endswith("/env") for op in diagnosis.fix.patch if op.op == "add")
    ids = {e.id for e in diagnosis.evidence}
    assert set(diagnosis.rca.evidence_ids) <= ids
    assert any(e.source and e.source.namespace == "shop" for e in diagnosis.evidence), "the upstream's evidence joins the diagnosis"


async def test_dependency_with_nothing_behind_it_names_the_service() -> None:
    """A Service that selects nothing and resembles no workload: manual steps name it, no patch."""
    caller = await snapshot_bundle("invoicer-ledger-refused", "Deployment", "billing", "invoicer")
    assert caller.dependencies
    caller.dependencies = [caller.dependencies[0].model_copy(update={"bundle": None})]
    diagnosis = diagnose(caller)
    assert diagnosis.rca.category is Category.DEPENDENCY_UNAVAILABLE and diagnosis.fix is None
    assert "Service ledger" in diagnosis.manual_steps[0]


async def test_rbac_without_a_binding_says_what_to_create() -> None:
    """No RoleBinding for the ServiceAccount: create a Role and RoleBinding granting exactly the refused verb and resource."""
    bundle = await snapshot_bundle("stock-sync-forbidden", "Deployment", "warehouse", "stock-sync")
    bundle.role_bindings, bundle.roles = [], []
    finding = rbac_forbidden.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert "create role stock-sync-pods --verb=list --resource=pods" in finding.manual_steps[0]
    assert "--serviceaccount=warehouse:stock-sync" in finding.manual_steps[0]


async def test_rbac_for_another_service_account_is_not_this_workload() -> None:
    """The pod runs as another ServiceAccount than the one refused: no finding."""
    bundle = await snapshot_bundle("stock-sync-forbidden", "Deployment", "warehouse", "stock-sync")
    objects.pod_spec(bundle.pods[0])["serviceAccountName"] = "inventory"
    assert rbac_forbidden.analyze(context_of(bundle)) is None


async def test_dns_host_from_a_configmap_key_names_the_key() -> None:
    """The host comes through envFrom of a ConfigMap whose value (an address) is kept: the step names the ConfigMap and key."""
    bundle = await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders")
    bundle.replicasets = [max(bundle.replicasets, key=objects.revision)]
    for holder in (bundle.pods[0], bundle.workload or {}):
        container = objects.pod_spec(holder)["containers"][0]
        container["env"] = [e for e in container["env"] if e["name"] != "LEDGER_URL"]
        container["envFrom"] = [{"configMapRef": {"name": "orders-config"}}]
    bundle.configmaps.append({"kind": "ConfigMap", "metadata": {"name": "orders-config", "namespace": "orders"}, "data": {"LEDGER_URL": "http://ledgr:8080"}})
    finding = dns_resolution_failure.analyze(context_of(bundle))
    assert finding is not None and finding.fix is None
    assert any("ConfigMap orders-config key LEDGER_URL" in s for s in finding.steps)
    assert "orders-config" in finding.manual_steps[0] and "ledger" in finding.manual_steps[0]
    assert any("Service ledger does — a likely misspelling" in s for s in finding.steps)


async def test_dns_fix_restores_the_previous_value() -> None:
    """The rollout changed LEDGER_URL to a name that does not resolve: the guarded patch restores the previous value."""
    finding = dns_resolution_failure.analyze(context_of(await snapshot_bundle("orders-ledger-host", "Deployment", "orders", "orders")))
    assert finding is not None and finding.fix is not None
    ops = fix_ops(finding)
    assert {"op": "test", "path": "/spec/template/spec/containers/0/env/0/value", "value": "http://ledgr:8080"} in ops
    assert {"op": "replace", "path": "/spec/template/spec/containers/0/env/0/value", "value": "http://ledger:8080"} in ops


async def test_network_policy_names_the_policy_and_the_rule() -> None:
    """refunds times out on payments-api; payments-api-ingress admits only checkout: the manual step adds the exact ingress rule."""
    diagnosis = diagnose(await snapshot_bundle("refunds-payments-timeout", "Deployment", "payments", "refunds"))
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED and diagnosis.fix is None
    step = diagnosis.manual_steps[0]
    assert "NetworkPolicy payments-api-ingress" in step
    assert '"from":[{"podSelector":{"matchLabels":{"app":"refunds","tier":"backend"}}}],"ports":[{"protocol":"TCP","port":8080}]' in step


async def test_egress_policy_blocking_an_outside_host_is_named() -> None:
    """refunds times out on api.stripe.com:443 while a default-deny egress policy (DNS only) selects it: the policy is named."""
    bundle = await snapshot_bundle("refunds-payments-timeout", "Deployment", "payments", "refunds")
    pod = objects.name(bundle.pods[0])
    bundle.logs = [
        ContainerLogs(
            pod=pod, container="refunds", previous=True, text='FATAL: Post "https://api.stripe.com:443/v1/refunds": dial tcp 3.18.12.63:443: i/o timeout\n'
        )
    ]
    bundle.dependencies = []
    bundle.network_policies = [
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-egress", "namespace": "payments"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}]},
        }
    ]
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED
    assert "default-deny-egress" in diagnosis.rca.summary and "api.stripe.com" in diagnosis.rca.summary
    bundle.network_policies[0]["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]})
    assert diagnose(bundle).rca.category is not Category.NETWORK_POLICY_BLOCKED


async def test_collector_follows_a_service_in_another_namespace_and_the_snapshot_keeps_it(tmp_path: Path) -> None:
    """From a snapshot holding two namespaces, invoicer's refused calls to checkout.shop are followed to Deployment checkout in shop;
    the snapshot AEGIS writes of that diagnosis diagnoses the same, with the upstream's logs under their own namespace."""
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLES / "invoicer-ledger-refused" / "snapshot", snap)
    shop = EXAMPLES / "crashloop-missing-env" / "snapshot"
    (snap / "objects.yaml").write_text((snap / "objects.yaml").read_text() + "\n---\n" + (shop / "objects.yaml").read_text())
    shutil.copytree(shop / "logs" / "shop", snap / "logs" / "shop")
    meta = yaml.safe_load((snap / "snapshot.yaml").read_text())
    meta["kinds"] = sorted({*meta["kinds"], *yaml.safe_load((shop / "snapshot.yaml").read_text())["kinds"]})
    (snap / "snapshot.yaml").write_text(yaml.safe_dump(meta))
    for log in (snap / "logs" / "billing").glob("*/*.log"):
        log.write_text('FATAL: cannot reach checkout: Post "http://checkout.shop/orders": dial tcp 10.96.7.7:80: connect: connection refused\n')
    target = ObjectRef(kind="Deployment", namespace="billing", name="invoicer")
    bundle, _ = await Investigator(SnapshotGateway.open(snap)).collect(target)
    assert [(d.service.namespace, d.service.name, d.bundle.target.name if d.bundle else None) for d in bundle.dependencies] == [
        ("shop", "checkout", "checkout")
    ]
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.DEPENDENCY_UNAVAILABLE and "missing_env_var" in diagnosis.rca.summary
    snapshot_writer.write(bundle, tmp_path / "again")
    assert list((tmp_path / "again" / "logs" / "shop").glob("*/*.log"))
    again = await Investigator(SnapshotGateway.open(tmp_path / "again")).investigate(target)
    assert again.rca.category is diagnosis.rca.category
    assert again.fix is not None and diagnosis.fix is not None and again.fix.patch_json() == diagnosis.fix.patch_json()


async def test_egress_policy_without_dns_is_named_for_lookup_timeouts() -> None:
    """Lookups time out (the resolver never answers) and an Egress policy selecting the pod allows nothing on port 53: the policy is named."""
    bundle = await snapshot_bundle("refunds-payments-timeout", "Deployment", "payments", "refunds")
    pod = objects.name(bundle.pods[0])
    line = 'FATAL: Get "http://payments-api:8080/v1": dial tcp: lookup payments-api on 10.96.0.10:53: read udp 10.244.0.1:41234->10.96.0.10:53: i/o timeout\n'
    bundle.logs = [ContainerLogs(pod=pod, container="refunds", previous=True, text=line)]
    bundle.network_policies = [
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "refunds-egress", "namespace": "payments"},
            "spec": {"podSelector": {"matchLabels": {"app": "refunds"}}, "policyTypes": ["Egress"], "egress": [{"ports": [{"protocol": "TCP", "port": 8080}]}]},
        }
    ]
    diagnosis = diagnose(bundle)
    assert diagnosis.rca.category is Category.NETWORK_POLICY_BLOCKED
    assert "refunds-egress blocks DNS" in diagnosis.rca.summary
    assert '"port":53' in diagnosis.manual_steps[0]
    assert diagnosis.rca.category is not Category.DNS_RESOLUTION_FAILURE
