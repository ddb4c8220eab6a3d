"""Resume never hands a tool `[redacted]` (issue 13, item 10), through the real CLI and engine.

A run whose input and whose first step's result hold a secret pauses for an approval; resumed, the
second step's tool gets the exact values, not `[redacted]`, while the run store never holds the
secret. Resumed with that env var changed or unset, the run is refused, naming the step and the
env var, and stays as it was.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import SPECC, agent_text, run_spec, run_statuses, specc_env, store_bytes, write_agent

pytestmark = pytest.mark.usefixtures("docker_client")

SECRET = 'tok"en\\-é-7Q2x'

FETCH = 'print(json.dumps({"token": os.environ["TOKEN"]}))'
USE = """
token = os.environ["TOKEN"]
print(json.dumps({"token_same": args["token"] == token, "note_same": args["note"] == "my token is " + token}))
"""


def _spec(folder: Path) -> Path:
    text = agent_text(
        env=["env TOKEN secret"],
        types="type Got {\n token: string\n}\ntype Same {\n token_same: bool\n note_same: bool\n}",
        input_block="note: string",
        output="Same",
        actions="""action fetch() -> Got {
            run "python3" "/tools/fetch.py"
            mount "./tools"
            env TOKEN
            effect read
            }
            action use(token: string, note: string) -> Same {
            run "python3" "/tools/use.py"
            mount "./tools"
            env TOKEN
            effect write
            approval required
            }""",
        workflow="g = fetch()\ns = use(token: g.token, note: input.note)\nreturn s",
    )
    return write_agent(folder, text, {"fetch.py": FETCH, "use.py": USE})


def _specc(store: Path, *args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = specc_env({"TOKEN": token} if token is not None else None, drop=() if token is not None else ("TOKEN",))
    return subprocess.run([*SPECC, *args, "--store", str(store)], capture_output=True, text=True, timeout=180,
                          env=env)


def _paused(tmp_path: Path, note: str = f"my token is {SECRET}") -> tuple[Path, str]:
    """A run paused before `use`, its approval given."""
    spec = _spec(tmp_path)
    store = tmp_path / "runs.db"
    run = run_spec(spec, store, {"note": note}, env=specc_env({"TOKEN": SECRET}))
    assert run.code == 3, run.describe()
    run_id = run.run_id
    assert run_id is not None
    approved = _specc(store, "approve", run_id, token=None)
    assert approved.returncode == 0, approved.stderr
    return store, run_id


def test_a_resumed_run_hands_the_tool_the_secret_not_redacted(tmp_path: Path) -> None:
    store, run_id = _paused(tmp_path)
    resumed = _specc(store, "resume", run_id, "--json", token=SECRET)
    assert resumed.returncode == 0, resumed.stderr
    finished = [json.loads(line) for line in resumed.stdout.splitlines() if '"run_finished"' in line][-1]
    assert finished["result"] == {"token_same": True, "note_same": True}, finished
    data = store_bytes(store)
    for form in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
        assert form.encode() not in data, f"the run store holds the secret as {form!r}"
    assert b"7Q2x" not in data


@pytest.mark.parametrize(("held_by", "token"), [("step", 'tok"en\\-é-other'), ("step", None), ("input", "changed!")],
                         ids=["step-changed", "step-unset", "input-changed"])
def test_a_resume_without_the_same_secret_is_refused_naming_the_step_and_the_env_var(
        tmp_path: Path, held_by: str, token: str | None) -> None:
    store, run_id = _paused(tmp_path, f"my token is {SECRET}" if held_by == "input" else "no secret here")
    refused = _specc(store, "resume", run_id, token=token)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    holder = "the run's input" if held_by == "input" else "the result of step `g`"
    assert f"{holder} holds the secret of env var `TOKEN`" in last, last
    assert ("is not set here" if token is None else "does not hold the value it held then") in last, last
    assert "a tool is never handed `[redacted]`" in last, last
    assert run_statuses(store)[run_id] == "awaiting-approval"
    resumed = _specc(store, "resume", run_id, "--json", token=SECRET)
    assert resumed.returncode == 0, resumed.stderr
