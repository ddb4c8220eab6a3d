"""Crash safety through the real `specc run`: SIGKILL at every boundary of an attempt, then `specc resume`.

The agent has three steps: `a` reads a file (effect read), `b` appends one line to `ledger/log.txt`
on a read-write mount (effect write, NOT idempotent), `c` computes from b's result (effect read).
The process is killed at one boundary of one attempt (attempts are numbered across the run: a is 1,
b is 2, c is 3) with `SPECC_FAULT=<point>:<attempt>`, or, for "during", by the test while b's (or
c's) container runs. Then `specc resume` must keep every finished step's result (a's tool is not
run again), re-run an idempotent step, and escalate instead of silently re-running `b`: the ledger
never has two lines. No container of the run is left afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import SPECC, agent_text, containers, run_statuses, show_json, specc, specc_env, write_agent

from specc.runtime.store import RunStore

pytestmark = pytest.mark.usefixtures("docker_client")

TYPES = "type Doc {\n text: string\n}\ntype Line {\n n: int\n}"

ACTIONS = """action a(file: path under "./data") -> Doc {
run "python3" "/tools/a.py"
mount "./data"
mount "./tools"
effect read
}
action b(doc: Doc, pause: int) -> Line {
run "python3" "/tools/b.py"
mount "./ledger"
mount "./tools"
effect write
risk low
}
action c(line: Line, pause: int) -> Line {
run "python3" "/tools/c.py"
mount "./tools"
effect read
}"""

WORKFLOW = """doc = a(file: input.file)
line = b(doc: doc, pause: input.pause_b)
out = c(line: line, pause: input.pause_c)
return out"""

TOOLS = {
    "a.py": 'print(json.dumps({"text": open(args["file"]).read().strip()}))\n',
    # appends first, then (optionally) sleeps: a kill during the sleep leaves the effect behind
    "b.py": """
with open("/mnt/ledger/log.txt", "a") as f:
    f.write(args["doc"]["text"] + "\\n")
    f.flush()
    os.fsync(f.fileno())
n = sum(1 for _ in open("/mnt/ledger/log.txt"))
time.sleep(args["pause"])
print(json.dumps({"n": n}))
""",
    "c.py": 'time.sleep(args["pause"])\nprint(json.dumps({"n": args["line"]["n"] + 100}))\n',
}


@dataclass
class Crash:
    """One killed run: where it lives and what it was started with."""

    root: Path
    store: Path
    run_id: str

    @property
    def ledger(self) -> list[str]:
        log = self.root / "ledger" / "log.txt"
        return log.read_text().splitlines() if log.exists() else []

    def intents(self, action: str) -> int:
        """How many attempts of `action` the store recorded an intent for, over the whole run."""
        events = show_json(self.store, self.run_id)["events"]
        counted = len([e for e in events if e["event"] == "attempt_intent" and e.get("action") == action])
        assert counted == len(self.events("attempt_intent", action=action)), "`specc show --json` and the store differ"
        return counted

    def events(self, kind: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """Events from the store: each event's data, with its type under `event`."""
        with RunStore(str(self.store)) as runs:
            found = [{**e.data, "event": e.kind} for e in runs.events(self.run_id)]
        return [e for e in found if (kind is None or e["event"] == kind)
                and all(e.get(k) == v for k, v in match.items())]

    def status(self) -> str:
        return run_statuses(self.store)[self.run_id]

    def resume(self) -> subprocess.CompletedProcess[str]:
        return specc("resume", self.run_id, "--store", str(self.store), timeout=180)

    def resolve(self, *how: str) -> subprocess.CompletedProcess[str]:
        return specc("resolve", self.run_id, *how, "--store", str(self.store))


def _spec(root: Path) -> Path:
    text = agent_text(
        mounts=['mount "./data" read_only', 'mount "./ledger" read_write'],
        types=TYPES,
        input_block='file: path under "./data"\npause_b: int(0..30)\npause_c: int(0..30)',
        output="Line",
        actions=ACTIONS,
        workflow=WORKFLOW,
    )
    spec = write_agent(root, text, TOOLS, folders={"data": 0o755, "ledger": 0o777})
    (root / "data" / "doc.txt").write_text("entry one\n")
    (root / "data" / "doc.txt").chmod(0o644)
    return spec


def _only_run(store: Path) -> str:
    statuses = run_statuses(store)
    assert len(statuses) == 1, statuses
    return next(iter(statuses))


def _start(root: Path, *, fault: str | None = None, pause_b: int = 0, pause_c: int = 0) -> subprocess.Popen[bytes]:
    spec = _spec(root)
    value = {"file": "doc.txt", "pause_b": pause_b, "pause_c": pause_c}
    out = open(root / "run.out", "wb")  # noqa: SIM115 - closed by the child's exit; the test reads the files
    err = open(root / "run.err", "wb")  # noqa: SIM115
    env = specc_env({"SPECC_FAULT": fault} if fault else None)
    proc = subprocess.Popen([*SPECC, "run", str(spec), "--store", str(root / "runs.db"), "--input", json.dumps(value),
                             "--json"], stdout=out, stderr=err, env=env, cwd=str(root))
    out.close()
    err.close()
    return proc


def _describe(root: Path) -> str:
    return (f"--- stdout\n{(root / 'run.out').read_text()[-3000:]}\n"
            f"--- stderr\n{(root / 'run.err').read_text()[-3000:]}")


def _assert_killed(proc: subprocess.Popen[bytes], root: Path) -> None:
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"`specc run` was not killed at its fault point:\n{_describe(root)}") from None
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}, not SIGKILL:\n{_describe(root)}"


def _crash_at_fault(root: Path, fault: str) -> Crash:
    proc = _start(root, fault=fault)
    _assert_killed(proc, root)
    return _after_kill(root)


def _crash_during(root: Path, step: str) -> Crash:
    """Start a run whose `step` tool sleeps, kill -9 the `specc run` process while that container runs."""
    proc = _start(root, pause_b=20 if step == "b" else 0, pause_c=20 if step == "c" else 0)
    store = root / "runs.db"
    deadline = time.monotonic() + 90
    run_id = None
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"`specc run` ended before the kill:\n{_describe(root)}"
            if store.exists() and run_id is None:
                statuses = run_statuses(store)
                run_id = next(iter(statuses), None)
            if run_id is not None:
                events = show_json(store, run_id)["events"]
                started = [e for e in events if e["event"] == "attempt_intent" and e.get("action") == step]
                running = containers(f"specc.run_id={run_id}")
                # the tool's writes reach the host when its attempt ends (the disk bound's
                # overlay): look inside the running container for the appended line
                appended = step != "b" or (bool(running) and _ledger_inside(running[0]))
                if started and running and appended:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the `{step}` container never ran:\n{_describe(root)}")
        # while the run's process lives, a resume must refuse: two processes would run the step twice
        busy = specc("resume", run_id, "--store", str(store))
        assert busy.returncode == 2 and "still running" in busy.stderr, busy.stderr
        assert containers(f"specc.run_id={run_id}"), "the refused resume removed the live run's container"
        os.kill(proc.pid, signal.SIGKILL)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    _assert_killed(proc, root)
    crash = _after_kill(root)
    # the kill left the tool's container behind: only a later command can reap it
    assert containers(f"specc.run_id={crash.run_id}"), "expected the killed run's container to be left over"
    return crash


def _ledger_inside(container: str) -> bool:
    done = subprocess.run(["docker", "exec", container, "cat", "/mnt/ledger/log.txt"], capture_output=True,
                          text=True, timeout=30)
    return done.returncode == 0 and bool(done.stdout.strip())


def _after_kill(root: Path) -> Crash:
    store = root / "runs.db"
    run_id = _only_run(store)
    crash = Crash(root, store, run_id)
    assert crash.status() == "running", "a killed run must still be listed as running (it never finished)"
    assert not crash.events("run_finished"), crash.events()
    return crash


def _no_container_left(crash: Crash) -> None:
    left = containers(f"specc.run_id={crash.run_id}")
    assert not left, f"containers of run {crash.run_id} left on the engine: {left}"


def _assert_a_kept(crash: Crash) -> None:
    """a finished before every kill: the resume reuses its result, its tool never runs again."""
    assert crash.intents("a") == 1
    reused = crash.events("step_reused", action="a")
    assert reused, "the resume did not reuse a's recorded result"


def _assert_escalated_on_b(crash: Crash, paused: subprocess.CompletedProcess[str]) -> None:
    """The resume stopped at b (exit 3, the last line names it and the command that decides) and ran nothing."""
    assert paused.returncode == 3, paused.stderr
    last = paused.stderr.strip().splitlines()[-1]
    assert "`b`" in last and f"specc resolve {crash.run_id}" in last, last
    assert crash.status() == "escalated"
    assert crash.events("handler", action="b", strategy="escalate"), crash.events("handler")
    assert crash.intents("c") == 0


def _assert_verifies(crash: Crash) -> None:
    done = specc("show", crash.run_id, "--store", str(crash.store), "--verify")
    assert done.returncode == 0, done.stdout + done.stderr


def _result(crash: Crash) -> Any:
    return show_json(crash.store, crash.run_id)["result"]


# --- b: not idempotent ---------------------------------------------------------------------------


def test_killed_before_b_intent_resume_runs_b_once(tmp_path: Path) -> None:
    crash = _crash_at_fault(tmp_path, "before_intent:2")
    assert crash.ledger == [] and crash.intents("b") == 0

    done = crash.resume()

    assert done.returncode == 0, done.stderr
    assert crash.ledger == ["entry one"], "b must run exactly once"
    assert crash.intents("b") == 1 and crash.intents("c") == 1
    assert _result(crash) == {"n": 101}
    assert crash.status() == "succeeded"
    _assert_a_kept(crash)
    _assert_verifies(crash)
    _no_container_left(crash)


def test_killed_after_b_intent_escalates_then_retry_runs_b_once(tmp_path: Path) -> None:
    crash = _crash_at_fault(tmp_path, "after_intent:2")
    assert crash.ledger == [] and crash.intents("b") == 1

    paused = crash.resume()

    _assert_escalated_on_b(crash, paused)
    assert crash.ledger == [], "b was re-run silently"
    _no_container_left(crash)

    # the person checked: nothing happened, so b may run again
    decided = crash.resolve("--retry", "--reason", "the ledger has no line")
    assert decided.returncode == 0, decided.stderr
    done = crash.resume()

    assert done.returncode == 0, done.stderr
    assert crash.ledger == ["entry one"]
    assert crash.intents("b") == 2  # the cut-off intent and the retried attempt
    assert _result(crash) == {"n": 101}
    assert crash.status() == "succeeded"
    _assert_a_kept(crash)
    _assert_verifies(crash)
    _no_container_left(crash)


def test_killed_while_b_runs_escalates_and_a_person_supplies_the_result(tmp_path: Path) -> None:
    crash = _crash_during(tmp_path, "b")
    # the line is on the cut-off attempt's own disk until a reap settles it onto the host
    assert crash.ledger == [] and crash.intents("b") == 1

    paused = crash.resume()

    _assert_escalated_on_b(crash, paused)
    _no_container_left(crash)  # the resume reaped the container the kill left, and settled its disk
    assert crash.ledger == ["entry one"], "b was re-run silently, or its line was lost"

    # the line is in the ledger: the person supplies b's result instead of running it again
    decided = crash.resolve("--result", '{"n": 1}', "--reason", "the line is there")
    assert decided.returncode == 0, decided.stderr
    done = crash.resume()

    assert done.returncode == 0, done.stderr
    assert crash.ledger == ["entry one"]
    assert crash.intents("b") == 1
    assert _result(crash) == {"n": 101}
    finished = crash.events("step_finished", action="b")
    assert finished and finished[-1].get("source") == "person" and finished[-1]["result"] == {"n": 1}, finished
    _assert_a_kept(crash)
    _assert_verifies(crash)
    _no_container_left(crash)


def test_killed_after_b_tool_escalates_and_a_person_aborts(tmp_path: Path) -> None:
    crash = _crash_at_fault(tmp_path, "after_tool:2")
    assert crash.ledger == ["entry one"] and crash.intents("b") == 1
    assert crash.events("attempt_intent", action="b") and not crash.events("attempt_outcome", action="b")
    _no_container_left(crash)  # the tool ended and its container was removed before the kill

    paused = crash.resume()

    _assert_escalated_on_b(crash, paused)
    assert crash.ledger == ["entry one"], "b was re-run silently"

    decided = crash.resolve("--abort", "--reason", "will fix by hand")
    assert decided.returncode == 0, decided.stderr
    done = crash.resume()

    assert done.returncode == 1, done.stderr
    assert crash.status() == "failed"
    assert crash.ledger == ["entry one"]
    assert crash.intents("b") == 1 and crash.intents("c") == 0
    _assert_a_kept(crash)
    _assert_verifies(crash)
    _no_container_left(crash)


# --- c: idempotent (effect read) -----------------------------------------------------------------


@pytest.mark.parametrize("boundary", ["before_intent", "after_intent", "during", "after_tool"])
def test_killed_around_c_resume_reruns_c_and_keeps_b(tmp_path: Path, boundary: str) -> None:
    crash = _crash_during(tmp_path, "c") if boundary == "during" else _crash_at_fault(tmp_path, f"{boundary}:3")
    assert crash.ledger == ["entry one"]
    before = crash.intents("c")
    assert before == (0 if boundary == "before_intent" else 1)

    done = crash.resume()

    assert done.returncode == 0, done.stderr
    assert crash.status() == "succeeded"
    assert _result(crash) == {"n": 101}
    assert crash.ledger == ["entry one"], "b ran again"
    assert crash.intents("b") == 1
    assert crash.intents("c") == before + 1
    reused = crash.events("step_reused", action="b")
    assert reused, "the resume did not reuse b's recorded result"
    _assert_a_kept(crash)
    _assert_verifies(crash)
    _no_container_left(crash)


# --- kills of the resume itself, and between two writes ------------------------------------------


def test_a_resume_killed_in_turn_is_resumed_without_running_b_twice(tmp_path: Path) -> None:
    crash = _crash_at_fault(tmp_path, "before_intent:2")
    # the resume dies after b's tool ended but before its outcome was written (b is attempt 2 again)
    killed = subprocess.run([*SPECC, "resume", crash.run_id, "--store", str(crash.store)], capture_output=True,
                            text=True, timeout=180, env=specc_env({"SPECC_FAULT": "after_tool:2"}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert crash.ledger == ["entry one"]
    assert crash.status() == "running"

    paused = crash.resume()

    _assert_escalated_on_b(crash, paused)
    assert crash.ledger == ["entry one"], "b was re-run silently"
    assert crash.intents("b") == 1
    _assert_a_kept(crash)
    _no_container_left(crash)


def _copy_store(source: Path, target: Path, keep: int, run_id: str) -> None:
    """`target`: the store as a kill right after its `keep`-th event of `run_id` would have left it."""
    import sqlite3

    src, dst = sqlite3.connect(str(source)), sqlite3.connect(str(target))
    try:
        src.backup(dst)
        dst.execute("DELETE FROM events WHERE run_id = ? AND seq > ?", (run_id, keep))
        dst.execute("UPDATE runs SET status = 'running', result = NULL, reason = NULL, owner = ? WHERE id = ?",
                    (f"{os.uname().nodename}:999999999", run_id))
        dst.commit()
    finally:
        src.close()
        dst.close()


def test_killed_between_b_outcome_and_its_step_result_never_reruns_b(tmp_path: Path) -> None:
    """Every event is its own transaction, so a SIGKILL can leave any prefix of the log. Here the log
    ends with b's successful `attempt_outcome`, before `step_finished` (a kill while the outcome is
    printed). b's tool ran, and b is not idempotent: the resume must not run it again."""
    proc = _start(tmp_path)
    assert proc.wait(timeout=180) == 0, _describe(tmp_path)
    store = tmp_path / "runs.db"
    run_id = _only_run(store)
    with RunStore(str(store)) as runs:
        events = runs.events(run_id)
    outcome = next(e for e in events if e.kind == "attempt_outcome" and e.data.get("action") == "b")
    assert events[outcome.seq].kind == "step_finished"  # the very next event
    cut = tmp_path / "cut.db"
    _copy_store(store, cut, outcome.seq, run_id)
    crash = Crash(tmp_path, cut, run_id)
    assert crash.status() == "running" and crash.ledger == ["entry one"]

    done = crash.resume()

    assert crash.ledger == ["entry one"], f"b ran twice after a kill between its outcome and its result:\n{done.stderr}"
    assert crash.intents("b") == 1
    assert done.returncode in (0, 3), done.stderr
    if done.returncode == 0:  # the recorded outcome was used as b's result
        assert _result(crash) == {"n": 101}
    _no_container_left(crash)


def test_a_retry_decision_is_used_once_a_second_crash_escalates_again(tmp_path: Path) -> None:
    """A person's `--retry` covers one new attempt: when that attempt is cut off too, the next
    resume asks again instead of running the non-idempotent b a third time."""
    crash = _crash_at_fault(tmp_path, "after_tool:2")
    assert crash.ledger == ["entry one"]
    assert crash.resume().returncode == 3
    assert crash.resolve("--retry", "--reason", "charge again on purpose").returncode == 0
    again = subprocess.run([*SPECC, "resume", crash.run_id, "--store", str(crash.store)], capture_output=True,
                           text=True, timeout=180, env=specc_env({"SPECC_FAULT": "after_tool:3"}))
    assert again.returncode == -signal.SIGKILL, again.stderr
    assert crash.ledger == ["entry one", "entry one"]  # the retry the person asked for

    paused = crash.resume()

    _assert_escalated_on_b(crash, paused)
    assert crash.ledger == ["entry one", "entry one"], "b ran a third time on an old decision"
    _no_container_left(crash)
