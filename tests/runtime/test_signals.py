"""Killing `specc run` mid-action: SIGINT and SIGTERM end it with 130, the run marked interrupted and
no container left; after a `kill -9` the container stays until the next `specc run` reaps it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    OWNER_LABEL,
    RUN_ID_LABEL,
    agent_text,
    containers,
    docker,
    owner_of,
    parse_events,
    remove_containers,
    run_args,
    run_spec,
    run_statuses,
    specc_env,
    write_agent,
)

pytestmark = pytest.mark.usefixtures("docker_client")


@pytest.fixture
def leftovers() -> Iterator[list[str]]:
    """Run ids whose containers are removed after the test, whatever it asserted."""
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        remove_containers(containers(f"{RUN_ID_LABEL}={run_id}"))


def _sleepy(folder: Path) -> Path:
    text = agent_text(
        actions="""action nap() {
            run "python3" "/tools/nap.py"
            mount "./tools"
            effect read
            timeout 2m
            }""",
        workflow="nap()",
        wall="5m",
    )
    return write_agent(folder, text, {"nap.py": "time.sleep(60)\nprint('{}')"})


def _start(spec: Path, store: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(run_args(spec, store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=specc_env(),
                            cwd=str(spec.parent))


def _wait_for_container(proc: subprocess.Popen[bytes], timeout: float = 60) -> tuple[str, str]:
    """The running container of the `specc run` process, and its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = docker("ps", "-q", "--no-trunc", "--filter", f"label={OWNER_LABEL}={owner_of(proc.pid)}").split()
        if found:
            labels = json.loads(docker("inspect", "--format", "{{json .Config.Labels}}", found[0]))
            return found[0], labels[RUN_ID_LABEL]
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"`specc run` ended (exit {proc.returncode}) before its container ran:\n{err!r}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("no container appeared")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_mid_action_interrupts_and_leaves_no_container(tmp_path: Path, signum: int,
                                                              leftovers: list[str]) -> None:
    spec = _sleepy(tmp_path)
    store = tmp_path / "runs.db"
    proc = _start(spec, store)
    _, run_id = _wait_for_container(proc)
    leftovers.append(run_id)
    time.sleep(0.5)  # well inside the tool's sleep
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("`specc run` did not stop within 30 s of the signal") from None
    took = time.monotonic() - sent
    stderr = err.decode(errors="replace")

    assert proc.returncode == 130, stderr
    assert took < 15, f"stopping took {took:.1f}s"
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert "interrupted" in last, last
    assert run_statuses(store) == {run_id: "interrupted"}
    finished = [e for e in parse_events(out.decode()) if e["event"] == "run_finished"]
    assert len(finished) == 1 and finished[0]["status"] == "interrupted"
    assert not containers(f"{RUN_ID_LABEL}={run_id}"), "a container is left behind"


def test_container_left_by_kill_9_is_reaped_by_the_next_run(tmp_path: Path, leftovers: list[str]) -> None:
    spec = _sleepy(tmp_path / "sleepy")
    proc = _start(spec, tmp_path / "runs.db")
    container, run_id = _wait_for_container(proc)
    leftovers.append(run_id)
    proc.kill()
    proc.wait(timeout=30)
    assert containers(f"{RUN_ID_LABEL}={run_id}") == [container], "kill -9 should leave the container behind"

    # any other run, with another spec and another store, reaps it before it starts
    other = write_agent(tmp_path / "other", agent_text(
        actions="""action ok() {
            run "python3" "/tools/ok.py"
            mount "./tools"
            effect read
            }""",
        workflow="ok()",
    ), {"ok.py": "print('{}')"})
    run = run_spec(other, tmp_path / "other.db")
    assert run.code == 0, run.describe()
    deadline = time.monotonic() + 10
    while containers(f"{RUN_ID_LABEL}={run_id}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not containers(f"{RUN_ID_LABEL}={run_id}"), "the next run did not reap the leftover container"


def test_sigterm_during_a_retry_backoff_interrupts(tmp_path: Path) -> None:
    """Between attempts no container exists; the signal still ends the run as interrupted."""
    text = agent_text(
        actions="""action flop() {
            run "python3" "/tools/flop.py"
            mount "./tools"
            effect read
            on error retry 2 backoff 30s..30s
            }""",
        workflow="flop()",
        wall="5m",
    )
    spec = write_agent(tmp_path, text, {"flop.py": "sys.exit(1)"})
    store = tmp_path / "runs.db"
    proc = _start(spec, store)
    assert proc.stdout is not None
    for line in proc.stdout:  # wait for the retry decision: the engine is now sleeping
        if json.loads(line).get("event") == "handler":
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode(errors="replace")
    statuses = run_statuses(store)
    assert list(statuses.values()) == ["interrupted"]
    assert not containers(f"{RUN_ID_LABEL}={next(iter(statuses))}")
