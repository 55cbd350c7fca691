"""LLM agents: an optional second opinion over the deterministic diagnosis, through LangChain.

The only package that imports LangChain, and only lazily (inside functions), so importing
`aegis.core.agents.pipeline` costs nothing when no model is configured. Modules:

- `pipeline`: the entry points `refine(diagnosis, ...)` and `from_settings(settings)`.
- `stages`: the three agents (RCA, solution, verifier) as LangChain runnables with structured output.
- `prompting`: the prompts, the untrusted-data envelope, redaction of everything sent, the token budget.
- `answers`: the schemas a model answers in, and their conversion into the domain models.
- `guards`: validation of every answer; anything out of bounds is dropped with a logged reason.
- `scope`: which JSON-pointer prefixes a fix of each category may change.
"""
