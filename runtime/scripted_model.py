"""A scripted model server: a real HTTP server on the loopback that speaks the chat-completions API
and answers each request with the next turn of a script, so a planner agent runs (in tests and in
the demo) on a machine with no model.

A script is a JSON object `{"turns": [TURN, ...]}`; each request gets the next turn, the last one
repeats when it says `"repeat": true`, and past the end the server answers 500. A turn is one of:

- `{"tool_calls": [{"name": "read_ticket", "arguments": {"id": "T-1"}}, ...]}`: the model calls
  tools (`arguments` may also be a string, sent as is: `"not json"`);
- `{"content": "text"}`: the model answers without calling anything;
- `{"status": 500, "body": "...", "headers": {"Retry-After": "1"}}`: an HTTP error;
- `{"raw": "<html>...", "content_type": "text/html"}`: a body that is not a chat completion;
- any of them with `"delay_s": 2` first (to make a request time out).

Every request body is kept (`ScriptedModel.requests`), so a test can count the model's requests
and check what it was sent. Run it by hand with `python -m specc.runtime.scripted_model SCRIPT
[--port 8000]`; it prints the base URL to give the planner's `endpoint` env var.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedModel:
    """The server, answering from `turns` in order; `url` is the base URL (`.../v1`)."""

    def __init__(self, turns: list[dict[str, Any]], host: str = "127.0.0.1", port: int = 0) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    request = json.loads(body)
                except ValueError:
                    request = {"unparsed": body.decode("utf-8", "replace")}
                request["authorization"] = self.headers.get("Authorization")
                status, headers, payload = model.answer(self.path, request)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, path: str, request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            turn = self._turn(number - 1)
        if not path.rstrip("/").endswith("/chat/completions"):
            return 404, {"Content-Type": "text/plain"}, b"not found"
        if turn is None:
            return 500, {"Content-Type": "text/plain"}, f"the script has no turn {number}".encode()
        if turn.get("delay_s"):
            time.sleep(float(turn["delay_s"]))
        if "status" in turn:
            headers = {"Content-Type": "text/plain", **turn.get("headers", {})}
            return int(turn["status"]), headers, str(turn.get("body", "")).encode()
        if "raw" in turn:
            return 200, {"Content-Type": turn.get("content_type", "text/html")}, str(turn["raw"]).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(completion(turn, number)).encode()

    def _turn(self, index: int) -> dict[str, Any] | None:
        if index < len(self.turns):
            return self.turns[index]
        if self.turns and self.turns[-1].get("repeat"):
            return self.turns[-1]
        return None


def completion(turn: dict[str, Any], number: int) -> dict[str, Any]:
    """The chat completion a scripted turn stands for."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
    calls = turn.get("tool_calls") or []
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{number}_{i + 1}", "type": "function",
             "function": {"name": call["name"], "arguments": call["arguments"] if isinstance(call.get("arguments"), str)
                          else json.dumps(call.get("arguments", {}))}}
            for i, call in enumerate(calls)]
    return {
        "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()), "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 10 * number, "completion_tokens": 5, "total_tokens": 10 * number + 5},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="A chat-completions server that answers from a script of turns.")
    parser.add_argument("script", help="a JSON file: {\"turns\": [...]}")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: the loopback)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000; 0 picks a free one)")
    args = parser.parse_args()
    with open(args.script, encoding="utf-8") as handle:
        turns = json.load(handle)["turns"]
    server = ScriptedModel(turns, args.host, args.port)
    print(f"scripted model at {server.url} ({len(turns)} turns); Ctrl-C stops it", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
