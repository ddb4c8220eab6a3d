"""What a person (or a program) sees while a run goes: live steps on a terminal, plain lines
otherwise, JSON lines with `--json`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO


class JsonLines:
    """`--json`: every event as one JSON line on stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.stream.write(json.dumps({"event": kind, "at": round(time.time(), 3), **data}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class Human:
    """Steps as they happen, on stderr; a spinner with the elapsed time on a terminal."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        from rich.console import Console

        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Any = None
        self._task: Any = None

    def _line(self, text: str) -> None:
        self.console.print(text)

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run_started":
            self._line(f"[bold]run[/] {data.get('agent')}")
        elif kind == "attempt_intent":
            what = f"{data['step']}: {data['action']} (attempt {data['attempt']})"
            if self.live:
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                          console=self.console, transient=True)
                self._progress.start()
                self._task = self._progress.add_task(what)
            else:
                self._line(f"  … {what}")
        elif kind == "attempt_outcome":
            self._stop()
            mark = "[green]ok[/]" if data["kind"] == "ok" else f"[red]{data['kind']}[/]"
            detail = "" if data["kind"] == "ok" else f" - {data['detail']}"
            self._line(f"  {mark} {data['step']}: {data['action']} (attempt {data['attempt']}, "
                       f"{data['duration_s']:.2f}s){detail}")
        elif kind == "handler":
            extra = f", waiting {data['backoff_s']:.2f}s" if "backoff_s" in data else ""
            self._line(f"    [yellow]on {data['kind']}[/]: {data['strategy']}{extra}")
        elif kind == "require_failed":
            self._line(f"  [yellow]require failed[/]: {data['reason']} ({data['strategy']})")

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def close(self) -> None:
        self._stop()
