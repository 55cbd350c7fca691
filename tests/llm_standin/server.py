"""The OpenAI stand-in: `POST /v1/chat/completions` answered like OpenAI, from a script per agent stage.

The real provider client (langchain-openai over the openai SDK) talks to it over HTTP on loopback.
It checks the API key as OpenAI does (401 `invalid_api_key`), tells the stage from the prompt's
'## Task: <stage>' line, and answers that stage's scripted content as the assistant message. A stage
scripted as `HANG` accepts the request and never answers (until the stand-in stops), the way a
wedged provider or proxy does. Everything it receives is in `requests`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "sk-standin-0000000000000000"
HANG = object()  # a stage answered with this never gets an answer
_TASK = re.compile(r"^## Task: (\w+)", re.MULTILINE)


@dataclass(frozen=True)
class Received:
    """One chat-completions request: the stage it was for, the model named, and whether a JSON schema was asked for."""

    stage: str
    model: str
    structured: bool
    text: str  # every message's content, joined
    at: float


@dataclass
class OpenAIStandIn:
    """Configure `script` ({stage: answer text, a dict to send as JSON, or HANG}) before or between requests."""

    script: dict[str, Any] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    hanging: int = 0  # requests being held right now
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[OpenAIStandIn]:
        """Serve on 127.0.0.1 on a free port; `url` is the base URL a client takes (…/v1)."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}/v1"
            yield self
        finally:
            self._stop.set()  # release held requests so the server can stop
            await runner.cleanup()

    def stages(self) -> list[str]:
        return [r.stage for r in self.requests]

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
            return web.json_response({"error": error}, status=401)
        body = await request.json()
        text = "\n".join(_content(m) for m in body.get("messages") or [])
        found = _TASK.findall(text)
        stage = found[-1] if found else "unknown"
        self.requests.append(Received(stage, str(body.get("model")), "response_format" in body or "tools" in body, text, time.monotonic()))
        answer = self.script.get(stage)
        if answer is HANG:
            self.hanging += 1
            try:
                await self._stop.wait()  # the connection stays open and silent
            finally:
                self.hanging -= 1
            return web.Response(status=503)
        if answer is None:
            return web.json_response({"error": {"message": f"no script for stage {stage}", "type": "server_error", "code": None}}, status=500)
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return web.json_response(_completion(str(body.get("model")), content))


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-standin-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None}, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": len(content) // 4, "completion_tokens": len(content) // 4, "total_tokens": len(content) // 2},
    }
