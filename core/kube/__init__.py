"""Kubernetes access: the only package that talks to the API server.

`gateway.KubeGateway` is the seam; `snapshot.SnapshotGateway` reads a directory offline and
`live.LiveGateway` talks to a cluster over aiohttp with the credentials `credentials` loads from a
kubeconfig or the pod's ServiceAccount. aiohttp is imported only when a live gateway is opened.
"""
