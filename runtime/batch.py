"""`specc batch`: one run per input line, at most N at once, each a normal durable run in the store.

A batch is recorded before anything runs: its IR (every run of the batch, and its resume, uses that
one), and every input line with its input or why it is not run (a line that is not JSON or breaks
the `input` contract is reported with its number and skipped). A run is linked to its line in the
transaction that creates it, so a batch killed at any moment knows every run it started:
`--resume` finishes what is left, resuming each cut-off run by the usual rule (an attempt cut off
mid-way of an action that is not idempotent escalates) and never running a line twice.

Runs execute on worker threads, each with its own store connection and backend; a stop (SIGINT,
SIGTERM) interrupts the attempts under way, whose runs end as interrupted, and starts nothing more.
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from specc.ir import IR, to_bytes

from . import events as ev
from .backend import Backend, Interruptible
from .ir_loader import load_ir
from .owner import current_owner, owner_gone
from .run import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PAUSED,
    EXIT_SUCCEEDED,
    Outcome,
    Run,
    RunOptions,
    RunRefused,
    claim,
    preflight,
)
from .store import BatchItem, BatchRecord, RunStore, StoreError
from .values import ValueRejected

#: Statuses a batch's run can end in; a line with no run yet is "pending".
DONE = ("succeeded", "failed", "awaiting-approval", "escalated")


def new_batch_id() -> str:
    return "b" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class BatchRefused(Exception):
    """The batch cannot be made or resumed; the message says why and what to do."""


def create(store: RunStore, ir: IR, spec: str, inputs: str, concurrency: int, env: Mapping[str, str], *,
           batch_id: str | None = None) -> tuple[BatchRecord, list[tuple[int, str]]]:
    """Record a batch of `inputs` (a JSON Lines file) and its lines; the lines that will not run,
    each with its number and why."""
    try:
        with open(inputs, "rb") as handle:
            raw_lines = handle.read().splitlines()
    except OSError as exc:
        raise BatchRefused(f"cannot read the inputs `{inputs}`: {exc.strerror}") from None
    items: list[tuple[int, str | None, str | None]] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            value = preflight(ir, raw, env)
        except ValueRejected as exc:
            problems.append((number, str(exc)))
            items.append((number, None, str(exc)))
            continue
        items.append((number, json.dumps(value, ensure_ascii=False), None))
    if not items:
        raise BatchRefused(f"`{inputs}` holds no input line (one JSON value per line)")
    record = BatchRecord(id=batch_id or new_batch_id(), agent=ir.agent, spec=spec, inputs=inputs,
                         ir=to_bytes(ir).decode(), concurrency=concurrency, created=time.time(), status="running",
                         owner=current_owner())
    store.create_batch(record, items)
    return record, problems


def claim_batch(store: RunStore, batch_id: str | None) -> BatchRecord:
    """The batch to resume (the newest unfinished one with None), taken by this process."""
    record = store.batch(batch_id)
    if record is None:
        raise BatchRefused("no unfinished batch in the store" if batch_id is None else
                           f"no batch `{batch_id}` in the store (`specc batch --list` names them)")
    if record.status == "finished" and all(i.status in DONE or i.problem for i in store.batch_items(record.id)):
        raise BatchRefused(f"batch {record.id} has finished; nothing to resume")
    if record.owner and record.owner != current_owner() and not owner_gone(record.owner):
        raise BatchRefused(f"batch {record.id} is still running (process {record.owner})")
    store.set_batch(record.id, status="running", owner=current_owner())
    return record


@dataclass
class LineOutcome:
    line: int
    run_id: str | None
    status: str
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class Progress:
    """What the batch has done so far, for the live display."""

    total: int
    counts: Counter[str] = field(default_factory=Counter)
    running: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finished(self) -> int:
        return sum(self.counts.values())


@dataclass
class Summary:
    batch: BatchRecord
    outcomes: list[LineOutcome]
    problems: list[tuple[int, str]]
    interrupted: bool
    seconds: float

    @property
    def exit_code(self) -> int:
        statuses = {o.status for o in self.outcomes}
        if self.interrupted or "interrupted" in statuses or "pending" in statuses:
            return EXIT_INTERRUPTED
        if "failed" in statuses or self.problems:
            return EXIT_FAILED
        if statuses & {"awaiting-approval", "escalated"}:
            return EXIT_PAUSED
        return EXIT_SUCCEEDED


BackendFactory = Callable[[], Backend]


class Batch:
    """Runs a batch's remaining lines, at most `concurrency` at once."""

    def __init__(self, store_path: str, record: BatchRecord, backend: BackendFactory, *,
                 options: RunOptions, env: Mapping[str, str], planner: Callable[[IR], Any] | None = None,
                 on_line: Callable[[LineOutcome], None] | None = None) -> None:
        self.store_path = store_path
        self.record = record
        self.ir = load_ir(record.ir.encode(), record.id)
        self.backend = backend
        self.options = options
        self.env = dict(env)
        self.planner = planner
        self.on_line = on_line
        self._stop = threading.Event()
        self._live: dict[str, Interruptible] = {}
        self._live_lock = threading.Lock()

    def todo(self, store: RunStore) -> tuple[list[BatchItem], list[LineOutcome]]:
        """The lines still to run (or resume), and the outcomes of those that ended."""
        todo, ended = [], []
        for item in store.batch_items(self.record.id):
            if item.problem is not None:
                continue
            if item.run_id is None or item.status in ("running", "interrupted") or self._decided(store, item):
                todo.append(item)
            else:
                ended.append(LineOutcome(item.line, item.run_id, item.status or "pending"))
        return todo, ended

    def _decided(self, store: RunStore, item: BatchItem) -> bool:
        """A paused run a person has decided since, which the batch can carry on."""
        from .decisions import pending_approval

        if item.run_id is None:
            return False
        if item.status == "awaiting-approval":
            return pending_approval(store, item.run_id) is None
        if item.status == "escalated":
            stored = store.events(item.run_id)
            paused = max((e.seq for e in stored if e.kind == ev.RunFinished.KIND), default=0)
            return any(isinstance(e.event, ev.EscalationResolved) and e.seq > paused for e in stored)
        return False

    def run(self, progress: Progress | None = None) -> tuple[list[LineOutcome], bool]:
        """Run every remaining line; the outcomes, and whether the batch was stopped."""
        with RunStore(self.store_path) as store:
            todo, ended = self.todo(store)
        outcomes = list(ended)
        if progress is not None:
            with progress.lock:
                for outcome in ended:
                    progress.counts[outcome.status] += 1
        pending = iter(todo)
        interrupted = False
        with ThreadPoolExecutor(self.record.concurrency, thread_name_prefix="specc-batch") as pool:
            running: dict[Future[LineOutcome], BatchItem] = {}
            try:
                self._fill(pool, pending, running, progress)
                while running:
                    done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = running.pop(future)
                        outcome = self._outcome(future, item)
                        outcomes.append(outcome)
                        if progress is not None:
                            with progress.lock:
                                progress.counts[outcome.status] += 1
                                progress.running -= 1
                        if self.on_line is not None:
                            self.on_line(outcome)
                    self._fill(pool, pending, running, progress)
            except KeyboardInterrupt:
                interrupted = True
                self.stop()
                for future, item in running.items():
                    outcomes.append(self._outcome(future, item))
        outcomes += [LineOutcome(item.line, item.run_id, "pending") for item in pending]
        with RunStore(self.store_path) as store:
            store.set_batch(self.record.id, status="stopped" if interrupted else "finished")
        return sorted(outcomes, key=lambda o: o.line), interrupted

    def stop(self) -> None:
        """Start nothing more, and interrupt the attempts under way (from any thread)."""
        self._stop.set()
        with self._live_lock:
            live = list(self._live.items())
        for run_id, backend in live:
            backend.interrupt(run_id)

    def _fill(self, pool: ThreadPoolExecutor, pending: Iterator[BatchItem],
              running: dict[Future[LineOutcome], BatchItem], progress: Progress | None) -> None:
        while not self._stop.is_set() and len(running) < self.record.concurrency:
            item = next(pending, None)
            if item is None:
                return
            running[pool.submit(self._line, item)] = item
            if progress is not None:
                with progress.lock:
                    progress.running += 1

    def _outcome(self, future: Future[LineOutcome], item: BatchItem) -> LineOutcome:
        try:
            return future.result()
        except BaseException as exc:  # noqa: BLE001 - one line's trouble never stops the batch
            return LineOutcome(item.line, item.run_id, "failed", f"{type(exc).__name__}: {exc}")

    # -- one line, on a worker thread ------------------------------------------------------

    def _line(self, item: BatchItem) -> LineOutcome:
        started = time.monotonic()
        if self._stop.is_set():
            return LineOutcome(item.line, item.run_id, "pending")
        backend = Interruptible(self.backend())
        try:
            with RunStore(self.store_path) as store:
                try:
                    run = self._start_or_resume(store, backend, item)
                except RunRefused as exc:
                    record = store.find(item.run_id) if item.run_id else None
                    status = record.status if record is not None else "failed"
                    return LineOutcome(item.line, item.run_id, status, str(exc))
                with self._live_lock:
                    self._live[run.run_id] = backend
                try:
                    if self._stop.is_set():  # stopped while this run was being set up
                        outcome = run.finish("interrupted", EXIT_INTERRUPTED, reason="the batch was stopped")
                    else:
                        outcome = self._drive(run)
                finally:
                    with self._live_lock:
                        self._live.pop(run.run_id, None)
                return LineOutcome(item.line, run.run_id, outcome.status, outcome.reason,
                                   time.monotonic() - started)
        except StoreError as exc:
            return LineOutcome(item.line, item.run_id, "failed", str(exc), time.monotonic() - started)
        finally:
            backend.close()

    def _start_or_resume(self, store: RunStore, backend: Interruptible, item: BatchItem) -> Run:
        if item.run_id is None:
            value = json.loads(item.input or "null")
            return Run.start(self.ir, store, backend, value, options=self.options, env=self.env,
                             batch=(self.record.id, item.line), sleep=backend.wait)
        record, ir, state = claim(store, item.run_id)
        return Run.resume(ir, store, backend, record, state, env=self.env, sleep=backend.wait)

    def _drive(self, run: Run) -> Outcome:
        if run.ir.planner is not None:
            from .planner import run_planner

            client = self.planner(run.ir) if self.planner is not None else None
            if client is None:
                return run.finish("failed", EXIT_FAILED, reason="this batch has no model client for the planner")
            try:
                return run_planner(run, client)
            finally:
                client.close()
        from .workflow import run_workflow

        return run_workflow(run)


# -- the summary ---------------------------------------------------------------------------------


def slowest_actions(store: RunStore, run_ids: list[str], top: int = 5) -> list[tuple[str, int, float, float]]:
    """The actions that took longest per attempt: (action, attempts, p50 s, max s), slowest first."""
    durations: dict[str, list[float]] = {}
    for run_id in run_ids:
        for stored in store.events(run_id):
            event = stored.event
            if isinstance(event, ev.AttemptOutcome) and event.action:
                durations.setdefault(event.action, []).append(event.duration_s)
    rows = [(name, len(values), statistics.median(values), max(values)) for name, values in durations.items()]
    return sorted(rows, key=lambda row: -row[2])[:top]


def failure_kinds(store: RunStore, run_ids: list[str]) -> Counter[str]:
    """For the failed runs, the failure kind whose handler ended each (`guard` for a `require`)."""
    kinds: Counter[str] = Counter()
    for run_id in run_ids:
        last = "other"
        for stored in store.events(run_id):
            event = stored.event
            if isinstance(event, ev.Handler):
                last = event.kind
            elif isinstance(event, ev.RequireFailed):
                last = "guard"
        kinds[last] += 1
    return kinds

