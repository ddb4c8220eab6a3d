"""What a person (or a program) sees while a run goes: live steps on a terminal, plain lines
otherwise, JSON lines with `--json`."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from specc.terminal import visible

from . import events as ev
from .store import Event


def _shown(text: object) -> str:
    """Text a tool, a model or a stored run gave, as the console prints it: every control
    character visible, and no rich markup taken from it."""
    from rich.markup import escape

    return escape(visible(str(text)))


class JsonLines:
    """`--json`: every event as one JSON line on stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, stored: Event) -> None:
        line = {"event": stored.kind, "at": round(stored.at, 3), **stored.data}
        self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class Human:
    """Steps as they happen, on stderr; a spinner with the elapsed time on a terminal."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        from rich.console import Console

        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True, emoji=False)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Any = None
        self._task: Any = None

    def _line(self, text: str) -> None:
        self.console.print(text)

    def __call__(self, stored: Event) -> None:
        event = stored.event
        if isinstance(event, ev.RunStarted):
            self._line(f"[bold]run[/] {_shown(event.agent)}")
        elif isinstance(event, ev.AttemptIntent):
            what = _shown(f"{event.step}: {event.action} (attempt {event.attempt})")
            if self.live:
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

                self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                          console=self.console, transient=True)
                self._progress.start()
                self._task = self._progress.add_task(what)
            else:
                self._line(f"  … {what}")
        elif isinstance(event, ev.AttemptOutcome):
            self._stop()
            mark = "[green]ok[/]" if event.kind == "ok" else f"[red]{event.kind}[/]"
            detail = "" if event.kind == "ok" else f" - {_shown(event.detail)}"
            self._line(f"  {mark} {_shown(event.step)}: {_shown(event.action)} (attempt {event.attempt}, "
                       f"{event.duration_s:.2f}s){detail}")
        elif isinstance(event, ev.Handler):
            extra = f", waiting {event.backoff_s:.2f}s" if event.backoff_s is not None else ""
            self._line(f"    [yellow]on {_shown(event.kind)}[/]: {_shown(event.strategy)}{extra}")
        elif isinstance(event, ev.RequireFailed):
            where = f" at {_shown(event.step)}" if event.step else ""
            self._line(f"  [yellow]require failed{where}[/]: {_shown(event.reason)} ({_shown(event.strategy)})")
        elif isinstance(event, ev.PlannerTurn):
            calls = (event.response.get("choices") or [{}])[0].get("message", {}).get("tool_calls") or []
            names = ", ".join(str((c.get("function") or {}).get("name")) for c in calls if isinstance(c, dict))
            said = f"calls {_shown(names)}" if names else "answers in text"
            self._line(f"[bold]turn {event.turn}[/]: the model {said}")
        elif isinstance(event, ev.PlannerAnswer) and event.outcome == "rejected":
            why = _shown(event.content.removeprefix("rejected: "))
            self._line(f"  [yellow]rejected[/] {_shown(event.name)}: {why}")
        elif isinstance(event, ev.PlannerRequestFailed):
            self._line(f"  [red]model request failed[/]: {_shown(event.kind)} - {_shown(event.detail)}")

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def close(self) -> None:
        self._stop()
