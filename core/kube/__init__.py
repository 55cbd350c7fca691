"""Kubernetes access: the only package that talks to the API server.

`gateway.KubeGateway` is the seam; `snapshot.SnapshotGateway` reads a directory offline and
`live.LiveGateway` talks to a cluster with the credentials `credentials` loads (kubeconfig or the
pod's ServiceAccount) over `http` (a small HTTP/1.1 client; aiohttp only behind a proxy).
"""
