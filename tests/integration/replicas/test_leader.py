"""Leader election on the real API server, through AEGIS's own ServiceAccount and its shipped Role."""

from __future__ import annotations

import asyncio
import time

import pytest

from aegis.core.incidents.leader import LeaderElector
from aegis.core.kube.live import LiveGateway
from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

LEASE = ("aegis-system", "aegis-leader")


async def test_one_leader_at_a_time_and_a_dead_leader_is_replaced_after_the_lease(control_plane: Cluster) -> None:
    """A holds the Lease and B is refused while A renews; when A stops renewing B takes over only after the
    lease duration; a released lease is taken at once. Both go through AEGIS's RBAC (get/update/create on the Lease)."""
    control_plane.api.delete(f"/apis/coordination.k8s.io/v1/namespaces/{LEASE[0]}/leases/{LEASE[1]}")
    gw_a = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    gw_b = await LiveGateway.connect(kubeconfig=str(control_plane.aegis_kubeconfig))
    a = LeaderElector(gw_a, namespace=LEASE[0], name=LEASE[1], identity="replica-a", lease_seconds=3.0, retry_seconds=0.5)
    b = LeaderElector(gw_b, namespace=LEASE[0], name=LEASE[1], identity="replica-b", lease_seconds=3.0, retry_seconds=0.5)
    try:
        assert await a.try_acquire_or_renew() and a.is_leader
        for _ in range(4):  # A keeps renewing: B never wins
            assert not await b.try_acquire_or_renew() and not b.is_leader
            assert await a.try_acquire_or_renew()
            await asyncio.sleep(0.5)
        # A dies (stops renewing): B sees the record unchanged and takes over once the lease has run out.
        stopped = time.monotonic()
        while not await b.try_acquire_or_renew():
            assert time.monotonic() - stopped < 10, "B never took over a lease nobody renewed"
            await asyncio.sleep(0.25)
        assert time.monotonic() - stopped >= 2.5, "B took over before the lease expired"
        lease = control_plane.api.get(f"/apis/coordination.k8s.io/v1/namespaces/{LEASE[0]}/leases/{LEASE[1]}")
        assert lease["spec"]["holderIdentity"] == "replica-b" and lease["spec"]["leaseTransitions"] == 1
        # A comes back: refused while B renews. B releases at shutdown: A takes over at once.
        assert not await a.try_acquire_or_renew()
        await b.release()
        assert not b.is_leader
        assert await a.try_acquire_or_renew()
    finally:
        await gw_a.close()
        await gw_b.close()
        control_plane.api.delete(f"/apis/coordination.k8s.io/v1/namespaces/{LEASE[0]}/leases/{LEASE[1]}")
