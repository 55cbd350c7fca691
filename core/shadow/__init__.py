"""Shadow verification: prove a fix in a throwaway copy of the workload before it touches production.

- `cloning`: pure functions that turn production objects into shadow objects (namespace, clone,
  copies, NetworkPolicy, ResourceQuota) with server-set fields stripped and labels rewritten.
- `health`: the pure judge of a shadow's health over time (readiness, restarts, Warning events).
- `load_probe`: the bounded HTTP probe (httpx) through the API server's service proxy.
- `manager`: ShadowManager runs the phases, watches, and always cleans up.
- `janitor`: deletes expired shadows (start-up and periodically).
"""
