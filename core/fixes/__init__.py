"""The vocabulary of fixes: which fields a fix may touch (scope), guarded JSON patches (patching),
verification plans, and the workload diff people read. Pure: analyzers, agents and remediation share it."""
