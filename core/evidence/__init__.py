"""Evidence: collecting objects and logs for a target, turning them into cited facts, redaction."""
