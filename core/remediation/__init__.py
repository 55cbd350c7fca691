"""Apply and roll back: the policy gate, the guarded patch, the watched rollout, the kept previous state.

- `policy`: who may apply what, where, and when (pure; the caller brings the authz decision,
  so Slack stays out of core).
- `rollout`: whether a workload finished rolling out, from its status (pure).
- `remediator`: dry-run, patch, watch, and roll back, through the KubeGateway.
"""
