"""An in-process backend: no containers; every attempt is answered from a script, per action.

It implements the same `Backend` protocol as Docker, so a `Run` driven by it passes every guard,
handler and event exactly as in production; only what happens inside the attempt is simulated, at
the backend's boundary (an exit status, a kill, junk on stdout, a timeout, a sandbox refusal).
The runtime's own tests use it, and it is the ground `specc test --backend stub` stands on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backend import AttemptKind, AttemptRequest, AttemptResult, Report

#: What each simulated failure looks like at the boundary, as the Docker backend reports it.
_FAILURES: dict[str, tuple[int | None, str]] = {
    "error": (1, "exited with status 1"),
    "uncertain": (3, "exited with status 3 (effect uncertain)"),
    "crash": (137, "killed by SIGKILL (exit status 137)"),
    "timeout": (None, "killed after the timeout"),
    "sandbox": (None, "the stub backend refused the container"),
}


def succeed(value: Any) -> AttemptResult:
    """An attempt that printed `value` as JSON and exited 0."""
    return AttemptResult("ok", 0, json.dumps(value).encode(), b"", 0.0, "exited with status 0")


def fail(kind: str, said: str = "") -> AttemptResult:
    """An attempt that ended with failure `kind` (as the backend sees it; `invalid_output` is a tool
    that exits 0 and prints something that is not JSON)."""
    if kind == "invalid_output":
        return AttemptResult("ok", 0, b"not json", b"", 0.0, "exited with status 0")
    exit_code, detail = _FAILURES[kind]
    backend_kind: AttemptKind = kind  # type: ignore[assignment]
    return AttemptResult(backend_kind, exit_code, b"", said.encode(), 0.0, detail)


Answer = AttemptResult | Callable[[AttemptRequest], AttemptResult]


@dataclass
class StubBackend:
    """Implements `Backend` from a script: `answers[action]` is a list of answers used in turn, the
    last one repeating (`[fail("error"), succeed(v)]` fails once, `[fail("error")]` always); an
    action without a script gets `default`. Every request is kept in `calls`."""

    answers: Mapping[str, Sequence[Answer]] = field(default_factory=dict)
    default: Answer = field(default_factory=lambda: succeed({}))
    calls: list[AttemptRequest] = field(default_factory=list)
    images: set[str] | None = None  # the images that exist; None: every image
    #: set by `interrupt`; an answer that stands for a long attempt can wait on it
    interrupted: threading.Event = field(default_factory=threading.Event)

    def check(self, images: Iterable[str]) -> None:
        from .backend import BackendUnavailable

        missing = sorted(set(images) - self.images) if self.images is not None else []
        if missing:
            raise BackendUnavailable(f"the image `{missing[0]}` is not on the stub backend")

    def reap(self) -> int:
        return 0

    def run(self, request: AttemptRequest, report: Report | None = None) -> AttemptResult:
        script = self.answers.get(request.action)
        used = sum(1 for call in self.calls if call.action == request.action)
        self.calls.append(request)
        answer = script[min(used, len(script) - 1)] if script else self.default
        return answer(request) if callable(answer) else answer

    def interrupt(self, run_id: str) -> None:
        self.interrupted.set()

    def close(self) -> None:
        pass

    def ran(self) -> list[str]:
        """The actions attempted, in order."""
        return [call.action for call in self.calls]
