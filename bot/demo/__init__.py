"""`aegis demo --live`: the whole story on the test control plane, with Slack replaced by an in-memory chat printed to the terminal."""
