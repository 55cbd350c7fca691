"""An OpenAI-compatible chat-completions stand-in on loopback, for the LLM path's tests over real HTTP."""
