"""The model client: one request to an OpenAI-compatible chat-completions API, and what came back.

It speaks the API vLLM, llama.cpp's server, Ollama and hosted services serve, with httpx and no
retries of its own: a refused connection, an HTTP error status, a time-out or a body that is not a
chat completion comes back as a `ModelFailure` of kind `error`, `timeout` or `invalid_output`,
and the planner's handlers decide what happens next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

#: The largest response body read; a model answering more is not answering a chat completion.
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ToolCall:
    """One call the model proposed: its id, the function's name, and its arguments as sent (text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ModelReply:
    """A chat completion: the whole body as received, and the parts the planner reads."""

    body: dict[str, Any]
    message: dict[str, Any]
    tool_calls: list[ToolCall]
    content: str | None
    usage: dict[str, Any] | None
    duration_s: float


@dataclass(frozen=True)
class ModelFailure:
    """The request failed: `kind` is `error`, `timeout` or `invalid_output`; a 429 may say when to
    come back (`retry_after_s`)."""

    kind: str
    detail: str
    duration_s: float = 0.0
    retry_after_s: float | None = None
    status: int | None = field(default=None)


class ModelClient:
    """Requests to one model at one endpoint; the API key goes in a header and nowhere else."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(headers=headers, timeout=timeout_s, transport=transport, follow_redirects=False,
                                  trust_env=False)

    def close(self) -> None:
        self._http.close()

    def complete(self, messages: Sequence[dict[str, Any]],
                 tools: Sequence[dict[str, Any]]) -> ModelReply | ModelFailure:
        """One request; never raises for anything the endpoint or the network does."""
        payload = {"model": self.model, "messages": list(messages), "tools": list(tools), "tool_choice": "auto"}
        started = time.monotonic()
        try:
            with self._http.stream("POST", self.url, content=json.dumps(payload, ensure_ascii=False)) as answer:
                body = _read_capped(answer)
                status, headers = answer.status_code, answer.headers
        except httpx.TimeoutException as exc:
            return ModelFailure("timeout", f"the model did not answer in time ({type(exc).__name__})",
                                time.monotonic() - started)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return ModelFailure("error", f"the request to `{self.url}` failed: {exc or type(exc).__name__}",
                                time.monotonic() - started)
        except _TooLarge:
            return ModelFailure("invalid_output", f"the answer is larger than {MAX_BODY_BYTES:,} bytes",
                                time.monotonic() - started)
        duration = time.monotonic() - started
        if status >= 400:
            said = body[:200].decode("utf-8", "replace").strip().replace("\n", " ")
            return ModelFailure("error", f"the model answered HTTP {status}" + (f": {said}" if said else ""),
                                duration, _retry_after(headers.get("retry-after")) if status == 429 else None,
                                status)
        return parse_completion(body, duration)


class _TooLarge(Exception):
    pass


def _read_capped(answer: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in answer.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def parse_completion(body: bytes, duration_s: float = 0.0) -> ModelReply | ModelFailure:
    """A chat completion from a response body, or why it is not one (`invalid_output`)."""

    def invalid(why: str) -> ModelFailure:
        return ModelFailure("invalid_output", f"the answer is not a chat completion: {why}", duration_s)

    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        start = body[:60].decode("utf-8", "replace").strip().replace("\n", " ")
        return invalid(f"it is not JSON (it starts with `{start}`)")
    if not isinstance(document, dict):
        return invalid("it is not a JSON object")
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return invalid("it has no `choices`")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return invalid("its first choice has no `message`")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        return invalid("the message's `content` is not text")
    calls: list[ToolCall] = []
    for index, raw in enumerate(message.get("tool_calls") or []):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return invalid(f"tool call {index + 1} has no function name")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):  # some servers send the object itself
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else f"call_{index + 1}"
        calls.append(ToolCall(call_id, function["name"], arguments))
    usage = document.get("usage")
    return ModelReply(document, message, calls, content, usage if isinstance(usage, dict) else None, duration_s)
