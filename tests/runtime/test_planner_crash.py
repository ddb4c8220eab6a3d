"""A planner run killed with SIGKILL, during a model request and during a tool call, resumes
through the real `specc resume` without asking the model again for any recorded turn."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import containers, run_args, run_statuses, show_json, specc, specc_env

from specc.runtime.scripted_model import ScriptedModel

pytestmark = pytest.mark.usefixtures("docker_client")

EXAMPLE = Path(__file__).resolve().parents[2] / "specs" / "support_desk"
READ = {"tool_calls": [{"name": "read_ticket", "arguments": {"id": "T-1002"}}]}
FINISH = {"tool_calls": [{"name": "finish", "arguments": {"ticket": "T-1002", "outcome": "handed_over",
                                                          "note": "late parcel: a person follows it up"}}]}


def copy_example(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "support_desk"
    shutil.copytree(EXAMPLE, folder)
    (folder / "outbox").chmod(0o777)
    return folder, folder / "support_desk.agent"


def start(spec: Path, store: Path, model: ScriptedModel, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(run_args(spec, store, {"ticket": "T-1002"}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=specc_env({"PLANNER_URL": model.url, **env}),
                            cwd=str(spec.parent))


def resume(folder: Path, store: Path, model: ScriptedModel) -> subprocess.CompletedProcess[str]:
    os.environ["PLANNER_URL"] = model.url
    try:
        runs = run_statuses(store)
        (run_id,) = runs
        return specc("resume", run_id, "--store", str(store), cwd=folder, timeout=120)
    finally:
        del os.environ["PLANNER_URL"]


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_during_a_model_request(tmp_path: Path) -> None:
    folder, spec = copy_example(tmp_path)
    store = tmp_path / "runs.db"
    with ScriptedModel([READ, {"delay_s": 30, **FINISH}, FINISH]) as model:
        proc = start(spec, store, model)
        wait_for(lambda: len(model.requests) == 2)  # the second request is in flight
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        (run_id,) = run_statuses(store)
        resumed = resume(folder, store, model)
        assert resumed.returncode == 0, resumed.stderr
        # turn 1 was recorded and never asked again; turn 2 was not, so it was asked once more
        assert len(model.requests) == 3
    shown = show_json(store, run_id)
    assert shown["status"] == "succeeded"
    assert [e["turn"] for e in shown["events"] if e["event"] == "planner_turn"] == [1, 2]
    assert [e["action"] for e in shown["events"] if e["event"] == "attempt_intent"] == ["read_ticket"]
    assert not containers(f"specc.run_id={run_id}")


def test_killed_during_a_tool_call(tmp_path: Path) -> None:
    folder, spec = copy_example(tmp_path)
    store = tmp_path / "runs.db"
    with ScriptedModel([READ, FINISH]) as model:
        proc = start(spec, store, model, SPECC_FAULT="after_intent:1")
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        assert len(model.requests) == 1
        (run_id,) = run_statuses(store)
        resumed = resume(folder, store, model)
        assert resumed.returncode == 0, resumed.stderr
        assert len(model.requests) == 2, "the recorded turn was asked of the model again"
        conversation = model.requests[1]["messages"]
    # read_ticket is a read: cut off mid-attempt, it ran again, and the model got its result once
    told = [m for m in conversation if m["role"] == "tool"]
    assert len(told) == 1 and json.loads(told[0]["content"])["id"] == "T-1002"
    shown = show_json(store, run_id)
    assert shown["status"] == "succeeded"
    assert [e["action"] for e in shown["events"] if e["event"] == "attempt_intent"] == ["read_ticket", "read_ticket"]
    assert not containers(f"specc.run_id={run_id}")


def test_an_endpoint_that_is_down_ends_the_run_with_a_last_line_that_says_so(tmp_path: Path) -> None:
    import socket

    folder, spec = copy_example(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = tmp_path / "runs.db"
    done = subprocess.run(run_args(spec, store, {"ticket": "T-1002"}, as_json=False), capture_output=True,
                          text=True, timeout=120, cwd=folder,
                          env=specc_env({"PLANNER_URL": f"http://127.0.0.1:{port}/v1"}))
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "failed" in last and "the model request failed with `error`" in last, last
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/v1", "http://[::1/v1", "http://127.0.0.1:port/v1"])
def test_an_endpoint_that_is_not_a_url_is_refused_before_anything_runs(tmp_path: Path, url: str) -> None:
    folder, spec = copy_example(tmp_path)
    store = tmp_path / "runs.db"
    done = subprocess.run(run_args(spec, store, {"ticket": "T-1002"}), capture_output=True, text=True,
                          timeout=60, cwd=folder, env=specc_env({"PLANNER_URL": url}))
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "PLANNER_URL" in last and "nothing was run" in last, last
    assert "Traceback" not in done.stderr


def test_an_escalated_model_request_is_retried_after_a_person_says_so(tmp_path: Path) -> None:
    folder, spec = copy_example(tmp_path)
    spec.write_text(spec.read_text().replace("on timeout, error retry 2 backoff 500ms..10s then abort",
                                             'on timeout, error escalate "the model is down"'))
    store = tmp_path / "runs.db"
    with ScriptedModel([{"status": 503, "body": "overloaded"}, READ, FINISH]) as model:
        proc = start(spec, store, model)
        proc.communicate(timeout=120)
        assert proc.returncode == 3
        (run_id,) = run_statuses(store)
        assert run_statuses(store) == {run_id: "escalated"}
        refused = specc("resolve", run_id, "--result", "{}", "--store", str(store), cwd=folder)
        assert refused.returncode == 2 and "--abort" in refused.stderr, refused.stderr
        decided = specc("resolve", run_id, "--retry", "--store", str(store), cwd=folder)
        assert decided.returncode == 0, decided.stderr
        resumed = resume(folder, store, model)
        assert resumed.returncode == 0, resumed.stderr
        assert len(model.requests) == 3
    assert show_json(store, run_id)["result"]["outcome"] == "handed_over"
