"""Kubernetes access: the only package that talks to the API server (kubernetes-asyncio).

`gateway.KubeGateway` is the seam; `snapshot.SnapshotGateway` reads a directory offline and
`live.LiveGateway` talks to a cluster. kubernetes-asyncio is imported only inside live.py, lazily.
"""
