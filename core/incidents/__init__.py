"""The incident lifecycle: what may happen to an incident, in which order, and what survives a crash.

- `states`: the one table of state -> allowed actions -> in-flight state; buttons, policy, listeners and
  recovery all read it.
- `service`: IncidentService, the lifecycle itself (open, investigate, alerts, reject, resolve), which
  tells a view (the Slack thread, `IncidentView`) whenever an incident changed.
- `fixing`: Verify, Apply and Roll back, with the write-ahead record Roll back and recovery read.
- `records`: audit records and the write-ahead records kept in the audit trail.
- `recovery`: incidents found mid-step after a crash or a restart get their next step.
- `leader`: leader election on a Kubernetes Lease, so one replica runs the janitor and recovery.
- `view`: the protocol a surface implements to show incidents, and the outcome of a person's action.
"""
