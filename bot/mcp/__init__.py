"""`aegis mcp`: AEGIS's diagnosis offered to AI assistants over the Model Context Protocol.

Small modules: `server` wires the official MCP SDK (stdio, or streamable HTTP behind `auth`),
`tools` holds what each tool does, `catalog` the example incidents (resources) and the triage
prompt, `policy` what a namespace allows, `results` the pure shaping of answers (redaction,
thread links, error texts). Nothing here applies a fix: Apply stays a person's click in Slack.
The SDK is imported only from `server` (and `auth`), which the CLI loads only for `aegis mcp`.
"""
