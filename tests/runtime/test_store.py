"""The run store's integrity and durability, without Docker.

Runs are made by the real runtime through `specc run` in-process (click's CliRunner) with a stand-in
backend that answers each attempt as a tool would; the log is then tampered with through SQLite the
way someone with write access to the file could, and `specc show --verify` must say what happened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import agent_text, write_agent

from specc.cli import main
from specc.runtime import events
from specc.runtime.backend import AttemptRequest, AttemptResult
from specc.runtime.store import RunStore

COUNT = "type Count {\n n: int\n}"

ACTIONS = """action first() -> Count {
run "python3" "/tools/first.py"
mount "./tools"
effect read
}
action second(c: Count) -> Count {
run "python3" "/tools/second.py"
mount "./tools"
effect read
on uncertain escalate "a person decides"
}"""

WORKFLOW = "a = first()\nb = second(c: a)\nreturn b"


class FakeSandbox:
    """Stands in for the Docker backend: no engine; each attempt is answered by `answer(request)`."""

    answer: Callable[[AttemptRequest], AttemptResult]
    calls: list[AttemptRequest] = []

    def __init__(self, client: object | None = None, **options: Any) -> None:
        pass

    def check(self, images: Any) -> None:
        pass

    def reap(self) -> int:
        return 0

    def run(self, request: AttemptRequest, report: Any = None) -> AttemptResult:
        FakeSandbox.calls.append(request)
        return FakeSandbox.answer(request)

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _ok(value: Any) -> AttemptResult:
    return AttemptResult("ok", 0, json.dumps(value).encode(), b"", 0.01, "exited 0")


def _uncertain() -> AttemptResult:
    return AttemptResult("uncertain", 3, b"", b"cannot tell\n", 0.01, "exited 3 (uncertain)")


def _answers(second: Callable[[], AttemptResult]) -> Callable[[AttemptRequest], AttemptResult]:
    def answer(request: AttemptRequest) -> AttemptResult:
        if request.argv[-1].endswith("first.py"):
            return _ok({"n": 1})
        return second()

    return answer


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeSandbox]]:
    monkeypatch.setattr("specc.runtime.docker_backend.DockerBackend", FakeSandbox)
    FakeSandbox.calls = []
    FakeSandbox.answer = _answers(lambda: _ok({"n": 2}))
    yield FakeSandbox


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    text = agent_text(types=COUNT, output="Count", actions=ACTIONS, workflow=WORKFLOW)
    return write_agent(tmp_path / "agent", text, {"first.py": "", "second.py": ""})


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _run(spec: Path, store: Path) -> tuple[Result, str]:
    result = _cli("run", str(spec), "--store", str(store), "--json")
    with RunStore(str(store)) as runs:
        run_id = runs.runs()[0].id
    return result, run_id


def _finished_run(spec: Path, store: Path) -> str:
    result, run_id = _run(spec, store)
    assert result.exit_code == 0, result.output
    return run_id


def _verify(store: Path, run_id: str) -> Result:
    return _cli("show", run_id, "--store", str(store), "--verify")


def _sql(store: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    db = sqlite3.connect(str(store), isolation_level=None)
    try:
        db.execute("BEGIN")
        for sql, args in statements:
            db.execute(sql, args)
        db.execute("COMMIT")
    finally:
        db.close()


def _seqs(store: Path, run_id: str) -> list[tuple[int, str]]:
    with RunStore(str(store)) as runs:
        return [(e.seq, e.kind) for e in runs.events(run_id)]


def _assert_tampered(store: Path, run_id: str, *words: str) -> str:
    shown = _verify(store, run_id)
    assert shown.exit_code == 1, shown.output
    assert "TAMPERED" in shown.output, shown.output
    for word in words:
        assert word in shown.output, shown.output
    as_json = _cli("show", run_id, "--store", str(store), "--verify", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["verify"], as_json.output
    return shown.output


# --- verify ---------------------------------------------------------------------------------------


def test_a_clean_log_verifies(fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    run_id = _finished_run(spec, store)
    assert len(fake.calls) == 2

    shown = _verify(store, run_id)

    assert shown.exit_code == 0, shown.output
    assert "intact" in shown.output
    as_json = _cli("show", run_id, "--store", str(store), "--verify", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.output)["verify"] == []


def test_an_edited_event_is_reported(fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    run_id = _finished_run(spec, store)
    seq = next(s for s, kind in _seqs(store, run_id) if kind == "step_finished")
    with RunStore(str(store)) as runs:
        data = next(e.data for e in runs.events(run_id) if e.seq == seq)
    data["result"] = {"n": 1000}  # a forged result

    _sql(store, ("UPDATE events SET data = ? WHERE run_id = ? AND seq = ?",
                 (json.dumps(data, sort_keys=True), run_id, seq)))

    _assert_tampered(store, run_id, f"event {seq}", "edited")


def test_a_deleted_middle_event_is_reported(fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    run_id = _finished_run(spec, store)
    seqs = _seqs(store, run_id)
    middle = seqs[len(seqs) // 2][0]

    _sql(store, ("DELETE FROM events WHERE run_id = ? AND seq = ?", (run_id, middle)))

    _assert_tampered(store, run_id, f"event {middle}", "missing")


@pytest.mark.parametrize("cut", [1, 3])
def test_a_cut_tail_of_a_finished_run_is_reported(fake: type[FakeSandbox], spec: Path, tmp_path: Path,
                                                  cut: int) -> None:
    store = tmp_path / "runs.db"
    run_id = _finished_run(spec, store)
    last = _seqs(store, run_id)[-1][0]

    _sql(store, ("DELETE FROM events WHERE run_id = ? AND seq > ?", (run_id, last - cut)))

    _assert_tampered(store, run_id, "truncated")


def test_a_cut_tail_of_a_paused_run_is_reported(fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    """An escalated run's log ends with its `run_finished` (the pause) too; cutting it is a truncation."""
    fake.answer = _answers(_uncertain)
    store = tmp_path / "runs.db"
    result, run_id = _run(spec, store)
    assert result.exit_code == 3, result.output
    assert _seqs(store, run_id)[-1][1] == "run_finished"
    last = _seqs(store, run_id)[-1][0]
    assert _verify(store, run_id).exit_code == 0

    _sql(store, ("DELETE FROM events WHERE run_id = ? AND seq = ?", (run_id, last)))

    _assert_tampered(store, run_id, "truncated")


def test_swapped_events_are_reported(fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    run_id = _finished_run(spec, store)
    seqs = _seqs(store, run_id)
    first, second = seqs[2][0], seqs[3][0]

    _sql(store,
         ("UPDATE events SET seq = -1 WHERE run_id = ? AND seq = ?", (run_id, first)),
         ("UPDATE events SET seq = ? WHERE run_id = ? AND seq = ?", (first, run_id, second)),
         ("UPDATE events SET seq = ? WHERE run_id = ? AND seq = -1", (second, run_id)))

    output = _assert_tampered(store, run_id)
    assert "reordered" in output or "edited" in output, output


# --- an unwritable store ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_unwritable_store_stops_the_run_before_any_action(fake: type[FakeSandbox], spec: Path, tmp_path: Path,
                                                             where: str) -> None:
    """Fails for root too: the store's folder is a file, or /proc (no file can be created there)."""
    if where == "under_a_file":
        (tmp_path / "a-file").write_text("not a folder\n")
        store = tmp_path / "a-file" / "runs.db"
    else:
        store = Path("/proc/specc-runs.db")

    result = _cli("run", str(spec), "--store", str(store))

    assert result.exit_code == 2, result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert "run store" in last and str(store) in last, last
    assert fake.calls == [], "an action ran without a store to record it"


def test_a_store_that_stops_taking_writes_stops_the_run_before_the_next_action(
        fake: type[FakeSandbox], spec: Path, tmp_path: Path) -> None:
    """Another process locks the database while the first tool runs: the outcome cannot be recorded,
    so the second action must not start, and the command says why (exit 2)."""
    store = tmp_path / "runs.db"
    locker: list[sqlite3.Connection] = []

    def answer(request: AttemptRequest) -> AttemptResult:
        db = sqlite3.connect(str(store), isolation_level=None, timeout=0)
        db.execute("BEGIN EXCLUSIVE")
        locker.append(db)
        return _ok({"n": 1})

    fake.answer = answer
    try:
        result = _cli("run", str(spec), "--store", str(store))
    finally:
        for db in locker:
            db.execute("ROLLBACK")
            db.close()

    assert result.exit_code == 2, result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert "run store" in last and "before its next action" in last, last
    assert len(fake.calls) == 1, "the second action ran although the first one's outcome was not recorded"


# --- durability settings ------------------------------------------------------------------------


def test_the_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with RunStore(str(path)) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    other = sqlite3.connect(str(path))
    try:  # the journal mode is the file's, whoever opens it
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_events_chain_and_read_back_in_order(tmp_path: Path) -> None:
    with RunStore(str(tmp_path / "runs.db")) as store:
        store.create_run("r1", "t", "s" * 64, "i" * 64, {}, "{}", "host:1")
        written = [store.append("r1", events.ResolutionUsed(index=i)) for i in range(5)]
        read = store.events("r1")
        assert [e.seq for e in read] == [1, 2, 3, 4, 5]
        assert [e.data for e in read] == [{"index": i} for i in range(5)]
        assert [e.event for e in read] == [events.ResolutionUsed(index=i) for i in range(5)]
        assert read[0].prev == "0" * 64
        assert all(b.prev == a.hash for a, b in zip(read, read[1:], strict=False))
        assert [e.hash for e in read] == [e.hash for e in written]
        assert store.verify("r1") == []


def test_wall_time_of_every_crashed_stretch_is_counted(tmp_path: Path, monkeypatch: Any) -> None:
    """Two crashes in a row: the time of both stretches counts against `wall` on the next resume."""
    import specc.runtime.store as store_module
    from specc.runtime.run import load_state
    from specc.runtime.store import RunStore

    clock = iter([100.0, 100.0, 101.0, 200.0, 200.2, 300.0])
    monkeypatch.setattr(store_module.time, "time", lambda: next(clock))
    with RunStore(str(tmp_path / "runs.db")) as store:
        store.create_run("r1", "a", "h", "h", {}, "{}")
        store.append("r1", events.RunStarted())
        store.append("r1", events.AttemptIntent(index=0, action="x"))  # crash after 1.0 s
        store.append("r1", events.RunResumed())
        store.append("r1", events.AttemptIntent(index=0, action="x"))  # crash after 0.2 s
        state = load_state(store, "r1")
    assert abs(state.wall_used_s - 1.2) < 1e-6
    assert state.used_steps == 2
