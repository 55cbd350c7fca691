"""Moved to `aegis.core.fixes.scope` (shared by the agents' guards and the remediation policy gate).

Kept as a re-export so existing imports keep working; new code imports the analyzers module.
"""

from aegis.core.fixes.scope import (
    ALLOWED,
    ROLLBACK_CATEGORIES,
    TARGET_KINDS,
    WORKLOAD_KINDS,
    allows,
    container_of,
    fixable,
    target_kinds,
)

__all__ = ["ALLOWED", "ROLLBACK_CATEGORIES", "TARGET_KINDS", "WORKLOAD_KINDS", "allows", "container_of", "fixable", "target_kinds"]
