"""`specc batch` on the local Docker engine: one durable run per input line under a concurrency
bound, bad lines skipped with their numbers, a summary, and a batch killed and resumed with no run
executed twice."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from dockerfixtures import assert_no_container
from helpers import SPECC, specc, specc_env

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "batch"


@pytest.fixture
def twostep(tmp_path: Path, docker_client: Any) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "twostep")
    return tmp_path / "twostep" / "twostep.agent"


def inputs(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "inputs.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def store_runs(store: Path) -> dict[str, Any]:
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        return {r.id: r for r in opened.runs(limit=10_000)}


def events(store: Path, run_id: str) -> list[Any]:
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        return opened.events(run_id)


def items(store: Path, batch_id: str) -> list[Any]:
    from specc.runtime.store import RunStore

    with RunStore(str(store)) as opened:
        return opened.batch_items(batch_id)


def started(spec: Path, path: Path, store: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`specc batch` at concurrency 2 in the background, and its batch id (its first line)."""
    proc = subprocess.Popen([*SPECC, "batch", str(spec), "--inputs", str(path), "--concurrency", "2",
                             "--store", str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=specc_env())
    assert proc.stderr is not None
    return proc, proc.stderr.readline().decode().split()[1]


def until(store: Path, batch_id: str, ready: Any, seconds: float) -> None:
    """Wait until `ready(statuses of the batch's lines)` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if store.exists() and ready([i.status for i in items(store, batch_id)]):
            return
        time.sleep(0.2)
    raise AssertionError(f"the batch never got there: {[i.status for i in items(store, batch_id)]}")


def test_a_batch_runs_each_line_once_within_its_concurrency(twostep: Path, tmp_path: Path, docker_client: Any) -> None:
    lines: list[Any] = [{"n": n, "wait": 1} for n in range(1, 7)]
    lines += ["{not json", {"n": -5, "wait": 0}, {"n": 13, "wait": 0}]
    store = tmp_path / "runs.db"
    done = specc("batch", str(twostep), "--inputs", str(inputs(tmp_path, lines)), "--concurrency", "2",
                 "--store", str(store), "--json", timeout=300)
    assert done.returncode == 1, done.stderr  # a bad line and a failed run
    first = done.stderr.splitlines()[0]
    assert first.startswith("batch b"), done.stderr
    batch_id = first.split()[1]
    assert "inputs.jsonl:7: skipped: the input is not valid JSON" in done.stderr
    assert "inputs.jsonl:8: skipped: `input.n`" in done.stderr
    *per_line, summary_line = [json.loads(line) for line in done.stdout.splitlines()]
    summary = json.loads(json.dumps(summary_line))
    assert summary["batch"] == batch_id and summary["statuses"] == {"succeeded": 6, "failed": 1}
    assert summary["failure_kinds"] == {"error": 1} and [b["line"] for b in summary["bad_lines"]] == [7, 8]
    assert {a["action"] for a in summary["slowest_actions"]} == {"first", "second"}
    assert sorted(o["line"] for o in per_line) == [1, 2, 3, 4, 5, 6, 9]
    by_line = {i.line: i for i in items(store, batch_id)}
    assert by_line[9].status == "failed" and by_line[1].status == "succeeded" and by_line[7].run_id is None
    runs = store_runs(store)
    assert len(runs) == 7
    assert runs[by_line[3].run_id].result == 7  # (3 * 2) + 1
    # at most 2 attempts at once: the attempts' intervals never overlap three deep
    spans = []
    for run_id in runs:
        stored = events(store, run_id)
        starts = [e.at for e in stored if e.kind == "attempt_intent"]
        ends = [e.at for e in stored if e.kind == "attempt_outcome"]
        spans += list(zip(starts, ends, strict=True))
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    depth = peak = 0
    for _, step in points:
        depth += step
        peak = max(peak, depth)
    assert peak <= 2
    listed = specc("runs", "--batch", batch_id, "--store", str(store))
    assert listed.returncode == 0 and len([row for row in listed.stdout.splitlines() if row.startswith("r")]) == 7
    for run_id in runs:
        assert_no_container(docker_client, run_id)


def test_a_killed_batch_resumes_without_running_anything_twice(twostep: Path, tmp_path: Path,
                                                             docker_client: Any) -> None:
    store = tmp_path / "runs.db"
    path = inputs(tmp_path, [{"n": n, "wait": 2} for n in range(1, 9)])
    proc, batch_id = started(twostep, path, store)
    until(store, batch_id, lambda s: s.count("succeeded") >= 2 and "running" in s, 120)  # some done, some not
    proc.kill()
    proc.wait()
    before = {i.line: i for i in items(store, batch_id)}
    finished = {line: i.run_id for line, i in before.items() if i.status == "succeeded"}
    attempts_before = {run_id: len([e for e in events(store, run_id) if e.kind == "attempt_intent"])
                       for run_id in finished.values()}
    assert finished and any(i.status == "running" for i in before.values())
    done = specc("batch", "--resume", "--store", str(store), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.splitlines()[0] == f"batch {batch_id} (resumed)"
    after = {i.line: i for i in items(store, batch_id)}
    assert all(i.status == "succeeded" for i in after.values())
    for line, run_id in finished.items():  # a finished run is not run again, nor replaced
        assert after[line].run_id == run_id
        assert len([e for e in events(store, run_id) if e.kind == "attempt_intent"]) == attempts_before[run_id]
    assert len(store_runs(store)) == 8  # one run per line, the cut-off ones resumed in place
    for run_id in store_runs(store):
        assert_no_container(docker_client, run_id)
    again = specc("batch", "--resume", batch_id, "--store", str(store))
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def test_sigterm_stops_a_batch_and_resume_finishes_it(twostep: Path, tmp_path: Path, docker_client: Any) -> None:
    store = tmp_path / "runs.db"
    path = inputs(tmp_path, [{"n": n, "wait": 3} for n in range(1, 5)])
    proc, batch_id = started(twostep, path, store)
    until(store, batch_id, lambda s: s.count("running") == 2, 60)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"--resume" in out
    statuses = [i.status for i in items(store, batch_id)]
    assert statuses.count("interrupted") == 2 and statuses.count(None) == 2, statuses
    for run_id in store_runs(store):
        assert_no_container(docker_client, run_id)
    done = specc("batch", "--resume", batch_id, "--store", str(store), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [i.status for i in items(store, batch_id)] == ["succeeded"] * 4
    assert len(store_runs(store)) == 4


def test_batch_usage_errors_say_what_to_do(tmp_path: Path) -> None:
    spec = FIXTURE / "twostep.agent"
    assert "--inputs" in specc("batch", str(spec)).stderr
    missing = specc("batch", str(spec), "--inputs", str(tmp_path / "nope.jsonl"), "--store", str(tmp_path / "s.db"))
    assert missing.returncode == 2 and "cannot read the inputs" in missing.stderr
    none = specc("batch", "--resume", "--store", str(tmp_path / "s.db"))
    assert none.returncode == 2 and "no unfinished batch" in none.stderr
    assert "Traceback" not in missing.stderr + none.stderr
